"""``nsrun attach`` on the embedded engine, through a real pseudo-terminal: with a tty (``run -dit``) what is
typed reaches the container's shell and its output comes back; Docker's ctrl-p ctrl-q (or ``--detach-keys``)
detaches and leaves the container running; attach ends with the container's exit code when it exits; bad
keys and a stopped container are one line, exit 125."""
from __future__ import annotations

import fcntl
import json
import os
import struct
import termios
import pty
import select
import time

import pytest

from conftest import NSRUN

pytestmark = pytest.mark.privileged

NONE = ("--network", "none")


class Term:
    """``nsrun attach ...`` run on the slave side of a new pty, as a user's terminal runs it."""

    def __init__(self, root: str, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(NSRUN, [NSRUN, "--root", root, "attach", *args])
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; saw {self.seen!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text in self.seen, self.seen
        return self.seen

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"attach did not end; saw {self.seen!r}")


def _running(nsrun, name: str) -> bool:
    return "Up " in nsrun("ps", "--filter", f"name={name}").stdout


def test_attach_tty_then_ctrl_p_ctrl_q_detaches_and_it_keeps_running(nsrun, nsrun_root):
    nsrun("run", "-dit", "--name", "lga-att1", *NONE, "busybox", "sh", check=True)
    try:
        term = Term(nsrun_root, "lga-att1")
        time.sleep(0.5)                       # attach reads the log from its end: let it open it first
        term.send(b"echo $((6*7))x\r")
        term.expect(b"42x")
        fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))  # SIGWINCH to attach
        time.sleep(0.5)                       # ... which gives our size to the container's pty
        pid = json.loads(nsrun("inspect", "lga-att1", check=True).stdout)
        pid = (pid[0] if isinstance(pid, list) else pid)["State"]["Pid"]
        with open(f"/proc/{pid}/fd/0", "rb", buffering=0) as ctty:
            assert struct.unpack("HHHH", fcntl.ioctl(ctty.fileno(), termios.TIOCGWINSZ, b"\0" * 8))[:2] == (33, 111)
        term.send(b"\x10\x11")                # ctrl-p ctrl-q
        assert term.wait() == 0
        time.sleep(0.3)
        assert _running(nsrun, "lga-att1")
        # again, with keys of our own
        term = Term(nsrun_root, "--detach-keys", "ctrl-x,x", "lga-att1")
        time.sleep(0.5)
        term.send(b"echo again\r")
        term.expect(b"again")
        term.send(b"\x18x")
        assert term.wait() == 0
        assert _running(nsrun, "lga-att1")
        # and when the container exits, attach ends with its code
        term = Term(nsrun_root, "lga-att1")
        time.sleep(0.5)
        term.send(b"exit 7\r")
        assert term.wait() == 7
    finally:
        nsrun("rm", "-f", "lga-att1")


def test_attach_no_stdin_only_shows_output(nsrun, nsrun_root):
    nsrun("run", "-d", "--name", "lga-att2", *NONE, "busybox", "sh", "-c",
          "sleep 1; echo late; sleep 1; exit 3", check=True)
    try:
        term = Term(nsrun_root, "--no-stdin", "lga-att2")
        term.expect(b"late")
        assert term.wait() == 3
    finally:
        nsrun("rm", "-f", "lga-att2")


def test_bad_keys_and_a_stopped_container_are_one_line(nsrun):
    nsrun("run", "-d", "--name", "lga-att3", *NONE, "busybox", "true", check=True)
    try:
        nsrun("wait", "lga-att3", check=True)
        for args, words in ((("--detach-keys", "ctrl-P", "lga-att3"), "Invalid detach keys (ctrl-P) provided"),
                            (("--detach-keys", "alt-x", "lga-att3"), "Invalid detach keys"),
                            (("lga-att3",), "You cannot attach to a stopped container"),
                            (("lga-nosuch",), "No such container")):
            res = nsrun("attach", *args)
            assert res.returncode == 125 and words in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    finally:
        nsrun("rm", "-f", "lga-att3")
