"""``nsrun create``, ``start [-a]``, ``restart`` and ``wait`` on the embedded engine, as Docker's: a created
container is owned by nobody until it starts (the creating CLI's exit does not make it dead); ``start``
runs it detached under a supervisor of its own, again after it stopped; ``start -a`` follows its output
and exits with its code; ``wait`` prints the code; bad input is one line, exit 125."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.privileged

NONE = ("--network", "none")


def test_create_start_wait_restart(nsrun):
    cid = nsrun("create", "--name", "cs1", *NONE, "busybox", "sh", "-c", "echo ran; exit 3", check=True).stdout.strip()
    try:
        assert len(cid) == 64
        assert nsrun("inspect", "-f", "{{.State.Status}}", "cs1").stdout.strip() in ("created", "")
        assert "Created" in nsrun("ps", "-a", "--filter", "name=cs1").stdout
        res = nsrun("start", "-a", "cs1")
        assert res.returncode == 3 and res.stdout == "ran\n"
        assert nsrun("start", "cs1", check=True).stdout.strip() == "cs1"   # again, once it stopped
        assert nsrun("wait", "cs1", check=True).stdout.strip() == "3"
        assert nsrun("logs", "cs1", check=True).stdout == "ran\nran\n"
    finally:
        nsrun("rm", "-f", "cs1")
    nsrun("run", "-d", "--name", "cs2", *NONE, "busybox", "sleep", "100", check=True)
    try:
        first = nsrun("inspect", "cs2", check=True).stdout
        nsrun("restart", "-t", "0", "cs2", check=True)
        assert "Up " in nsrun("ps", "--filter", "name=cs2").stdout
        assert first != nsrun("inspect", "cs2", check=True).stdout          # a new run: a new pid, start time
        assert nsrun("start", "cs2", check=True).returncode == 0             # running: left alone
    finally:
        nsrun("rm", "-f", "cs2")


def test_create_interactive_then_start_keeps_running(nsrun):
    nsrun("create", "-it", "--name", "cs3", *NONE, "busybox", "sh", check=True)
    try:
        nsrun("start", "cs3", check=True)
        time.sleep(0.3)
        assert "Up " in nsrun("ps", "--filter", "name=cs3").stdout        # stdin kept open, as docker create -it
    finally:
        nsrun("rm", "-f", "cs3")


def test_bad_input(nsrun):
    for args, words in ((("start", "nosuch"), "No such container"), (("wait", "nosuch"), "No such container"),
                        (("create", "-d", "busybox"), "No such option"),
                        (("create", "--name", "bad name!", "busybox"), "Invalid container name")):
        res = nsrun(*args)
        assert res.returncode in (1, 2, 125) and words in res.stderr and "Traceback" not in res.stderr, args
    assert nsrun("ps", "-aq").stdout == ""
