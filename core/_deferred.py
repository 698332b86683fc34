"""File descriptors whose last close should not hold up this process's exit.

Closing some kernel objects blocks: the release of an nf_tables netlink socket waits for nf_tables' deferred
destruction of what the socket deleted (an RCU grace period, ~10 ms here) when it comes right after the
delete. A plugin that knows it made such a socket calls ``defer_close(fd)``; just before the process leaves
(``hand_over``, called on nsrun's ``os._exit`` paths), a small child takes those descriptors and closes them once
this process is gone, so the wait happens there and nobody waits for it. What the socket did is already
committed: only the kernel's freeing of old objects is left.
"""
from __future__ import annotations

import os

__all__ = ["defer_close", "hand_over"]

_FDS: dict[int, int] = {}   # fd -> inode of what it referred to when registered


def _inode(fd: int) -> int | None:
    try:
        return os.fstat(fd).st_ino
    except OSError:
        return None


def defer_close(fd: int) -> None:
    """Let ``fd`` (still used by its owner until the end) be closed after this process exits."""
    if (ino := _inode(fd)) is not None:
        _FDS[fd] = ino


def hand_over() -> None:
    """[just before os._exit] Pass the registered descriptors that still refer to what they referred to
    when registered to a child that closes them once this process is gone. Never raises."""
    fds = [fd for fd, ino in _FDS.items() if _inode(fd) == ino]
    _FDS.clear()
    if not fds:
        return
    try:
        from ._spawn import hold_after_exit
        hold_after_exit(fds)
    except OSError:
        pass  # then this process closes them itself on exit, as it always could
