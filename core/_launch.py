"""How a detached container's supervisor is started and how it answers: one command line and one reply format
for every front end that starts one (``run -d``, the daemon's launcher)."""
from __future__ import annotations

import json
import sys

from ._context import Paths
from .errors import NsrunError, SetupError, from_wire, to_wire

__all__ = ["supervisor_argv", "error_from_reply", "reply_for"]


def supervisor_argv(paths: Paths, cid: str, reply_fd: int) -> list[str]:
    """``python -m nsrun._supervisor ROOT RUN ID FD``: a fresh interpreter (never a fork of a threaded parent)."""
    return [sys.executable, "-m", "nsrun._supervisor", paths.root, paths.run, cid, str(reply_fd)]


def reply_for(exc: NsrunError) -> str:
    """The supervisor's JSON answer for a start that failed (``ok`` is the answer for one that worked)."""
    return json.dumps(to_wire(exc))


def error_from_reply(reply: str) -> NsrunError:
    """The error a supervisor's non-``ok`` reply describes."""
    try:
        return from_wire(json.loads(reply))
    except ValueError:
        return SetupError(f"the supervisor failed to start the container{': ' + reply if reply else ''}")
