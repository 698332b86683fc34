"""Running one CLI command: nsrun's errors as one line and their exit code, and a fast exit."""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the exec client's path
if TYPE_CHECKING:
    from typing import Callable

__all__ = ["protect", "exit_now", "format_table", "echo_err", "each_name", "ago", "version_line"]


def protect(fn: Callable[[], int], debug: bool) -> int:
    """Run ``fn``; turn nsrun's errors into one line on stderr and their exit code."""
    from . import _trace
    from .errors import NsrunError
    try:
        return fn()
    except NsrunError as exc:
        if debug:
            import traceback
            traceback.print_exc()
        print(f"nsrun: {exc.message}", file=sys.stderr)
        _trace.report()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a system call failed outside any more specific handling: still one line
        if debug:
            raise
        print(f"nsrun: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", file=sys.stderr)
        return 125


def exit_now(code: int) -> None:
    """Flush and leave without the interpreter's shutdown (module teardown, GC of every object): it costs
    10-15 ms a start and nothing needs it — files are closed and state is written by then."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    from ._deferred import hand_over
    hand_over()
    os._exit(code)


def format_table(rows: list[tuple[object, ...]] | list[list[object]]) -> str:
    """Rows (the first is the header) as Docker prints them: columns padded to their widest cell, three
    spaces apart, no trailing blanks."""
    if not rows:
        return ""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def echo_err(msg: str) -> None:
    """One ``nsrun: <msg>`` line on stderr."""
    print(f"nsrun: {msg}", file=sys.stderr, flush=True)


def each_name(names: tuple[str, ...] | list[str], action: Callable[[str], object]) -> None:
    """Docker's way with several names (``rm a b``): each one that worked is printed (or, when ``action``
    returns a list, the lines it returns: ``image rm``'s ``Untagged: ...``), each failure is one line on
    stderr, and the exit status is 1 if any failed."""
    from .errors import NsrunError
    failed = False
    for name in names:
        try:
            lines = action(name)
            print("\n".join(lines) if isinstance(lines, list) and lines else name, flush=True)
        except NsrunError as exc:
            echo_err(exc.message)
            failed = True
    if failed:
        sys.exit(1)


def ago(ts: float | None) -> str:
    """``5 minutes ago``, as ``docker ps``/``images`` show times; empty for none."""
    import time
    if not ts:
        return ""
    secs = int(time.time() - ts)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= size:
            return f"{secs // size} {unit} ago"
    return f"{secs} seconds ago"


def version_line() -> str:
    """What ``nsrun version`` prints: ``nsrun 0.1.0 (python 3.11.2)``."""
    from . import __version__
    return f"nsrun {__version__} (python {sys.version.split()[0]})"
