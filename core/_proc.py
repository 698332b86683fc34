"""A process as the kernel shows it, by pid and start time (os calls only: the light commands read it before
they import anything else). ``_state`` records ``pid`` + ``pid_start``; these tell that process from a later one
that reuses its pid."""
from __future__ import annotations

import os

__all__ = ["process_start_time", "alive"]


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), to tell a reused pid apart.
    None for a process that does not exist or is a zombie (dead, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(pid: int | None, start: int | None) -> bool:
    return bool(pid) and start is not None and process_start_time(pid) == start  # type: ignore[arg-type]
