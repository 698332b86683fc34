"""The bodies of ``nsrun stats`` and ``nsrun top``, shared by the click commands (``stats.cli``) and the console
entry's click-free path (``_entry``), so both print the same bytes.

They take plain values and an engine (the embedded ``Engine`` or, with ``-H``, the daemon's ``RemoteEngine``),
write to stdout and return the exit status; ``NsrunError`` propagates (the caller prints it as one line).
Imports nothing heavy: this module is on the fast path of ``nsrun stats``.
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the fast path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["show_stats", "show_top"]

_CLEAR = "\033[2J\033[H"


def show_stats(engine: Any, names: list[str], no_stream: bool) -> int:
    """The table of ``docker stats`` for ``names`` (every running container when empty): one frame with
    ``no_stream``, else a frame a second, redrawn in place on a terminal (into a pipe each follows the last)."""
    from .._console import format_table
    from .table import HEADER, row
    tty = sys.stdout.isatty()
    for frame in engine.stats(list(names), stream=not no_stream):
        text = format_table([HEADER, *(row(s) for s in frame)])
        sys.stdout.write((_CLEAR if tty and not no_stream else "") + text + "\n")
        sys.stdout.flush()
    return 0


def show_top(engine: Any, name: str, ps_args: list[str]) -> int:
    """The processes of the running container ``name`` as ``ps`` shows them (``-ef`` without ``ps_args``)."""
    from .._console import format_table
    result = engine.top(name, " ".join(ps_args) or None)
    sys.stdout.write(format_table([result["Titles"], *result["Processes"]]) + "\n")
    sys.stdout.flush()
    return 0
