"""Through ``nsrun daemon`` with the real docker CLI: ``--pid container:NAME`` (``HostConfig.PidMode``, the pid
plugin's) and ``--ipc shareable`` / ``container:NAME`` (``HostConfig.IpcMode``, the ipc plugin's): processes seen
both ways, the joiner killed with the first container, the donor's /dev/shm files shared both ways, inspect
showing the modes back, and Docker's refusals (a private IPC donor, a container that does not run). Names pi4-*."""
from __future__ import annotations

import json
import time

NONE = ("--network", "none")


def test_pid_and_ipc_of_a_shareable_container(daemon):
    d = daemon
    d.docker("run", "-d", "--name", "pi4-srv", *NONE, "--ipc", "shareable", "busybox", "sh", "-c",
             "echo from-donor > /dev/shm/d.txt; exec sleep 61", check=True)
    try:
        time.sleep(0.3)
        out = d.docker("run", "--rm", *NONE, "--pid", "container:pi4-srv", "--ipc", "container:pi4-srv",
                       "busybox", "sh", "-c", "ps -o args; cat /dev/shm/d.txt; echo from-joiner > /dev/shm/j.txt",
                       check=True).stdout.split("\n")
        assert "sleep 61" in out and "from-donor" in out
        assert d.docker("exec", "pi4-srv", "cat", "/dev/shm/j.txt", check=True).stdout == "from-joiner\n"
        d.docker("run", "-d", "--name", "pi4-join", *NONE, "--pid", "container:pi4-srv", "busybox", "sleep", "62",
                 check=True)
        assert "sleep 62" in d.docker("exec", "pi4-srv", "ps", "-o", "args", check=True).stdout.split("\n")
        views = json.loads(d.docker("inspect", "pi4-srv", "pi4-join", check=True).stdout)
        assert [(v["HostConfig"]["PidMode"], v["HostConfig"]["IpcMode"]) for v in views] == \
            [("", "shareable"), ("container:pi4-srv", "private")]
        d.docker("stop", "-t", "1", "pi4-srv", check=True)
        assert d.docker("wait", "pi4-join", check=True, timeout=20).stdout.strip() == "137"   # as with runc
        res = d.docker("run", "--rm", *NONE, "--pid", "container:pi4-srv", "busybox", "true")
        assert res.returncode == 125 and "cannot join PID of a non running container: pi4-srv" in res.stderr
    finally:
        d.docker("rm", "-f", "pi4-join", "pi4-srv")


def test_ipc_of_a_private_container_is_refused(daemon):
    d = daemon
    d.docker("run", "-d", "--name", "pi4-priv", *NONE, "busybox", "sleep", "60", check=True)
    try:
        res = d.docker("run", "--rm", *NONE, "--ipc", "container:pi4-priv", "busybox", "true")
        assert res.returncode == 125 and "non-shareable IPC" in res.stderr, res.stderr
        view = json.loads(d.docker("inspect", "pi4-priv", check=True).stdout)[0]
        assert view["HostConfig"]["IpcMode"] == "private"
    finally:
        d.docker("rm", "-f", "pi4-priv")
