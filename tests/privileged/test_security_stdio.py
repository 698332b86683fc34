"""A container's stdio is its own: reopening /proc/self/fd/N from inside reaches a pipe, never the file the
caller redirected nsrun's stdio to. The file is a scratch decoy in the test's root."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import NSRUN

ALL_BUT_USER = "user,ipc,uts,cgroup,pid,mnt,sec,seccomp"  # the default set (no net) plus user
# Inside: write, reopen stdout with O_TRUNC and write again, say what stdout is, try writing to stdin.
INSIDE = ("echo one; : > /proc/self/fd/1; echo two; stat -L -c 'inode=%d:%i' /proc/self/fd/1; "
          "(echo x >> /proc/self/fd/0) 2>/dev/null; cat > /dev/null")


def _decoys(root: str) -> tuple[str, str]:
    out, inp = os.path.join(root, "decoy-out"), os.path.join(root, "decoy-in")
    for path in (out, inp):
        with open(path, "w") as f:
            f.write("original\n")
    return out, inp


def _check(out: str, inp: str) -> None:
    with open(out) as f:
        lines = f.read().splitlines()
    st = os.stat(out)
    assert lines[:3] == ["original", "one", "two"], lines  # never truncated through /proc/self/fd/1
    assert lines[3] != f"inode={st.st_dev}:{st.st_ino}", lines
    with open(inp) as f:
        assert f.read() == "original\n"  # stdin was read, never written


@pytest.mark.parametrize("plugins", [(), ("--plugins", ALL_BUT_USER)], ids=["default", "user"])
def test_run_cannot_reopen_the_callers_stdout_or_stdin(nsrun_root, plugins):
    out, inp = _decoys(nsrun_root)
    with open(out, "a") as stdout, open(inp) as stdin:
        code = subprocess.run([NSRUN, "--root", nsrun_root, *plugins, "run", "--rm", "-i", "busybox", "sh", "-c",
                               INSIDE], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=60).returncode
    assert code == 0
    _check(out, inp)


@pytest.mark.parametrize("plugins", [(), ("--plugins", ALL_BUT_USER)], ids=["default", "user"])
def test_exec_cannot_reopen_the_callers_stdout_or_stdin(nsrun, nsrun_root, unique, plugins):
    name = f"o{unique}"
    nsrun(*plugins, "run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    try:
        out, inp = _decoys(nsrun_root)
        with open(out, "a") as stdout, open(inp) as stdin:
            code = subprocess.run([NSRUN, "--root", nsrun_root, "exec", "-i", name, "sh", "-c", INSIDE],
                                  stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=60).returncode
    finally:
        nsrun("rm", "-f", name)
    assert code == 0
    _check(out, inp)


def test_output_order_exit_codes_and_stdin_survive_the_copy(nsrun):
    result = nsrun("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo err >&2; exit 7", input="a\nb\n")
    assert (result.returncode, result.stdout, result.stderr) == (7, "a\nb\n", "err\n")
    big = nsrun("run", "--rm", "busybox", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
    assert big.returncode == 0 and len(big.stdout) == 3000000
