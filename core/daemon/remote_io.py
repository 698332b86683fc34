"""The terminal side of ``nsrun -H run`` / ``exec``: relay a hijacked connection to our stdio.

Without a tty the daemon sends 8-byte framed stdout/stderr, which go to our fd 1 / fd 2; with a tty, raw bytes
(and our terminal goes raw while they flow). Our stdin goes up only with ``-i``; its EOF becomes a half-close,
which the daemon passes on as the container's stdin EOF. Signals we get (INT, TERM, ...) are sent to the
container, as the embedded CLI forwards them.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
from typing import Any

from .._frames import split_frames
from .._signals import FORWARDED
from .transport import Conn

__all__ = ["relay", "run_attached"]


def _pump_stdin(sock: socket.socket) -> None:
    try:
        while data := os.read(0, 65536):
            sock.sendall(data)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def relay(sock: socket.socket, *, tty: bool, interactive: bool) -> None:
    """Copy the container's output to our stdout/stderr until the daemon closes the stream."""
    saved = None
    if interactive:
        if tty and os.isatty(0):
            import termios
            import tty as tty_mod
            saved = termios.tcgetattr(0)
            tty_mod.setraw(0)
        threading.Thread(target=_pump_stdin, args=(sock,), daemon=True).start()
    else:
        sock.shutdown(socket.SHUT_WR)
    buf = b""
    try:
        while data := sock.recv(65536):
            if tty:
                _write_all(1, data)
                continue
            frames, buf = split_frames(buf + data)
            for stream, payload in frames:
                _write_all(2 if stream == 2 else 1, payload)
    except ConnectionError:
        pass
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sock.close()


def _resize(engine: Any, cid: str) -> None:
    try:
        size = os.get_terminal_size(0)
    except OSError:
        return
    rows, cols = size.lines, size.columns
    if rows and cols:
        engine.request("POST", f"/containers/{cid}/resize", query={"h": rows, "w": cols})


def run_attached(engine: Any, cid: str, *, tty: bool, interactive: bool, remove: bool) -> int:
    """attach, wait (headers first), start, relay; the exit code comes from wait, as with the docker CLI."""
    query = "stream=1&stdout=1&stderr=1" + ("&stdin=1" if interactive else "")
    sock = engine.hijack(f"/containers/{cid}/attach?{query}")
    waiter = Conn(engine.host)
    waiter.request("POST", f"/containers/{cid}/wait?condition={'removed' if remove else 'next-exit'}")
    wresp = waiter.getresponse()
    try:
        engine.request("POST", f"/containers/{cid}/start")
    except BaseException:
        sock.close()
        raise
    if tty:
        _resize(engine, cid)

    def forward(signum: int, _frame: object) -> None:
        try:
            engine.request("POST", f"/containers/{cid}/kill", query={"signal": signum})
        except Exception:  # noqa: BLE001 - the container may be gone already
            pass
    saved = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        relay(sock, tty=tty, interactive=interactive)
        result = json.loads(wresp.read() or b"{}")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        waiter.close()
    return int(result.get("StatusCode", 125))
