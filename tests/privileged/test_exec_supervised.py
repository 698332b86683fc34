"""``nsrun exec`` into a detached container goes through its supervisor (``_execwire``): what a user sees is
the same as an exec the client runs itself, and the socket never outlives the command or lets anyone but
the root's owner in."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import time

from conftest import NSRUN


def _sock(nsrun_root: str, cid: str) -> str:
    return os.path.join(nsrun_root, "containers", cid, "exec.sock")


def _started(nsrun, name: str, *args: str) -> str:
    return nsrun("run", "-d", "--name", name, *args, "busybox", "sleep", "300", check=True).stdout.strip()


def test_the_socket_is_the_owners_and_goes_with_the_command(nsrun, nsrun_root, unique):
    name = f"s{unique}"
    cid = _started(nsrun, name)
    try:
        st = os.stat(_sock(nsrun_root, cid))
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
        nsrun("kill", name, check=True)
        for _ in range(100):
            if not os.path.exists(_sock(nsrun_root, cid)):
                break
            time.sleep(0.05)
        assert not os.path.exists(_sock(nsrun_root, cid))  # the record is still there: only the socket went
        assert os.path.isdir(os.path.join(nsrun_root, "containers", cid))
        gone = nsrun("exec", name, "true")
        assert gone.returncode == 125 and "is not running" in gone.stderr
        assert len(gone.stderr.strip().splitlines()) == 1
    finally:
        nsrun("rm", "-f", name)


def test_what_an_exec_gets_and_returns(nsrun, unique):
    name = f"w{unique}"
    _started(nsrun, name, "-e", "FROM_RUN=1")
    try:
        res = nsrun.popen("exec", "-i", "-e", "A=1", "-e", "FROM_CLIENT", "-w", "/tmp", "-u", "1000:1000", name,
                          "sh", "-c", 'cat; echo "$A $FROM_RUN $FROM_CLIENT $(pwd) $(id -u)"; echo oops >&2; exit 7',
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "FROM_CLIENT": "c"})
        out, err = res.communicate("piped in\n", timeout=60)
        assert (out, err, res.returncode) == ("piped in\n1 1 c /tmp 1000\n", "oops\n", 7)
        missing = nsrun("exec", name, "nosuch")
        assert missing.returncode == 127 and "nosuch" in missing.stderr
        assert len(missing.stderr.strip().splitlines()) == 1
        bad = nsrun("exec", "-e", "=x", name, "true")
        assert bad.returncode == 125 and "invalid environment variable" in bad.stderr
    finally:
        nsrun("rm", "-f", name)


def test_signals_reach_the_command_and_a_killed_client_takes_it_along(nsrun, unique):
    name = f"g{unique}"
    _started(nsrun, name)
    try:
        trap = nsrun.popen("exec", name, "sh", "-c", 'trap "echo got-term; exit 5" TERM; echo ready; '
                           'sleep 60 & wait', stdout=subprocess.PIPE, text=True)
        assert trap.stdout.readline() == "ready\n"
        trap.send_signal(signal.SIGTERM)
        assert trap.stdout.read() == "got-term\n" and trap.wait(timeout=30) == 5
        doomed = nsrun.popen("exec", name, "sleep", "61", stdout=subprocess.PIPE)
        for _ in range(100):
            if "sleep 61" in nsrun("exec", name, "ps", "-o", "args").stdout:
                break
            time.sleep(0.05)
        doomed.kill()
        doomed.wait(timeout=30)
        for _ in range(100):
            if "sleep 61" not in nsrun("exec", name, "ps", "-o", "args").stdout:
                break
            time.sleep(0.05)
        assert "sleep 61" not in nsrun("exec", name, "ps", "-o", "args", check=True).stdout
    finally:
        nsrun("rm", "-f", name)


def test_a_dead_supervisors_socket_is_not_trusted(nsrun, nsrun_root, unique):
    """kill -9 of the supervisor leaves its socket file; an exec then runs the full path, which reports the
    container as it is (its record says it is not running)."""
    name = f"d{unique}"
    cid = _started(nsrun, name)
    try:
        with open(os.path.join(nsrun_root, "containers", cid, "state.json")) as f:
            import json
            owner = json.load(f)["owner_pid"]
        os.kill(owner, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        assert os.path.exists(_sock(nsrun_root, cid))
        res = subprocess.run([NSRUN, "--root", nsrun_root, "exec", name, "true"], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    finally:
        nsrun("rm", "-f", name)
        nsrun("gc")
