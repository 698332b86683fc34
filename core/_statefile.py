"""A container record's ``state.json``: read it, and replace some of its fields under the record's lock — with
os calls and ``_jsonlite`` only, so the light commands (``nsrun-oci start``) change a record without importing
``_state``'s dependencies. ``_state.Record`` reads and writes through here too: one format, one lock.

The record's lock is a flock on its directory (no lock file to create); ``state.json`` is rewritten whole
(a temporary file, then ``os.replace``), as ``json.dump(indent=1)`` writes it.
"""
from __future__ import annotations

import fcntl
import os

from ._jsonlite import dumps, loads

__all__ = ["read_state", "read_text", "update_state", "write_json", "lock_dir", "lock_file"]

_CHUNK = 1 << 16


def read_text(path: str) -> str:
    """A whole (small) file as UTF-8 text, with one open, read and close and no Python file object (a
    quarter of ``open(path).read()``'s time: ``stats`` and ``ps`` read two files a record). OSError as open's;
    UnicodeDecodeError (a ValueError) for bytes that are not UTF-8."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, _CHUNK)
        if len(data) == _CHUNK:  # larger than a record's files usually are: read on
            parts = [data]
            while data:
                data = os.read(fd, _CHUNK)
                parts.append(data)
            data = b"".join(parts)
    finally:
        os.close(fd)
    return data.decode()


def write_json(path: str, data: object) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(dumps(data, indent=1))
    os.replace(tmp, path)


def read_state(cdir: str) -> dict:
    """The record's state; ``{"status": "dead"}`` when it cannot be read (a record half made or half removed)."""
    try:
        state = loads(read_text(os.path.join(cdir, "state.json")))
    except (OSError, ValueError):
        return {"status": "dead"}
    return state if isinstance(state, dict) else {"status": "dead"}


def lock_dir(cdir: str) -> int:
    """Take the record's lock (blocking); the fd to close to release it."""
    return _flocked(os.open(cdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))


def lock_file(path: str) -> int:
    """Take an exclusive lock on the lock file ``path`` (made when missing; blocking); the fd to close."""
    return _flocked(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _flocked(fd: int) -> int:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def update_state(cdir: str, fields: dict, info_patch: dict | None = None) -> dict:
    """Replace ``fields`` of the state and merge ``info_patch`` into its ``info`` (what another process added
    meanwhile stays), under the record's lock; the new state."""
    fd = lock_dir(cdir)
    try:
        current = read_state(cdir)
        current.update(fields)
        if info_patch:
            current["info"] = {**(current.get("info") or {}), **info_patch}
        write_json(os.path.join(cdir, "state.json"), current)
        return current
    finally:
        os.close(fd)
