"""The seccomp plugin, tested as an attacker: from inside a default container (and one with the user plugin)
the first steps of the usual kernel exploits fail with EPERM from the filter; with
``--security-opt seccomp=unconfined`` the same program gets through, so the test is not vacuous.

The attacker is tests/seccomp_attacks.c, compiled static here and run from a read-only volume: each line
is ``NAME ERRNO``. Everything it makes (a nested user namespace with a tmpfs and an nf_tables table in its
own network namespace, a key in its own process keyring, ...) lives and dies with it.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(os.path.dirname(HERE), "seccomp_attacks.c")
WITH_USER = ("--plugins", "user,pid,mnt,ipc,uts,sec,seccomp")
SETUPS = {"default": (), "user": WITH_USER}
ATTACKS = ("unshare_user", "mount_tmpfs", "nft_table", "clone_newuser", "keyctl_session", "add_key",
           "perf_event_open", "userfaultfd", "personality_no_randomize", "socket_vsock", "i386_unshare_user")


def kernel_has_x32() -> bool:
    from nsrun_seccomp.compile import kernel_has_x32 as probe
    return probe()


@pytest.fixture(scope="module")
def attacker():
    """A directory (0755, outside any nsrun root) holding the static attacker binary."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build tests/seccomp_attacks.c (apt-get install gcc libc6-dev)"
    scratch = tempfile.mkdtemp(prefix="nsrsc-attacker-", dir="/tmp")
    os.chmod(scratch, 0o755)
    subprocess.run([gcc, "-static", "-O1", "-o", os.path.join(scratch, "attacks"), SOURCE], check=True,
                   capture_output=True, timeout=120)
    yield scratch
    shutil.rmtree(scratch, ignore_errors=True)


def attack_with(nsrun, attacker, setup: str, *run_opts: str) -> dict[str, int]:
    r = nsrun(*SETUPS[setup], "run", "--rm", "-v", f"{attacker}:/attacker:ro", *run_opts, "busybox",
              "/attacker/attacks", check=True)
    return {name: int(code) for name, code in (line.split() for line in r.stdout.splitlines())}


def seccomp_mode(nsrun, *args: str) -> str:
    out = nsrun(*args, "busybox", "grep", "^Seccomp:", "/proc/self/status", check=True).stdout
    return out.split()[1]


@pytest.mark.parametrize("setup", SETUPS)
def test_a_default_container_runs_under_a_filter_that_blocks_every_attack(nsrun, attacker, setup):
    assert seccomp_mode(nsrun, *SETUPS[setup], "run", "--rm") == "2"
    results = attack_with(nsrun, attacker, setup)
    assert set(results) >= set(ATTACKS)
    assert {name: results[name] for name in ATTACKS} == {name: errno.EPERM for name in ATTACKS}
    assert "unshare_mnt_net" not in results        # never got a user namespace to try it in
    assert results["i386_getpid"] == 0             # 32-bit programs still run
    # without an x32 ABI the filter answers what the kernel would (its x32 copy of the rules is left out)
    assert results["x32_getpid"] == (0 if kernel_has_x32() else errno.ENOSYS)


@pytest.mark.parametrize("setup", SETUPS)
def test_unconfined_lets_the_same_attacks_through(nsrun, attacker, setup):
    assert seccomp_mode(nsrun, *SETUPS[setup], "run", "--rm", "--security-opt", "seccomp=unconfined") == "0"
    results = attack_with(nsrun, attacker, setup, "--security-opt", "seccomp=unconfined")
    through = {name: results[name] for name in ATTACKS if name != "socket_vsock"}
    assert through == {name: 0 for name in through}, results
    assert results["unshare_mnt_net"] == 0
    assert results["socket_vsock"] != errno.EPERM   # 0, or EAFNOSUPPORT on a host without vsock


