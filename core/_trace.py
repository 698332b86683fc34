"""Per-phase timing of one nsrun start, printed to stderr when ``NSRUN_TRACE=1`` (or ``--debug``); a detached
container's supervisor writes it to ``trace.txt`` in the container's directory.

Costs one environment lookup when off. ``T0`` is the interpreter's own start, taken from /proc, so the
report includes interpreter start-up and imports.
"""
from __future__ import annotations

import os
import sys
import time
TYPE_CHECKING = False  # no typing import at run time: this module is on every path
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["enabled", "phase", "report", "enable"]

enabled = bool(os.environ.get("NSRUN_TRACE"))
_marks: list[tuple[str, float]] = []
_t_import = time.perf_counter()


def enable() -> None:
    global enabled
    enabled = True


def _process_start() -> float:
    """Seconds between this process's start and now, from /proc/self/stat and the boot clock."""
    try:
        with open("/proc/self/stat", "rb") as f:
            raw = f.read()
        ticks = int(raw[raw.rindex(b")") + 2:].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


_inner: list[float] = []  # per open phase: time spent in the phases nested in it


class phase:
    """``with phase(name):`` times a phase. A phase's figure is its own time: phases nested in it are
    reported on their own and left out of it, so the reported figures add up to the run's wall time.
    (A class, not ``contextlib.contextmanager``: this module is imported on every path, contextlib is not.)"""

    __slots__ = ("name", "start")

    def __init__(self, name: str) -> None:
        self.name, self.start = name, 0.0

    def __enter__(self) -> None:
        if enabled:
            self.start = time.perf_counter()
            _inner.append(0.0)

    def __exit__(self, *exc: object) -> None:
        if not enabled or not self.start:
            return
        total = time.perf_counter() - self.start
        own = total - _inner.pop()
        if _inner:
            _inner[-1] += total
        _marks.append((self.name, own))


def report(file: TextIO | None = None) -> None:
    """Print the phases (to stderr, or ``file``: a detached container's supervisor writes ``trace.txt``)."""
    if not enabled:
        return
    total = _process_start()
    before = total - (time.perf_counter() - _t_import)
    lines = [f"nsrun trace (ms): interpreter+imports until core {before * 1000:7.2f}"]
    for name, value in _marks:
        lines.append(f"  {name:<28} {value * 1000:8.2f}")
    lines.append(f"  {'(between phases)':<28} {(total - before - sum(v for _, v in _marks)) * 1000:8.2f}")
    print("\n".join(lines), file=file or sys.stderr)
