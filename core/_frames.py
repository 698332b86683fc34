"""Docker's multiplexed stream framing, the one reader and writer of it: ``container.log``, the daemon's attach
and logs bodies, the -H client. A frame is an 8-byte header ``[stream, 0, 0, 0, size (big-endian u32)]`` then
``size`` bytes; stream 1 = stdout, 2 = stderr."""
from __future__ import annotations

import struct
from typing import BinaryIO, Callable, Iterator

__all__ = ["STDOUT", "STDERR", "frame", "split_frames", "read_frames"]

STDOUT, STDERR = 1, 2
_HEADER = struct.Struct(">BxxxL")


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


def split_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The whole frames at the start of ``buf`` as (stream, data), and what is left (a partial frame)."""
    out = []
    pos = 0
    while len(buf) - pos >= 8:
        stream, size = _HEADER.unpack_from(buf, pos)
        if len(buf) - pos - 8 < size:
            break
        out.append((stream, buf[pos + 8:pos + 8 + size]))
        pos += 8 + size
    return out, buf[pos:]


def read_frames(read: Callable[[int], bytes], rewind: Callable[[int], object] | None = None,
                tell: Callable[[], int] | None = None) -> Iterator[tuple[int, bytes]]:
    """(stream, data) read with ``read(n)`` until the data ends. For a file that is still being written
    (``rewind``/``tell`` given: a log), a partial frame at its end is left for the next call."""
    while True:
        pos = tell() if tell else 0
        header = read(8)
        if len(header) < 8:
            if rewind:
                rewind(pos)
            return
        stream, size = _HEADER.unpack(header)
        data = read(size) if size else b""
        if len(data) < size:
            if rewind:
                rewind(pos)
            return
        yield stream, data


def read_log(f: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Frames of a log file up to its current end (a partial frame at the end is left for the next call)."""
    return read_frames(f.read, f.seek, f.tell)
