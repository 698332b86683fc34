"""The write side of the program cache (a miss): record the libseccomp that compiled a program, then store
the program atomically under its key. The read side (a hit: key, lookup) is in the plugin's ``__init__``,
on the path of every start, so that a start imports nothing more.

Layout: ``<root>/cache/seccomp/<key>.bpf`` holds ``b"<load flags>\\n"`` followed by the BPF program;
``<root>/cache/seccomp/libseccomp`` holds the path and version of the libseccomp that compiled them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Callable, Iterator

__all__ = ["LIBRARY", "store", "compiling"]

LIBRARY = "libseccomp"


@contextlib.contextmanager
def compiling(directory: str) -> Iterator[None]:
    """Hold the cache's lock (``flock`` on ``.lock``) while compiling: the daemon creates containers in
    threads, and five first creates would otherwise compile the same profile five times, each holding the
    GIL for most of its ~80 ms. The waiters sleep in ``flock`` (no GIL) and then find the entry made.
    Without a writable cache directory it compiles unlocked."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def store(directory: str, library: str, version: str, key_for: Callable[[], str | None], flags: int,
          program: bytes) -> None:
    """Record ``library`` (the file holding the libseccomp that compiled ``program``) and its ``version``,
    then store the entry under the key ``key_for()`` gives once that is recorded. Atomic: a reader sees
    the old entry or the new one, never a torn one."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    _write(os.path.join(directory, LIBRARY), f"{library}\n{version}".encode())
    key = key_for()
    if key is None:
        raise OSError("the cache's libseccomp record cannot be read back")
    _write(os.path.join(directory, key + ".bpf"), b"%d\n" % flags + program)


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)
