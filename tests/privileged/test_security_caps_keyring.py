"""Inside a container the inheritable and ambient capability sets are empty, and the session keyring is a
fresh one: a key in the caller's session keyring cannot be found from inside (run and exec).

busybox has no keyctl and /proc/keys is masked, so the probe is a static 80-byte program built here
(``_execstub.elf``) that runs ``keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", argv[1], 0)`` and
exits 0 when it finds the key, else with the errno (ENOKEY = 126). It runs on the host first, in the same
process tree, to show it does find the decoy key there.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from conftest import NSRUN
from nsrun import _execstub

ALL_BUT_USER = "user,ipc,uts,cgroup,pid,mnt,sec,seccomp"  # the default set (no net) plus user

# mov edi,10 (KEYCTL_SEARCH); mov rsi,-3 (@s); lea rdx,[rip+"user"]; mov r10,[rsp+16] (argv[1]);
# xor r8d,r8d; mov eax,250 (keyctl); syscall; exit_group(rax < 0 ? -rax : 0); "user\0"
KEYFIND = _execstub.elf(bytes.fromhex(
    "bf0a00000048c7c6fdffffff488d15210000004c8b5424104531c0b8fa0000000f0531ff4885c0790489c7f7dfb8e70000000f05"
    "7573657200"))

# Run by the host's Python: a new session keyring of its own (the test's own is left alone), a decoy key in
# it, the probe outside, then each nsrun command line given (inheriting that keyring); prints exit codes.
HOLDER = r"""
import ctypes, subprocess, sys, json
libc = ctypes.CDLL(None, use_errno=True)
assert libc.syscall(250, 1, None) > 0                                         # KEYCTL_JOIN_SESSION_KEYRING
desc = sys.argv[1].encode()
assert libc.syscall(248, b"user", desc, b"decoy", 5, -3) > 0, ctypes.get_errno()  # add_key(..., @s)
codes = [subprocess.run([sys.argv[2], sys.argv[1]]).returncode]
for cmd in json.loads(sys.argv[3]):
    codes.append(subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode)
print(json.dumps(codes))
"""


def _probe(nsrun_root: str) -> str:
    d = os.path.join(nsrun_root, "probe")
    os.mkdir(d)
    os.chmod(d, 0o755)
    path = os.path.join(d, "keyfind")
    with open(path, "wb") as f:
        f.write(KEYFIND)
    os.chmod(path, 0o755)
    return path


@pytest.mark.parametrize("plugins", [(), ("--plugins", ALL_BUT_USER)], ids=["default", "user"])
def test_the_callers_session_key_is_not_reachable_inside(nsrun, nsrun_root, unique, plugins):
    import json
    probe = _probe(nsrun_root)
    desc = f"nsrun-decoy-{unique}"
    name = f"k{unique}"
    # seccomp's default profile refuses keyctl altogether (EPERM); unconfined, the probe meets the keyring itself
    opts = ["-v", f"{os.path.dirname(probe)}:/probe:ro", "--security-opt", "seccomp=unconfined"]
    nsrun(*plugins, "run", "-d", "--name", name, *opts, "busybox", "sleep", "60", check=True)
    base = [NSRUN, "--root", nsrun_root, *plugins]
    cmds = [base + ["run", "--rm", *opts, "busybox", "/probe/keyfind", desc],
            base + ["exec", name, "/probe/keyfind", desc],
            base + ["run", "--rm", opts[0], opts[1], "busybox", "/probe/keyfind", desc]]
    try:
        out = subprocess.run([sys.executable, "-c", HOLDER, desc, probe, json.dumps(cmds)], capture_output=True,
                             text=True, timeout=120, check=True).stdout
    finally:
        nsrun("rm", "-f", name)
    host, run, exec_, confined = json.loads(out)
    assert host == 0  # the probe finds the decoy key outside
    assert (run, exec_) == (errno.ENOKEY, errno.ENOKEY)  # inside, @s is a fresh keyring without it
    assert confined == errno.EPERM  # and under the default seccomp profile keyctl is refused outright


@pytest.mark.parametrize("plugins", [(), ("--plugins", ALL_BUT_USER)], ids=["default", "user"])
def test_inheritable_and_ambient_capabilities_are_empty(nsrun, nsrun_root, unique, plugins):
    """Even when nsrun's caller holds an inheritable and ambient capability (setpriv gives it CAP_NET_RAW)."""
    name = f"c{unique}"
    out = subprocess.run(["setpriv", "--inh-caps", "+net_raw", "--ambient-caps", "+net_raw", NSRUN, "--root",
                          nsrun_root, *plugins, "run", "--rm", "busybox", "grep", "-E", "^Cap(Inh|Amb|Eff)",
                          "/proc/self/status"], capture_output=True, text=True, timeout=60, check=True).stdout
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert int(fields["CapInh"], 16) == 0 and int(fields["CapAmb"], 16) == 0, fields
    assert int(fields["CapEff"], 16) != 0  # the default set is still there
    nsrun(*plugins, "run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    try:
        out = nsrun("exec", name, "grep", "-E", "^Cap(Inh|Amb)", "/proc/self/status", check=True).stdout
    finally:
        nsrun("rm", "-f", name)
    assert [int(line.split()[1], 16) for line in out.splitlines()] == [0, 0], out
