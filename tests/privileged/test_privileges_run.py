"""The privilege and process options with real namespaces, as a user and as an attacker: capability sets,
--privileged against a default container (a loop device over a scratch file is the only host device looked
at), --read-only, no-new-privileges, --ulimit, --sysctl, --shm-size, --oom-score-adj, --group-add; bad input is
one line, exit 125, and nothing is created."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from nsrun_security import CAP_NUMBERS, DEFAULT_CAPS

PATTERN = b"PRV-DECOY-" * 40


def _caps(out: str, field: str) -> set[int]:
    line = next(l for l in out.splitlines() if l.startswith(field + ":"))
    mask = int(line.split()[1], 16)
    return {c for c in range(64) if mask >> c & 1}


def _nothing_created(nsrun) -> None:
    cdir = os.path.join(nsrun.root, "containers")
    assert not os.path.isdir(cdir) or os.listdir(cdir) == []


@pytest.fixture
def loopdev():
    scratch = tempfile.mkdtemp(prefix="prvscratch-", dir="/tmp")
    backing = os.path.join(scratch, "disk.img")
    with open(backing, "wb") as f:
        f.write(PATTERN.ljust(1 << 20, b"\0"))
    dev = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)
        shutil.rmtree(scratch, ignore_errors=True)


def test_cap_add_and_drop_change_the_effective_and_bounding_sets(nsrun):
    out = nsrun("run", "--rm", "--name", "prvcaps", "--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN", "busybox",
                "grep", "Cap", "/proc/self/status", check=True).stdout
    want = DEFAULT_CAPS - {CAP_NUMBERS["CHOWN"]} | {CAP_NUMBERS["NET_ADMIN"]}
    assert _caps(out, "CapEff") == want and _caps(out, "CapBnd") == want
    out = nsrun("run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "Cap", "/proc/self/status", check=True).stdout
    assert _caps(out, "CapEff") == set() and _caps(out, "CapBnd") == set()
    out = nsrun("run", "--rm", "--cap-add", "ALL", "busybox", "grep", "Cap", "/proc/self/status", check=True).stdout
    with open("/proc/self/status") as f:
        own = _caps(f.read(), "CapPrm")
    assert _caps(out, "CapEff") == own  # every capability nsrun holds (this machine lacks CAP_SYS_RESOURCE)


def test_net_admin_really_works_only_when_added(nsrun):
    cmd = ("busybox", "ip", "link", "set", "lo", "mtu", "1300")  # in its own netns
    denied = nsrun("run", "--rm", *cmd)
    assert denied.returncode != 0
    nsrun("run", "--rm", "--cap-add", "NET_ADMIN", *cmd, check=True)


def test_privileged_mounts_and_sees_host_devices_and_a_default_container_does_not(nsrun, loopdev):
    script = (f"grep -E '^(CapEff|Seccomp):' /proc/self/status; ls {loopdev} && echo saw-loop; "
              f"head -c 10 {loopdev}; echo; mkdir -p /m && mount -t tmpfs prv /m && echo mounted; "
              "grep ' /sys ' /proc/self/mountinfo; cat /proc/kcore >/dev/null 2>&1 | head -c1; "
              "grep -c ' /proc/kcore ' /proc/self/mountinfo")
    out = nsrun("run", "--rm", "--name", "prvpriv", "--privileged", "busybox", "sh", "-c", script).stdout
    assert "saw-loop" in out and PATTERN[:10].decode() in out, out
    assert "mounted" in out and "Seccomp:\t0" in out, out
    sys_line = next(l for l in out.splitlines() if " /sys " in l)
    assert sys_line.split()[5].startswith("rw"), sys_line  # /sys writable
    assert out.strip().endswith("0"), out  # /proc/kcore is not masked
    out = nsrun("run", "--rm", "--name", "prvdflt", "busybox", "sh", "-c", script.replace("ls ", "ls 2>&1 ")).stdout
    assert "saw-loop" not in out and "mounted" not in out and "Seccomp:\t2" in out, out


def test_read_only_root_refuses_writes_but_keeps_dev_shm_volumes_and_etc_files(nsrun):
    vol = tempfile.mkdtemp(prefix="prvvol-", dir="/tmp")
    try:
        out = nsrun("run", "--rm", "--name", "prvro", "--read-only", "-v", f"{vol}:/data", "--hostname", "prvhost",
                    "busybox", "sh", "-c",
                    "touch /x 2>&1; touch /tmp/x 2>&1; touch /dev/shm/ok && echo shm-ok; "
                    "touch /data/ok && echo vol-ok; cat /etc/hostname; touch /proc/self/comm && echo proc-ok").stdout
        assert out.count("Read-only file system") == 2, out
        assert "shm-ok" in out and "vol-ok" in out and "prvhost" in out and "proc-ok" in out, out
        assert os.path.exists(os.path.join(vol, "ok"))
    finally:
        shutil.rmtree(vol, ignore_errors=True)
    out = nsrun("run", "--rm", "busybox", "sh", "-c", "touch /x && echo rw-ok").stdout
    assert "rw-ok" in out


def test_no_new_privileges_is_on_by_default_and_can_be_turned_off_with_seccomp_still_loaded(nsrun):
    out = nsrun("run", "--rm", "busybox", "grep", "-E", "NoNewPrivs|Seccomp:", "/proc/self/status", check=True).stdout
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out
    out = nsrun("run", "--rm", "--security-opt", "no-new-privileges=false", "busybox", "grep", "-E",
                "NoNewPrivs|Seccomp:|CapEff", "/proc/self/status", check=True).stdout
    assert "NoNewPrivs:\t0" in out and "Seccomp:\t2" in out
    assert _caps(out, "CapEff") == DEFAULT_CAPS


def test_ulimits_hold_inside_and_for_exec(nsrun):
    out = nsrun("run", "--rm", "--ulimit", "nofile=1024:2048", "--ulimit", "core=0", "busybox", "sh", "-c",
                "ulimit -n; ulimit -Hn; ulimit -c", check=True).stdout.split()
    assert out == ["1024", "2048", "0"]
    # nproc counts the real uid's processes (root is exempt): a non-root command cannot fork past it
    out = nsrun("run", "--rm", "-u", "4242", "--ulimit", "nproc=3", "busybox", "sh", "-c",
                "for i in 1 2 3 4 5; do sleep 2 & done 2>&1; wait").stdout + ""
    assert "Resource temporarily unavailable" in out or "can't fork" in out, out
    cid = nsrun("run", "-d", "--name", "prvul", "--ulimit", "nofile=512", "busybox", "sleep", "30",
                check=True).stdout.strip()
    try:
        assert nsrun("exec", "prvul", "sh", "-c", "ulimit -n", check=True).stdout.strip() == "512"
    finally:
        nsrun("rm", "-f", cid, check=True)


def test_sysctls_are_set_in_the_containers_namespaces_only(nsrun):
    with open("/proc/sys/kernel/shmmax") as f:
        host_shmmax = f.read()
    out = nsrun("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456",
                "--sysctl", "kernel.domainname=prv.example", "busybox", "sh", "-c",
                "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/kernel/domainname",
                check=True).stdout.split()
    assert out == ["1", "123456", "prv.example"]
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read() == host_shmmax
    with open("/proc/sys/kernel/domainname") as f:
        assert f.read().strip() != "prv.example"


def test_shm_size_and_oom_score_adj_and_group_add(nsrun):
    out = nsrun("run", "--rm", "--shm-size", "2m", "busybox", "df", "-k", "/dev/shm", check=True).stdout
    assert out.splitlines()[1].split()[1] == "2048", out
    out = nsrun("run", "--rm", "busybox", "df", "-k", "/dev/shm", check=True).stdout
    assert out.splitlines()[1].split()[1] == str(64 * 1024), out
    assert nsrun("run", "--rm", "--oom-score-adj", "567", "busybox", "cat", "/proc/self/oom_score_adj",
                 check=True).stdout.strip() == "567"
    assert nsrun("run", "--rm", "--group-add", "nogroup", "--group-add", "10", "busybox", "id",
                 check=True).stdout.strip() == "uid=0(root) gid=0(root) groups=10,65534(nogroup)"
    assert nsrun("run", "--rm", "-u", "1000", "--group-add", "10", "busybox", "id", "-G",
                 check=True).stdout.split() == ["1000", "10"]


@pytest.mark.parametrize("args, message", [
    (("--cap-add", "NOPE"), "unknown capability"),
    (("--cap-drop", "CAP_NOPE"), "unknown capability"),
    (("--ulimit", "nofile=999999:999999"), "above nsrun's own"),
    (("--ulimit", "nofile=abc"), "numbers"),
    (("--sysctl", "vm.swappiness=1"), "'vm.swappiness' is not supported"),
    (("--network", "host", "--sysctl", "net.ipv4.ip_forward=1"), "not allowed with --network host"),
    (("--shm-size", "1x"), "invalid --shm-size"),
    (("--oom-score-adj", "1001"), "range is -1000 to 1000"),
    (("--oom-score-adj", "-999"), "CAP_SYS_RESOURCE"),
    (("--group-add", "prvnosuch"), "unable to find group prvnosuch"),
    (("--security-opt", "no-new-privileges=maybe"), "true or false"),
    (("--security-opt", "apparmor=x"), "'apparmor' is not supported"),
    (("--device-cgroup-rule", "c 1:3 rwm"), "devices cgroup is not enforced"),
])
def test_bad_input_is_one_line_exit_125_and_nothing_is_created(nsrun, args, message):
    result = nsrun("run", "--rm", "--name", "prvbad", *args, "busybox", "true")
    assert result.returncode == 125, result
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    _nothing_created(nsrun)


def test_a_namespaced_sysctl_needs_its_namespaces_plugin(nsrun):
    result = nsrun("--plugins", "pid,mnt,sec", "run", "--rm", "--sysctl", "kernel.shmmax=1", "busybox", "true")
    assert result.returncode == 125 and "needs the 'ipc' plugin" in result.stderr, result.stderr
    _nothing_created(nsrun)


def test_cap_drop_all_still_switches_user_and_groups_and_holds_for_the_init(nsrun):
    out = nsrun("run", "--rm", "--cap-drop", "ALL", "-u", "1000", "--group-add", "10", "busybox", "sh", "-c",
                "id -u; id -G; grep CapEff /proc/self/status", check=True).stdout
    assert out.split()[:3] == ["1000", "1000", "10"] and _caps(out, "CapEff") == set(), out
    out = nsrun("run", "--rm", "--init", "--cap-drop", "ALL", "busybox", "grep", "CapBnd", "/proc/1/status",
                check=True).stdout
    assert _caps(out, "CapBnd") == set(), out  # the --init reaper holds nothing either
