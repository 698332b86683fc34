"""The supervisor's side of ``nsrun exec`` (``_execwire`` has the protocol): a listening socket in the
container's directory, and a forked helper per request that runs the exec through ``_exec.exec_in``.

The supervisor is single-threaded and waits in one ``select`` loop (``_io``), so it forks safely; the helper
is a copy of a process that has the core and the container's plugins loaded already.
"""
from __future__ import annotations

import array
import os
import _socket
from typing import TYPE_CHECKING

from ._execwire import SOCKET, decode_request

if TYPE_CHECKING:
    from ._engine import Engine
    from ._state import Record

__all__ = ["ExecServer"]


class ExecServer:
    """``exec.sock`` of one running container; ``on_readable`` (the ``_io`` loop calls it) serves it."""

    def __init__(self, engine: Engine, rec: Record) -> None:
        from ._exec import exec_plugins
        self.engine, self.cid, self.dir = engine, rec.id, rec.dir
        exec_plugins(rec.spec.plugins)  # loaded here once: every helper is forked with them
        self.helpers: set[int] = set()
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        dirfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        old = os.umask(0o177)  # the socket is 0600 from the start: only the root's owner may connect
        try:
            try:
                os.unlink(os.path.join(self.dir, SOCKET))  # a dead supervisor's (never a live one's: ours)
            except FileNotFoundError:
                pass
            self.sock.bind(f"/proc/self/fd/{dirfd}/{SOCKET}")
        finally:
            os.umask(old)
            os.close(dirfd)
        self.sock.listen(16)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def on_readable(self) -> None:
        """Accept what is waiting; fork a helper for each connection; reap helpers that are done."""
        while True:
            try:
                conn, _ = self.sock._accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            pid = os.fork()
            if pid == 0:
                _helper(self.engine, self.cid, conn)  # never returns
            os.close(conn)
            self.helpers.add(pid)
        self.reap()

    def reap(self) -> None:
        for pid in list(self.helpers):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.helpers.discard(pid)

    def close(self) -> None:
        """Stop taking execs (the command ended): the socket file goes first, so no client connects to a
        supervisor that is about to tear down."""
        try:
            os.unlink(os.path.join(self.dir, SOCKET))
        except FileNotFoundError:
            pass
        self.sock.close()
        self.reap()


def _helper(engine: Engine, cid: str, conn: int) -> None:
    """One exec, in a fork of the supervisor; ends in ``os._exit``."""
    import _signal
    from ._signals import FORWARDED
    code = 125
    try:
        for sig in FORWARDED:  # the supervisor forwards these to the container's init; we are not it
            _signal.signal(sig, _signal.SIG_DFL)
        os.closerange(3, conn)
        os.closerange(conn + 1, 65536)
        sock = _socket.socket(fileno=conn)
        request, fds = _receive(sock)
        for i, fd in enumerate(fds):
            os.dup2(fd, i, inheritable=True)
            os.close(fd)
        _reply(sock, f"pid {os.getpid()}")
        code = _run(engine, cid, request, sock)
    finally:
        os._exit(code)


def _receive(sock: _socket.socket) -> tuple[dict, list[int]]:
    """The request and the client's three descriptors; ValueError when it is not one."""
    data, ancdata, _, _ = sock.recvmsg(65536, _socket.CMSG_SPACE(3 * 4))
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    head, sep, body = data.partition(b"\n")
    if not sep or not head.isdigit():
        raise ValueError("not an nsrun exec request")
    while len(body) < int(head):
        more = sock.recv(65536)
        if not more:
            raise ValueError("a truncated nsrun exec request")
        body += more
    if len(fds) != 3:
        raise ValueError("an nsrun exec request without its three descriptors")
    return decode_request(body), list(fds)


def _run(engine: Engine, cid: str, request: dict, sock: _socket.socket) -> int:
    """The exec through the one exec path; its reply sent. The helper's exit code (0: replied)."""
    import json
    from ._parse import parse_env
    from .errors import NsrunError, to_wire
    try:
        status = engine.exec(cid, request["argv"], tty=request["tty"], interactive=request["interactive"],
                             env=parse_env(request["env"], fill_from={}), workdir=request["workdir"],
                             user=request["user"], client=sock.fileno())
        return _reply(sock, f"exit {status}")
    except NsrunError as exc:
        return _reply(sock, "error " + json.dumps(to_wire(exc)))
    except BaseException as exc:  # noqa: BLE001 - the client must hear about it, as one line
        return _reply(sock, "error " + json.dumps({"message": f"exec: {exc!r}", "exit_code": 125}))


def _reply(sock: _socket.socket, line: str) -> int:
    try:
        sock.sendall(line.replace("\n", " ").encode() + b"\n")
    except OSError:
        pass  # the client is gone
    return 0
