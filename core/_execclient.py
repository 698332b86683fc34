"""The ``nsrun exec`` client: hand the exec to the container's supervisor when it has one (``_execwire``
says how and why), else run it here through ``Engine.exec``.

Imports only C modules and nsrun's os-only ``_resolve``/``_execwire`` until it knows it must run the exec
itself, so an exec into a detached container costs an interpreter start and one round trip.
"""
from __future__ import annotations

import os

__all__ = ["run_exec"]


def run_exec(root: str | None, ref: str, argv: list[str], *, tty: bool, interactive: bool, env: list[str],
             workdir: str | None, user: str | None) -> int:
    """Exec ``argv`` in the running container ``ref`` of the root ``root`` (None: the default root) with
    ``-e`` items ``env``; its exit status. nsrun's errors are raised (NsrunError) on either path."""
    from ._execwire import encode_request
    filled = [item if "=" in item or item not in os.environ else f"{item}={os.environ[item]}" for item in env]
    try:
        request = encode_request(list(argv), filled, tty=tty, interactive=interactive, workdir=workdir, user=user)
    except ValueError:
        request = None  # the full path reports it
    code = _via_supervisor(_containers(root), ref, request, tty) if request is not None else None
    if code is not None:
        return code
    from ._context import Paths
    from ._engine import Engine
    from ._parse import parse_env
    return Engine(Paths.from_root(root)).exec(ref, list(argv), tty=tty, interactive=interactive,
                                              env=parse_env(filled, fill_from={}), workdir=workdir, user=user)


def _containers(root: str | None) -> str:
    """``Paths.from_root(root).containers``, without importing ``_context``."""
    return os.path.join(os.path.abspath(root), "containers") if root else "/var/lib/nsrun/containers"


def _via_supervisor(containers: str, ref: str, request: bytes, tty: bool) -> int | None:
    """The exit status of the exec its supervisor ran; None when the container has no supervisor taking
    execs (then the caller runs it). Raises NsrunError for an error the helper reports."""
    import _socket
    from ._execwire import SOCKET
    from ._resolve import candidates
    cid = next(iter(candidates(containers, ref)), None)
    if cid is None:
        return None
    try:
        dirfd = os.open(os.path.join(containers, cid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:  # through the directory's fd: a root's path can be longer than a socket address may be
            sock.connect(f"/proc/self/fd/{dirfd}/{SOCKET}")
        except OSError:  # none (not detached, or an older supervisor), or refused (the supervisor is gone)
            return None
        import sys
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # C ints (array imports collections)
        sock.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        return _await(sock, tty)
    finally:
        sock.close()
        os.close(dirfd)


def _await(sock, tty: bool) -> int:
    """Read the helper's replies: forward our signals to it once it said who it is; its exit status."""
    import _signal
    from ._signals import FORWARDED
    buf, pidfd, saved = b"", -1, {}
    try:
        while True:
            while b"\n" not in buf:
                data = sock.recv(4096)
                if not data:
                    from .errors import SetupError
                    raise SetupError("exec: the container's supervisor ended the exec without a status "
                                     "(it was stopped or killed)")
                buf += data
            line, _, buf = buf.partition(b"\n")
            kind, _, rest = line.decode("utf-8", "replace").partition(" ")
            if kind == "pid" and pidfd < 0:
                pidfd = os.pidfd_open(int(rest))

                def forward(signum: int, _frame: object, fd: int = pidfd) -> None:
                    try:
                        _signal.pidfd_send_signal(fd, signum)
                    except OSError:
                        pass
                for sig in (*FORWARDED, *((_signal.SIGWINCH,) if tty else ())):
                    saved[sig] = _signal.signal(sig, forward)
            elif kind == "exit":
                return int(rest)
            elif kind == "error":  # to_wire's JSON object (an error is rare: json only then)
                import json
                from .errors import from_wire
                raise from_wire(json.loads(rest), default="exec failed")
    finally:
        for sig, handler in saved.items():
            _signal.signal(sig, handler)
        if pidfd >= 0:
            os.close(pidfd)
