"""How nsrun-oci reports: one line ``nsrun-oci: MESSAGE`` on stderr and, with ``--log``, a line in the log file
(``--log-format json``: ``{"level": "error", "msg": ..., "time": ...}``, which containerd shows its users; text:
``time="..." level=error msg="..."``); exit status 1, as runc. Shared by the light entry (``entry``) and the full
command line (``cli``), so both fail in the same words; os, time and ``_jsonlite`` only."""
from __future__ import annotations

import sys
import time

from .._jsonlite import dumps

__all__ = ["PROG", "Log", "message_of", "fail"]

PROG = "nsrun-oci"


class Log:
    """Where errors and debug lines go besides stderr: ``--log`` in ``--log-format``."""

    def __init__(self, path: str | None, fmt: str) -> None:
        self.path, self.fmt = path, fmt

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"
        if self.fmt == "json":
            line = dumps({"level": level, "msg": msg, "time": stamp})
        else:
            line = f"time={dumps(stamp)} level={level} msg={dumps(msg)}"
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass


def message_of(exc: Exception) -> str:
    """The one line an exception leaving a command is reported as."""
    from ..errors import NsrunError
    if isinstance(exc, NsrunError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}"
    return f"internal error: {type(exc).__name__}: {exc}"


def fail(log: Log, msg: str, debug: bool) -> int:
    if debug:
        import traceback
        traceback.print_exc()
    log.write("error", msg)
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    return 1
