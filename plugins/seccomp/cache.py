"""Compiled filters, cached: ``<root>/cache/seccomp/<key>.bpf``, one per profile and host.

The key is a SHA-256 over everything the program depends on: the profile's bytes, the native architecture,
the container's capability set and the kernel release (``includes``/``excludes`` are evaluated against
them) and the identity of the libseccomp that compiled it (the file holding it, its version,
plus size and mtime). A hit costs a few reads and a hash; nothing imports libseccomp (``compile``) unless the
key is new. An entry is ``b"<load flags>\\n"`` followed by the BPF program, written atomically.

Why under the root and not in the user's ~/.cache: the entry decides what the kernel lets containers do, so
it belongs with the root's images and state (writable only by whoever owns that root), goes away with the
root, and two roots never share an entry.
"""
from __future__ import annotations

import os
from typing import Callable

__all__ = ["cache_dir", "key", "get", "put"]

_VERSION = b"nsrun-seccomp-1"
_LIBRARY = "libseccomp"  # a file beside the entries: the libseccomp path recorded at the last compile


def _sha256(data: bytes) -> str:
    try:  # the builtin module: hashlib loads OpenSSL first (~2.5 ms)
        from _sha256 import sha256
    except ImportError:
        from hashlib import sha256
    return sha256(data).hexdigest()


def cache_dir(root: str) -> str:
    return os.path.join(root, "cache", "seccomp")


def _library_identity(directory: str) -> bytes | None:
    """``path:version:size:mtime`` of the libseccomp recorded at the last compile, as it is now."""
    try:
        with open(os.path.join(directory, _LIBRARY), "rb") as f:
            path, _, version = f.read().decode().partition("\n")
        st = os.stat(path)
    except (OSError, UnicodeDecodeError):
        return None
    return f"{path}:{version}:{st.st_size}:{st.st_mtime_ns}".encode()


def key(directory: str, profile: bytes, arch: str, caps: frozenset[str], kernel: str) -> str | None:
    """The entry name for these inputs, or None when no libseccomp was recorded yet (nothing can hit)."""
    lib = _library_identity(directory)
    if lib is None:
        return None
    parts = [_VERSION, profile, arch.encode(), ",".join(sorted(caps)).encode(), kernel.encode(), lib]
    return _sha256(b"\0".join(p.replace(b"\\", b"\\\\").replace(b"\0", b"\\0") for p in parts))


def get(directory: str, entry: str | None) -> tuple[int, bytes] | None:
    """``(load flags, program)`` of a cached entry, or None."""
    if entry is None:
        return None
    try:
        with open(os.path.join(directory, entry + ".bpf"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    flags, sep, program = data.partition(b"\n")
    if not sep or not flags.isdigit() or not program or len(program) % 8:
        return None  # torn or foreign: compile again
    return int(flags), program


def put(directory: str, library: str, version: str, entry_for: Callable[[], str | None], flags: int,
        program: bytes) -> None:
    """Record ``library`` (the file holding the libseccomp that compiled ``program``) and its ``version``,
    then store the entry under the key ``entry_for()`` gives once that is recorded. Atomic: a reader sees
    the old entry or the new one, never a torn one."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    _write(os.path.join(directory, _LIBRARY), f"{library}\n{version}".encode())
    entry = entry_for()
    if entry is None:
        raise OSError("the cache's libseccomp record cannot be read back")
    _write(os.path.join(directory, entry + ".bpf"), b"%d\n" % flags + program)


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)
