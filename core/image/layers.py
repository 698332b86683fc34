"""Layer directories keyed by chain id: ``<root>/layers/<hex>/diff`` (the unpacked content, an overlayfs lower
layer) and ``<root>/layers/<hex>/layer.json`` (chain id, diff id, size, created).

chainid(L0) = diffid(L0); chainid(Ln) = sha256(chainid(Ln-1) + " " + diffid(Ln)) (the OCI image spec's), so a
layer directory stands for a whole stack below it and images sharing a base share its directories.

Each layer is unpacked once, into a staging directory ``<hex>.tmp*`` beside the finished ones, which its maker
holds flocked while filling it, then renamed into place. Concurrent unpacks of one layer (threads of one
process, or processes) are safe: the first rename wins, the others throw their copy away. A maker killed at
any point leaves only an unlocked staging directory, which ``collect_staging`` (gc) removes. ``remove``
renames the directory away first, so a half-deleted layer is never seen as present.

``<root>/layers`` carries the file system's "top of a directory hierarchy" flag (``chattr +T``, where the file
system has it: ext4, ext2/3) so that ext4's Orlov allocator places each staging directory, and the layer's
files with it, in a block group of its own choosing instead of the group of ``layers/``. Where many files
were deleted recently (a removed image, a reset root) ext4 without a journal skips every recently deleted
inode of a group one by one while allocating a new one: creating a file there costs ~300 us instead of ~20.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from typing import IO, Any, Iterator

from .._context import Paths
from ..errors import ConfigError, NotFoundError

__all__ = ["Layers", "chain_ids", "chain_id", "check_digest", "update_meta"]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(digest: str, what: str = "digest") -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ConfigError(f"invalid {what}: {digest!r}")
    return digest


def chain_id(parent: str | None, diff_id: str) -> str:
    """The chain id of a layer ``diff_id`` on top of the layer whose chain id is ``parent`` (None: the base)."""
    check_digest(diff_id, "diff_id")
    if parent is None:
        return diff_id
    import hashlib
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ids of a stack of layers given bottom-most first."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else None, diff_id))
    return out


class Layers:
    """The layer directories of one nsrun root. Thread-safe."""

    def __init__(self, paths: Paths) -> None:
        self.dir = os.path.join(paths.root, "layers")

    # -- looking -------------------------------------------------------------------------------------------
    def _home(self, chain: str) -> str:
        return os.path.join(self.dir, check_digest(chain, "chain id")[7:])

    def has(self, chain: str) -> bool:
        return os.path.isdir(self._home(chain))

    def path(self, chain: str) -> str:
        """The layer's content directory (an overlay lowerdir); it need not exist (see ``has``)."""
        return os.path.join(self._home(chain), "diff")

    def meta(self, chain: str) -> dict[str, Any]:
        try:
            with open(os.path.join(self._home(chain), "layer.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise NotFoundError(f"no such layer: {chain}") from None

    def set_meta(self, chain: str, **fields: Any) -> dict[str, Any]:
        """Add ``fields`` to a finished layer's ``layer.json`` (e.g. the blob made from it, so it is made once);
        the updated record. The file is replaced by rename: readers never see half of it."""
        return update_meta(self._home(chain), **fields)

    def chain_ids(self, diff_ids: list[str]) -> list[str]:
        return chain_ids(diff_ids)

    def list(self) -> list[str]:
        """Chain ids of the finished layers."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted("sha256:" + n for n in names if len(n) == 64 and "." not in n)

    # -- making --------------------------------------------------------------------------------------------
    def unpack(self, fileobj: IO[bytes], diff_id: str | None = None, chain_id_: str | None = None, *,
               parent: str | None = None, devices: bool = True) -> dict[str, Any]:
        """Unpack the layer tar stream ``fileobj`` (gzip, zstd or plain) as the layer ``chain_id_``; return its
        ``layer.json``. A layer already present is not unpacked again (``fileobj`` is left unread).

        With ``diff_id`` given, the stream must hash to it (else ConfigError, and nothing is kept); with
        ``diff_id=None`` it is computed, and the chain id follows from ``parent`` (the chain id of the layer
        below, None for a base layer). ``chain_id_`` defaults to the one ``diff_id`` and ``parent`` give."""
        from .unpack import unpack
        if diff_id is not None:
            chain = chain_id_ or chain_id(parent, diff_id)
            if self.has(chain):
                return self.meta(chain)
        elif chain_id_ is not None:
            raise ConfigError("a chain id without its diff_id")
        if parent is not None:
            check_digest(parent, "parent chain id")
        with self._staging() as tmp:
            done = unpack(fileobj, os.path.join(tmp, "diff"), diff_id, devices=devices)
            chain = chain_id_ or chain_id(parent, done.diff_id)
            meta = {"chain_id": chain, "diff_id": done.diff_id, "parent": parent, "size": done.size,
                    "files": done.files, "created": time.time()}
            with open(os.path.join(tmp, "layer.json"), "w") as f:
                json.dump(meta, f)
            try:
                os.rename(tmp, self._home(chain))
            except OSError as exc:  # another unpack of the same layer finished first: keep its copy
                if not self.has(chain):
                    raise
                del exc
                import shutil
                shutil.rmtree(tmp, ignore_errors=True)
                return self.meta(chain)
            return meta

    def remove(self, chain: str) -> bool:
        """Delete a layer directory (the caller made sure no image uses it); False if it was not there."""
        import shutil
        import tempfile
        home = self._home(chain)
        if not os.path.isdir(home):
            return False
        with self._lock():
            gone = tempfile.mkdtemp(prefix=os.path.basename(home) + ".tmprm", dir=self.dir)
            try:
                os.rename(home, os.path.join(gone, "layer"))  # out of sight at once; gc finishes a killed rm
            except FileNotFoundError:
                os.rmdir(gone)
                return False
        shutil.rmtree(gone, ignore_errors=True)
        return True

    @contextlib.contextmanager
    def scratch(self) -> Iterator[str]:
        """A fresh staging directory (``DIR/diff`` made, empty) to fill with changes that ``commit.new_layer``
        turns into a layer; flocked while in use and removed after, so gc tells a dead builder's apart."""
        import shutil
        with self._staging() as tmp:
            try:
                yield tmp
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    # -- staging and gc ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        import fcntl
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _staging(self) -> Iterator[str]:
        """A fresh directory (unique per call) flocked while it is filled; removed when filling it fails."""
        import fcntl
        import shutil
        import tempfile
        with self._lock():  # made and locked under the lock, so gc (which takes it too) never sees it unlocked
            _mark_top(self.dir)
            tmp = tempfile.mkdtemp(prefix="layer.tmp", dir=self.dir)
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.chmod(tmp, 0o700)
            os.mkdir(os.path.join(tmp, "diff"), 0o755)
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            os.close(fd)

    def collect_staging(self) -> list[str]:
        """[gc] Remove staging and half-removed directories whose maker is gone (their flock is free)."""
        return collect_staging(self.dir, self._lock, "unfinished layer directory")


_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def _mark_top(directory: str) -> None:
    """Set ``FS_TOPDIR_FL`` on ``directory`` (a placement hint: see the module docstring); file systems
    without inode flags, or without that one, are left as they are."""
    import fcntl
    import struct
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, b"\0" * 4))[0]
        if not flags & _FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("i", flags | _FS_TOPDIR_FL))
    except OSError:
        pass  # tmpfs, overlayfs, xfs...: no such flag; only the placement differs
    finally:
        os.close(fd)


def update_meta(home: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``<home>/layer.json`` (a layer directory); the new record."""
    path = os.path.join(home, "layer.json")
    try:
        with open(path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise NotFoundError(f"no such layer: {os.path.basename(home)}") from None
    meta.update(fields)
    tmp = f"{path}.{os.getpid()}.{os.urandom(3).hex()}"
    with open(tmp, "w") as f:
        json.dump(meta, f)
    os.rename(tmp, path)
    return meta


def collect_staging(directory: str, lock: Any, what: str) -> list[str]:
    """Remove the ``*.tmp*`` entries of ``directory`` that no live process holds flocked, under ``lock()``."""
    import errno
    import fcntl
    import shutil
    lines: list[str] = []
    if not os.path.isdir(directory):
        return lines
    with lock():
        for entry in os.listdir(directory):
            path = os.path.join(directory, entry)
            if ".tmp" not in entry:
                continue
            if not os.path.isdir(path) or os.path.islink(path):
                os.unlink(path)  # a record written under the lock by a writer that died before its rename
                lines.append(f"removed unfinished file {entry}")
                continue
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # being made right now
                raise
            finally:
                os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            lines.append(f"removed {what} {entry}")
    return lines
