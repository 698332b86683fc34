"""A layer's uncompressed tar bytes: gzip, zstd or plain (told apart by their magic bytes), decompressed and
hashed in a reader thread.

``Stream(fileobj)`` hands the unpacker the uncompressed bytes (``take``, ``copy_to``: memoryview slices of the
chunks, no copies) while a thread decompresses and hashes them (zlib, ISA-L, zstd and hashlib release the GIL,
so that work overlaps with the unpacker's file system calls); ``drain`` reads to the very end and returns the
diff_id (``sha256:<hex>`` of the whole uncompressed stream); ``close`` stops the thread. A corrupt or truncated
stream is one ``ConfigError``. ``decompressed`` gives the uncompressed chunks without a thread, ``detect`` the
kind of a stream from its first bytes.
"""
from __future__ import annotations

import os
from typing import IO, Any

from ..errors import ConfigError

__all__ = ["Stream", "decompressed", "detect", "GZIP_MAGIC", "ZSTD_MAGIC"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_IN = 1 << 20          # compressed bytes read at a time
_OUT = 1 << 20         # uncompressed bytes produced at a time (bounds memory: a 1 GB layer of zeros pulls in < 64 MB RSS)
_QUEUE = 4             # chunks in flight between the reader thread and the unpacker


def detect(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``tar`` from the first bytes of a stream."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "tar"


class _Prefixed:
    """A reader that returns ``head`` before the rest of ``raw`` (the magic bytes were read to detect)."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self.head, self.raw = head, raw

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.raw.read(n)


def _chunks(fileobj: IO[bytes]):
    """Uncompressed chunks of ``fileobj`` (each at most about ``_OUT`` bytes)."""
    head = fileobj.read(4)
    kind = detect(head)
    if kind == "gzip":
        inflater, errors = _inflater()
        try:
            yield from _gunzip(head, fileobj, inflater)
        except errors as exc:
            raise ConfigError(f"layer: cannot decompress ({exc})") from None
    elif kind == "zstd":
        import zstandard  # a dependency; imported only for zstd layers
        reader = zstandard.ZstdDecompressor().stream_reader(_Prefixed(head, fileobj), read_size=_IN,
                                                            read_across_frames=True)
        try:
            while out := reader.read(_OUT):
                yield out
        except zstandard.ZstdError as exc:
            raise ConfigError(f"layer: bad zstd stream ({exc})") from None
    else:
        if head:
            yield head
        while out := fileobj.read(_OUT):
            yield out


def _inflater() -> tuple[Any, tuple[type[BaseException], ...]]:
    """The gzip inflater (ISA-L's, ``isal``: about 2.5x zlib's speed on text, and it releases the GIL as zlib
    does; zlib where it is not installed) and the errors it raises for a corrupt stream."""
    import zlib
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib, (zlib.error,)
    return isal_zlib, (zlib.error, isal_zlib.error)


def _gunzip(head: bytes, fileobj: IO[bytes], inflater: Any):
    """The inflated chunks of a gzip stream whose first bytes ``head`` were read already."""
    d = inflater.decompressobj(wbits=31)
    readinto = getattr(fileobj, "readinto", None)
    buf = memoryview(bytearray(_IN)) if readinto is not None else None  # one input buffer, refilled in place
    data: bytes | memoryview = head
    fed = True  # the current member has started (EOF inside it is a truncation)
    while True:
        if not data:  # (what the inflater keeps of an input, unconsumed_tail or unused_data, is its own copy)
            if buf is not None:
                n = readinto(buf)
                data = buf[:n] if n else b""
            else:
                data = fileobj.read(_IN)
            if not data:
                break
        while data:
            fed = True
            out = d.decompress(data, _OUT)
            if out:
                yield out
            if d.eof:  # concatenated gzip members are one stream (as gzip -d reads them)
                data, fed = d.unused_data, False
                d = inflater.decompressobj(wbits=31)
                if data and not data.startswith(GZIP_MAGIC[:len(data)]):
                    raise ConfigError("layer: trailing garbage after the gzip stream")
            else:
                data = d.unconsumed_tail
    tail = d.flush()
    if tail:
        yield tail
    if fed and not d.eof:
        raise ConfigError("layer: the gzip stream is truncated")


def decompressed(fileobj: IO[bytes]):
    """The uncompressed bytes of a gzip, zstd or plain stream, in chunks of at most about 1 MB (ConfigError
    for a truncated or corrupt one)."""
    return _chunks(fileobj)


class Stream:
    """The uncompressed tar bytes, produced by a reader thread that also hashes them; the unpacker takes
    headers and copies file data straight from the chunks (memoryview slices, no copies)."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        import hashlib
        import queue
        import threading
        self.hasher = hashlib.sha256()
        self.q: queue.Queue = queue.Queue(_QUEUE)
        self.stop = threading.Event()
        self.buf = b""
        self.view = memoryview(b"")
        self.pos = 0
        self.done = False
        self.thread = threading.Thread(target=self._produce, args=(fileobj,), name="nsrun-unpack", daemon=True)
        self.thread.start()

    def _produce(self, fileobj: IO[bytes]) -> None:
        item: Any = None
        try:
            for chunk in _chunks(fileobj):
                self.hasher.update(chunk)
                if not self._put(chunk):
                    return
        except BaseException as exc:  # handed to the unpacker, raised there
            item = exc
        self._put(item)

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless the unpacker gave up (then False)."""
        import queue
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _more(self) -> bool:
        if self.done:
            return False
        item = self.q.get()
        if item is None:
            self.done = True
            return False
        if isinstance(item, BaseException):
            self.done = True
            import zlib
            if isinstance(item, (zlib.error, EOFError)):
                raise ConfigError(f"layer: cannot decompress ({item})") from item
            raise item  # the source's own error (a full disk, a bad blob, a cancelled pull) as it is
        rest = len(self.buf) - self.pos
        self.buf = self.buf[self.pos:] + item if rest else item
        self.view = memoryview(self.buf)
        self.pos = 0
        return True

    def take(self, n: int) -> bytes:
        pos = self.pos
        if len(self.buf) - pos >= n:
            self.pos = pos + n
            return self.buf[pos:pos + n]
        parts = [self.buf[pos:]]  # across chunks: join only the bytes asked for, never a whole chunk
        need = n - len(parts[0])
        self.pos = len(self.buf)
        while need:
            if not self._more():
                raise ConfigError("layer: not a valid tar archive (truncated)")
            k = min(need, len(self.buf))
            parts.append(self.buf[:k])
            self.pos, need = k, need - k
        return b"".join(parts)

    def copy_to(self, fd: int | None, n: int) -> None:
        """Write the next ``n`` bytes to ``fd`` (None: skip them)."""
        while n:
            avail = len(self.buf) - self.pos
            if not avail:
                if not self._more():
                    raise ConfigError("layer: not a valid tar archive (truncated)")
                continue
            k = min(avail, n)
            view = self.view[self.pos:self.pos + k] if fd is not None else b""
            while view:
                view = view[os.write(fd, view):]  # type: ignore[arg-type]
            self.pos += k
            n -= k

    def drain(self) -> str:
        """Read to the end (the diff_id covers the trailing blocks too); the digest."""
        while self._more():
            self.pos = len(self.buf)
        self.thread.join()
        return "sha256:" + self.hasher.hexdigest()

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.q.get(timeout=0.05)
            except Exception:
                pass
        self.thread.join()
