"""Hijacked connections (``attach``, ``exec start``) and log streaming.

Hijack, as dockerd does it: answer ``101 UPGRADED`` with ``Content-Type: application/vnd.docker.raw-stream``,
then the connection is a raw byte stream both ways. Client half-close is not detach (DOCKER_API.md, rule 3):
asyncio would close the transport when the client shuts down its write side, so the protocol's
``eof_received`` is replaced to keep the write side open, and the EOF becomes the end of the stdin stream.
Without a tty, output is multiplexed (8-byte frame headers, as ``container.log`` already stores it).
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator

from aiohttp import web

from .._frames import frame
from .._io import set_winsize
from .._logfile import LogReader

__all__ = ["Hijacked", "hijack", "follow_log", "open_log", "write_frames", "set_winsize", "RAW_STREAM"]

RAW_STREAM = "application/vnd.docker.raw-stream"
_HIGH_WATER = 1 << 20


class _RawReader:
    """What aiohttp feeds the upgraded connection's bytes into (the ``set_parser`` protocol)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.buf = bytearray()
        self.eof = False
        self.event = asyncio.Event()
        self.paused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.buf += data
        self.event.set()
        if len(self.buf) > _HIGH_WATER and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        return False, b""

    def feed_eof(self) -> None:
        self.eof = True
        self.event.set()

    async def read(self) -> bytes:
        """The next chunk the client sent; ``b""`` at its EOF (half-close or disconnect)."""
        while not self.buf and not self.eof:
            self.event.clear()
            await self.event.wait()
        data, self.buf = bytes(self.buf), bytearray()
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self.paused = False
        return data


class Hijacked:
    """A hijacked connection: ``write`` raw bytes to the client, ``read`` what it sends."""

    def __init__(self, request: web.Request, response: web.StreamResponse, reader: _RawReader | None) -> None:
        self.request = request
        self.response = response
        self.reader = reader
        self.transport = request.transport
        self.done = False

    def finish(self) -> None:
        """The stream is over: the connection may close (see ``_tls_half_close``)."""
        self.done = True

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    async def write(self, data: bytes) -> None:
        if self.reader is None:          # not upgraded: a plain chunked response
            await self.response.write(data)
            return
        if self.closed:
            raise ConnectionResetError("client went away")
        self.transport.write(data)
        while not self.closed and self.transport.get_write_buffer_size() > _HIGH_WATER:
            await asyncio.sleep(0.01)    # a slow reader holds only its own stream back

    async def read(self) -> bytes:
        return await self.reader.read() if self.reader is not None else b""


async def hijack(request: web.Request, extra_headers: dict[str, str] | None = None) -> Hijacked:
    """Take the connection over (``Upgrade: tcp``); a request without Upgrade gets a streamed 200 instead."""
    upgrade = "upgrade" in request.headers.get("Connection", "").lower()
    if not upgrade:
        resp = web.StreamResponse(status=200, headers={"Content-Type": RAW_STREAM})
        await resp.prepare(request)
        return Hijacked(request, resp, None)
    headers = {"Content-Type": RAW_STREAM, "Connection": "Upgrade", "Upgrade": "tcp", **(extra_headers or {})}
    resp = web.StreamResponse(status=101, reason="UPGRADED", headers=headers)
    resp.force_close()
    reader = _RawReader(request.transport)
    request.protocol.set_parser(reader)  # type: ignore[arg-type]  # hands over bytes aiohttp buffered already
    conn = Hijacked(request, resp, reader)
    if request.transport is not None:
        request.transport.set_protocol(_HijackProtocol(request.protocol, reader))
        _tls_half_close(request.transport, conn)
    await resp.prepare(request)
    return conn


def _tls_half_close(transport: Any, conn: Hijacked) -> None:
    """asyncio's TLS answers the client's close_notify (the docker CLI's CloseWrite) by shutting the whole
    connection down, which would cut the container's output off. Until the stream is done, that shutdown is
    deferred: TLS lets us keep writing after the peer's close_notify. (CPython internals; without them, TLS
    hijacks simply end at the client's half-close.)"""
    proto = getattr(transport, "_ssl_protocol", None)
    original = getattr(proto, "_start_shutdown", None)
    if proto is None or original is None:
        return

    def start_shutdown() -> None:
        if conn.done:
            original()
    try:
        proto._start_shutdown = start_shutdown
    except AttributeError:
        pass


class _HijackProtocol(asyncio.Protocol):
    """Stands in for aiohttp's protocol on a hijacked transport: bytes go to the reader, the client's EOF
    keeps our write side open (half-close is not detach), flow control and loss still reach aiohttp."""

    def __init__(self, inner: Any, reader: _RawReader) -> None:
        self.inner = inner
        self.reader = reader

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.feed_eof()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


async def follow_log(f: LogReader, until: asyncio.Future[Any] | None,
                     detached: asyncio.Future[Any] | None = None) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream, data) from a ``container.log`` opened at some offset; with ``until``, keep following
    until it is done, then drain what is left (not when ``detached`` is done and true: the client detached).
    Polls quickly while output flows, slower when idle."""
    delay = 0.002
    while True:
        got = False
        for item in f.records():
            got = True
            yield item
        if until is None:
            return
        if until.done():
            if (detached is not None and detached.done() and not detached.cancelled() and detached.exception() is None
                    and detached.result()):
                return
            for item in f.records():
                yield item
            return
        await asyncio.wait({until}, timeout=delay)
        delay = 0.002 if got else min(delay * 2, 0.05)


def open_log(path: str, from_end: bool) -> LogReader:
    """A reader of a container's log (created empty if needed) and its rotated files (``_logfile``)."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640))
    return LogReader(path, from_end=from_end)


async def write_frames(conn: Any, items: AsyncIterator[tuple[int, bytes]], tty: bool,
                       streams: tuple[bool, bool] = (True, True)) -> None:
    """Send log records to the client: raw for a tty, framed otherwise; ``streams`` = (stdout, stderr)."""
    async for stream, data in items:
        if (stream == 1 and not streams[0]) or (stream == 2 and not streams[1]):
            continue
        await conn.write(data if tty else frame(stream, data))
