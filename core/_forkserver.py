"""The daemon's fork server: ``python -m nsrun._forkserver SOCKFD ROOT RUN``.

DESIGN.md §5: the daemon (threads, an event loop) must never fork a supervisor itself, and a fresh
interpreter per container costs its start-up and imports (tens of ms) and ~10 MB of private memory. So the
daemon starts this process once, fresh: it imports the core and the default plugins, then does nothing but
fork supervisors on request. It is single-threaded and runs no event loop, so forking is safe; a forked
supervisor pays neither interpreter start nor imports and shares this process's pages.

Protocol on the inherited unix stream socket (daemon <-> fork server), one line per message:

=============  ==========  ===========================================================================
 message        direction   meaning
=============  ==========  ===========================================================================
 ``START id``   daemon→fs   fork a supervisor for container ``id``; the message carries (SCM_RIGHTS) the
                            write end of the reply pipe, as ``_supervisor`` expects (``ok`` or JSON error)
 ``EXIT id N``  fs→daemon   that supervisor exited with status N (the container's exit code)
=============  ==========  ===========================================================================

EOF on the socket (the daemon is gone) ends the fork server; the supervisors it forked live on (each in its
own session; they are re-parented) and a restarted daemon finds them through their records.
"""
from __future__ import annotations

import array
import os
import selectors
import socket
import sys
from typing import NoReturn

__all__ = ["serve"]


def _warm() -> None:
    """Import everything a supervisor needs, so forked supervisors start with it loaded and shared."""
    from . import _engine, _exec, _gc, _images, _io, _lifecycle, _spawn, _state, _supervisor  # noqa: F401
    from ._plugins import load_plugins
    try:
        loaded = load_plugins()
        loaded.call("preload")
    except Exception:  # noqa: BLE001 - a broken plugin is reported when a container selects it
        pass


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(64 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


def _supervisor_child(cid: str, reply_fd: int, root: str, run: str) -> NoReturn:
    """In the forked child: become a supervisor in a new session. Every path ends in os._exit."""
    code = 125
    try:
        os.setsid()
        os.closerange(3, reply_fd)
        os.closerange(reply_fd + 1, 65536)
        from ._supervisor import supervise
        code = supervise(root, run, cid, reply_fd)
        from ._deferred import hand_over
        hand_over()
    except BaseException:  # noqa: BLE001 - the reply pipe already told the daemon, or EOF will
        pass
    finally:
        os._exit(code)


def serve(sock_fd: int, root: str, run: str) -> int:
    _warm()
    import gc
    gc.freeze()  # what is loaded now is never scanned by a supervisor's GC: its pages stay shared
    from ._spawn import decode_status, fork_process
    sock = socket.socket(fileno=sock_fd)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, None)
    buf, fds = b"", []
    while True:
        for key, _ in sel.select():
            if key.data is None:
                msg, got = _receive(sock)
                if not msg:
                    return 0                      # the daemon is gone
                buf += msg
                fds += got
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    verb, _, cid = line.decode().partition(" ")
                    if verb != "START" or not fds:
                        continue
                    reply_fd = fds.pop(0)
                    pid = fork_process(lambda: _supervisor_child(cid, reply_fd, root, run))
                    os.close(reply_fd)
                    sel.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, cid))
            else:
                pid, cid = key.data
                sel.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                try:
                    sock.sendall(f"EXIT {cid} {decode_status(status)}\n".encode())
                except OSError:
                    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
