"""Docker's multiplexed stream framing, the one reader and writer of it: ``container.log``, the daemon's attach
and logs bodies, the -H client. A frame is an 8-byte header ``[stream, 0, 0, 0, size (big-endian u32)]`` then
``size`` bytes; stream 1 = stdout, 2 = stderr.

``container.log`` adds one record kind to it: a ``TIME`` frame (stream 16, 8 bytes: the write's time in ns
since the epoch, big-endian) before each output frame (``log_record``), so that logs can show ``--timestamps``
and honour ``--since``/``--until``. ``read_log`` reads such a log (or an older one without them) and never
shows the ``TIME`` frames: what leaves the daemon is Docker's framing."""
from __future__ import annotations

import struct
from typing import BinaryIO, Callable, Iterator

__all__ = ["STDOUT", "STDERR", "TIME", "frame", "log_record", "stamp", "split_frames", "read_frames", "read_log"]

STDOUT, STDERR, TIME = 1, 2, 16
_HEADER = struct.Struct(">BxxxL")
_NS = struct.Struct(">Q")


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


def log_record(stream: int, data: bytes, now_ns: int) -> bytes:
    """What one write of the container's output adds to ``container.log``: its time, then its frame (written
    with one ``write`` call)."""
    return _HEADER.pack(TIME, 8) + _NS.pack(now_ns) + _HEADER.pack(stream, len(data)) + data


def stamp(ns: int) -> bytes:
    """A log line's time as Docker shows it: ``2026-11-29T00:08:16.178844314Z `` (UTC, nanoseconds)."""
    import time
    t = time.gmtime(ns // 1_000_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', t)}.{ns % 1_000_000_000:09d}Z ".encode()


def read_log(f: BinaryIO, times: bool = False) -> Iterator[tuple[int, bytes]] | Iterator[tuple[int, bytes, int]]:
    """Records of a log file up to its current end: (stream, data), or with ``times`` (stream, data, ns: 0
    for a record written before logs had times). A partial record at the end is left for the next call."""
    ts = 0
    start = f.tell()
    for stream, data in read_frames(f.read, f.seek, f.tell):
        if stream == TIME:
            ts = _NS.unpack(data)[0] if len(data) == 8 else 0
            continue
        start = f.tell()
        yield (stream, data, ts) if times else (stream, data)
        ts = 0
    if ts:  # a time without its frame yet (read while it was being written): read both again next time
        f.seek(start)