def test_exec_gets_the_containers_filter(nsrun, attacker, unique):
    name = f"sc{unique}"
    nsrun("run", "-d", "--name", name, "-v", f"{attacker}:/attacker:ro", "busybox", "sleep", "30", check=True)
    try:
        out = nsrun("exec", name, "grep", "^Seccomp:", "/proc/self/status", check=True).stdout
        assert out.split()[1] == "2"
        lines = nsrun("exec", name, "/attacker/attacks", check=True).stdout.splitlines()
        results = {n: int(c) for n, c in (line.split() for line in lines)}
        assert {n: results[n] for n in ATTACKS} == {n: errno.EPERM for n in ATTACKS}
    finally:
        nsrun("rm", "-f", name)


def test_a_custom_profile_that_denies_mkdir(nsrun, nsrun_root):
    profile = os.path.join(nsrun_root, "no-mkdir.json")
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}]}, f)
    r = nsrun("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
              "grep ^Seccomp: /proc/self/status; touch /tmp/file && echo touched; mkdir /tmp/dir; echo mkdir=$?")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["Seccomp:\t2", "touched", "mkdir=1"]
    assert "Permission denied" in r.stderr
    ok = nsrun("run", "--rm", "busybox", "sh", "-c", "mkdir /tmp/dir && echo made", check=True)
    assert ok.stdout == "made\n"                     # the default profile allows it


def test_a_detached_container_and_its_exec_keep_the_profile_after_the_file_is_gone(nsrun, nsrun_root, unique):
    profile = os.path.join(nsrun_root, "no-mkdir.json")
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, f)
    name = f"sd{unique}"
    nsrun("run", "-d", "--name", name, "--security-opt", f"seccomp={profile}", "busybox", "sleep", "30",
          check=True)
    try:
        os.unlink(profile)
        r = nsrun("exec", name, "sh", "-c", "mkdir /tmp/d; echo mkdir=$?; touch /tmp/f && echo touched")
        assert r.stdout == "mkdir=1\ntouched\n" and "Operation not permitted" in r.stderr
    finally:
        nsrun("rm", "-f", name)


BAD = {
    "malformed": ("{\"defaultAction\": ", "invalid JSON"),
    "unknown syscall": (json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                                    "syscalls": [{"names": ["read", "mkdri"], "action": "SCMP_ACT_ALLOW"}]}),
                        "unknown syscall 'mkdri'"),
    "unknown action": (json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_DENY"}]}),
                       "unknown action 'SCMP_ACT_DENY'"),
    "unknown field": (json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}), "unknown field 'sycalls'"),
}


@pytest.mark.parametrize("case", [*BAD, "missing file", "other key"])
def test_bad_profiles_fail_with_125_and_create_nothing(nsrun, nsrun_root, case):
    if case == "missing file":
        opt, message = f"seccomp={nsrun_root}/nope.json", "No such file or directory"
    elif case == "other key":
        opt, message = "apparmor=unconfined", "'apparmor' is not supported"
    else:
        path = os.path.join(nsrun_root, "bad.json")
        with open(path, "w") as f:
            f.write(BAD[case][0])
        opt, message = f"seccomp={path}", BAD[case][1]
    r = nsrun("run", "--rm", "--name", "never", "--security-opt", opt, "busybox", "echo", "ran")
    assert r.returncode == 125 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert nsrun("ps", "-a", "-q", check=True).stdout == ""
    containers = os.path.join(nsrun_root, "containers")
    assert not os.path.isdir(containers) or os.listdir(containers) == []


def test_only_the_first_start_compiles_later_starts_read_the_cached_program(nsrun, nsrun_root):
    import sys
    cmd = [sys.executable, "-X", "importtime", os.path.join(os.path.dirname(sys.executable), "nsrun"),
           "--root", nsrun_root, "run", "--rm", "busybox", "true"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr

    def imported(stderr: str) -> set[str]:
        return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    assert {"seccomp", "nsrun_seccomp.compile"} <= imported(first.stderr)
    assert not {"seccomp", "nsrun_seccomp.compile", "nsrun_seccomp.profile"} & imported(second.stderr)
    entries = os.listdir(os.path.join(nsrun_root, "cache", "seccomp"))
    assert len([e for e in entries if e.endswith(".bpf")]) == 1 and "libseccomp" in entries
