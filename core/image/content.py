"""A content-addressed blob store: ``<root>/content/blobs/sha256/<hex>``, shared by every image of a root.

A blob only ever appears under its digest complete and verified: a ``Writer`` streams into a partial file
under ``content/ingest/``, hashing as it goes (nothing is held in memory), and on a clean exit checks the
size and sha256 it was promised and renames the partial into place (atomic; two writers of the same digest
both succeed, one rename wins). Any error removes the partial. A partial is flocked for as long as its
writer lives, so ``collect_ingest()`` (for ``gc``) removes exactly the partials of dead writers: a writer
killed with ``kill -9`` at any point leaves nothing once gc has run.

Digests are ``sha256:<64 hex>``; anything else is refused before it can name a path.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
from typing import Any, BinaryIO, Iterator

from ..errors import ConfigError, NotFoundError, NsrunError

__all__ = ["Content", "Writer", "BlobError", "check_digest", "sha256_digest"]

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_CHUNK = 1 << 20


class BlobError(NsrunError):
    """A blob's bytes do not match what was promised (wrong digest, truncated, too long)."""


def check_digest(digest: str) -> str:
    """The hex part of a ``sha256:<hex>`` digest; ConfigError for anything else."""
    m = _DIGEST.fullmatch(digest or "") if isinstance(digest, str) else None
    if m is None:
        raise ConfigError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return m.group(1)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Content:
    """The blob store under ``<root>/content`` (``root`` is ``Paths.root``)."""

    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "content")
        self.blobs = os.path.join(self.dir, "blobs", "sha256")
        self.ingest = os.path.join(self.dir, "ingest")

    def _blob(self, digest: str) -> str:
        return os.path.join(self.blobs, check_digest(digest))

    def has(self, digest: str) -> bool:
        return os.path.isfile(self._blob(digest))

    def path(self, digest: str) -> str:
        """The file of a stored blob (NotFoundError when absent)."""
        path = self._blob(digest)
        if not os.path.isfile(path):
            raise NotFoundError(f"blob {digest} is not in the content store")
        return path

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._blob(digest), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the content store") from None

    def size(self, digest: str) -> int:
        return os.stat(self.path(digest)).st_size

    def read_bytes(self, digest: str) -> bytes:
        """A small blob (a manifest or config) whole."""
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected_digest: str | None = None, expected_size: int | None = None) -> "Writer":
        """A context manager that streams one blob in (see ``Writer``)."""
        if expected_digest is not None:
            check_digest(expected_digest)
        return Writer(self, expected_digest, expected_size)

    def put_bytes(self, data: bytes, expected_digest: str | None = None) -> str:
        """Store ``data``; its digest."""
        with self.writer(expected_digest, len(data)) as w:
            w.write(data)
        return w.digest

    def delete(self, digest: str) -> bool:
        """Remove a blob; False when it was not there."""
        try:
            os.unlink(self._blob(digest))
            return True
        except FileNotFoundError:
            return False

    def digests(self) -> Iterator[str]:
        """Every stored blob's digest."""
        try:
            names = os.listdir(self.blobs)
        except FileNotFoundError:
            return
        for name in names:
            if re.fullmatch(r"[0-9a-f]{64}", name):
                yield f"sha256:{name}"

    def lease(self) -> Lease:
        """See ``Lease``: hold it while blobs are written that no record names yet."""
        return Lease(self)

    def collect_unused(self, keep: set[str], also: Any = None) -> list[str]:
        """Delete every blob whose digest is not in ``keep``, and call ``also()`` (more to collect under the
        same guarantee); the digests deleted. Does nothing (returns []) while a pull holds a lease."""
        path = os.path.join(self.dir, "lease.lock")
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return []
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []
            removed = [d for d in list(self.digests()) if d not in keep and self.delete(d)]
            if also is not None:
                also()
            return removed
        finally:
            os.close(fd)

    def collect_ingest(self) -> list[str]:
        """Remove the partial files of writers that are gone (their flock is free); the names removed. The
        ingest directory's lock keeps a writer from being collected between creating its partial and
        locking it."""
        removed: list[str] = []
        try:
            names = os.listdir(self.ingest)
        except FileNotFoundError:
            return removed
        with _DirLock(self.dir, fcntl.LOCK_EX):
            for name in names:
                path = os.path.join(self.ingest, name)
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer
                else:
                    try:  # the writer may have finished (renamed it away) while we waited
                        os.unlink(path)
                        removed.append(name)
                    except FileNotFoundError:
                        pass
                finally:
                    os.close(fd)
        return removed


class Lease:
    """``content/lease.lock`` held shared by a pull (or push) for its whole run: the blobs it wrote are not yet
    named by any image record, so ``collect_unused`` (which needs it exclusively) leaves every blob alone while
    any lease is held. A lease dies with its holder (a flock), so kill -9 never leaves one behind."""

    def __init__(self, content: "Content") -> None:
        self.path = os.path.join(content.dir, "lease.lock")

    def __enter__(self) -> "Lease":
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


class _DirLock:
    """``content/ingest.lock``: writers hold it shared while they create and lock a partial; gc exclusive."""

    def __init__(self, directory: str, mode: int) -> None:
        self.path = os.path.join(directory, "ingest.lock")
        self.mode = mode

    def __enter__(self) -> "_DirLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, self.mode)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


class Writer:
    """One blob being written: ``with content.writer(digest, size) as w: w.write(chunk)...``.

    ``write`` hashes and counts as it goes and refuses more bytes than ``expected_size``; ``check()`` (called
    on a clean exit, callable earlier) raises BlobError when the size or digest differ. After a clean exit
    ``digest`` and ``size`` describe the stored blob. Any exception removes the partial; nothing is left.
    """

    def __init__(self, content: Content, expected_digest: str | None, expected_size: int | None) -> None:
        self.content = content
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        self.size = 0
        self.digest: str | None = None
        self._hash = hashlib.sha256()
        self._fd = -1
        self._partial = ""

    def __enter__(self) -> "Writer":
        os.makedirs(self.content.ingest, exist_ok=True)
        os.makedirs(self.content.blobs, exist_ok=True)
        with _DirLock(self.content.dir, fcntl.LOCK_SH):
            name = (self.expected_digest or "sha256:unknown")[7:19] + "-" + os.urandom(6).hex()
            self._partial = os.path.join(self.content.ingest, name)
            self._fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def write(self, data: bytes | memoryview) -> int:
        n = len(data)
        if self.expected_size is not None and self.size + n > self.expected_size:
            raise BlobError(f"blob {self._what()} is longer than the {self.expected_size} bytes promised")
        self._hash.update(data)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += n
        return n

    def _what(self) -> str:
        return self.expected_digest or "(unnamed)"

    def check(self) -> str:
        """Raise BlobError unless what was written is exactly the promised blob; its digest."""
        digest = "sha256:" + self._hash.hexdigest()
        if self.expected_size is not None and self.size != self.expected_size:
            raise BlobError(f"blob {self._what()} is truncated: {self.size} of {self.expected_size} bytes")
        if self.expected_digest is not None and digest != self.expected_digest:
            raise BlobError(f"blob {self.expected_digest} failed verification: its content hashes to {digest}")
        return digest

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc_type is None:
                digest = self.check()
                os.fsync(self._fd)
                os.rename(self._partial, os.path.join(self.content.blobs, digest[7:]))
                self.digest = digest
                self._partial = ""
        finally:
            os.close(self._fd)
            if self._partial:
                try:
                    os.unlink(self._partial)
                except OSError as err:
                    if err.errno != errno.ENOENT:
                        raise
