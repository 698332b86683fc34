"""The write side of the program cache (a miss): record the libseccomp that compiled a program, then store
the program atomically under its key. The read side (a hit: key, lookup) is in the plugin's ``__init__``,
on the path of every start, so that a start imports nothing more.

Layout: ``<root>/cache/seccomp/<key>.bpf`` holds ``b"<load flags>\\n"`` followed by the BPF program;
``<root>/cache/seccomp/libseccomp`` holds the path and version of the libseccomp that compiled them.
The cache keeps at most ``KEEP`` programs: each miss drops the oldest beyond that (a dropped program is
compiled again on its next use), so containers started with ever-new profile files cannot fill the root.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Callable, Iterator

__all__ = ["LIBRARY", "KEEP", "store", "compiling", "prune"]

LIBRARY = "libseccomp"
KEEP = 32  # programs kept: the default profile's few variants (capability sets, architectures) and more


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
    prune(directory, keep=KEEP, spare=key + ".bpf")


def prune(directory: str, keep: int, spare: str) -> list[str]:
    """Remove the oldest programs (by modification time) beyond the ``keep`` newest, never ``spare`` (the
    one just stored); the names removed. Called under the compile lock; a file another process removed
    first is skipped."""
    entries = []
    for name in os.listdir(directory):
        if name.endswith(".bpf") and name != spare:
            with contextlib.suppress(FileNotFoundError):
                entries.append((os.stat(os.path.join(directory, name)).st_mtime_ns, name))
    entries.sort(reverse=True)
    removed = []
    for _, name in entries[max(keep - 1, 0):]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
    return removed


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)
