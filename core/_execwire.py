"""``nsrun exec`` through a detached container's supervisor: the socket and the messages (both sides).

A supervised container's directory holds ``exec.sock`` (a unix stream socket, in the root's 0711 container
directory, owned by root: only the root user reaches it; nothing of it is mounted into the container) while
its command runs. The exec client resolves the container, connects and sends ONE request; the supervisor
forks a helper for it, which runs the exec exactly as ``Engine.exec`` would (the same joins, hooks, stub and
stdio handling: ``_exec.exec_in``), so the client imports almost nothing (the Python start-up and the core's
imports are most of an exec's cost) and the exec pays no interpreter start of its own.

==================  ==========  ====================================================================
 message             direction   content
==================  ==========  ====================================================================
 request             cl→helper   ``<length>\\n`` then NUL-separated fields (``encode_request``), sent
                                 with the client's fds 0, 1, 2 (SCM_RIGHTS): the helper's stdio becomes
                                 them, so the command's output reaches the client's terminal or pipes
                                 as an embedded exec's would (through pipes or a pty made in the
                                 container: the container never holds one of the client's descriptors)
 ``pid N\\n``        helper→cl   the helper's pid: the client sends the signals it gets (``_signals``,
                                 and SIGWINCH with ``-t``) there, through a pidfd
 ``exit N\\n``       helper→cl   the command's exit status; the helper then exits
 ``error JSON\\n``   helper→cl   nsrun's error as ``errors.to_wire`` writes it (one line): the client
                                 raises what ``errors.from_wire`` makes of it, so it prints as here
==================  ==========  ====================================================================

EOF from the client (it was killed) makes the helper kill the command, as a killed embedded exec takes
its command with it. Without the socket (a foreground container, no supervisor) or when it refuses the
connection (its supervisor died), the client runs the exec itself.
"""
from __future__ import annotations

__all__ = ["SOCKET", "encode_request", "decode_request"]

SOCKET = "exec.sock"
_VERSION = "nsrun-exec/1"


def encode_request(argv: list[str], env: list[str], *, tty: bool, interactive: bool, workdir: str | None,
                   user: str | None) -> bytes:
    """The request. ``env`` holds ``-e`` items with a bare ``NAME`` already filled from the client's own
    environment (``NAME=value``; left bare when unset there), so the helper never reads its own."""
    fields = [_VERSION, "1" if tty else "0", "1" if interactive else "0", workdir or "", user or "",
              str(len(env)), *env, *argv]
    if any("\0" in f for f in fields):
        raise ValueError("a NUL byte in an argument or environment entry")
    body = "\0".join(fields).encode("utf-8", "surrogateescape")
    return b"%d\n" % len(body) + body


def decode_request(body: bytes) -> dict:
    """``encode_request``'s body (after the length line) -> ``{argv, env, tty, interactive, workdir, user}``;
    ValueError when it is not one."""
    fields = body.decode("utf-8", "surrogateescape").split("\0")
    if len(fields) < 7 or fields[0] != _VERSION:
        raise ValueError("not an nsrun exec request")
    count = int(fields[5])
    env, argv = fields[6:6 + count], fields[6 + count:]
    if count < 0 or len(env) != count or not argv:
        raise ValueError("a malformed nsrun exec request")
    return {"argv": argv, "env": env, "tty": fields[1] == "1", "interactive": fields[2] == "1",
            "workdir": fields[3] or None, "user": fields[4] or None}
