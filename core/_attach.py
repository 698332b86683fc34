"""``nsrun attach NAME`` on the embedded engine: this terminal onto a running detached container.

Its output is its log (``_logfile.LogReader`` from the end, across rotations); what is typed goes into its
stdin FIFO (``-i`` containers; see ``_supervisor``) unless ``--no-stdin``. With a tty the local terminal is
put into raw mode and its size given to the container's pty (and again at each SIGWINCH). The detach keys
(``_detachkeys``; ctrl-p ctrl-q by default) leave the container running and exit 0; otherwise attach ends
when the container exits, with its exit code.

When our stdin ends we close our end of the FIFO: a container made with Docker's ``StdinOnce`` and no tty
(``run -i`` through the daemon) then sees EOF, as Docker closes its stdin; any other keeps its stdin open
(its supervisor holds a write end: ``run -di``, ``create -i``), as it does when we detach or are killed.
Unlike moby's attach, which ends the client's output there (the docker CLI then waits for the exit), the
output goes on being shown until the container exits.
"""
from __future__ import annotations

import os
import select
import sys
import time
from typing import Any

from .errors import ConflictError

__all__ = ["attach"]


def attach(engine: Any, ref: str, detach_keys: str | None = None, no_stdin: bool = False) -> int:
    from ._detachkeys import Escape, parse_detach_keys
    from ._logfile import LogReader
    keys = parse_detach_keys(detach_keys)  # bad keys: one line before anything is touched
    rec = engine.find(ref)
    if not rec.running:
        raise ConflictError("You cannot attach to a stopped container, start it first")
    reader = LogReader(engine.log_path(rec), from_end=True)
    stdin = -1
    fifo = -1
    if not no_stdin and rec.spec.interactive:
        stdin = 0
        try:  # read-write: never blocks nor fails for want of a reader (the supervisor holds one)
            fifo = os.open(os.path.join(rec.dir, "stdin"), os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            stdin = -1
    saved = None
    tty = rec.spec.tty and os.isatty(0)
    if tty:
        import signal
        import termios
        import tty as tty_mod
        from ._io import set_winsize

        def resize(*_: object) -> None:
            import fcntl
            import struct
            try:
                rows, cols, _x, _y = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
            except OSError:
                return
            set_winsize(rec.state.get("pid"), rows, cols)
        resize()
        signal.signal(signal.SIGWINCH, resize)
        if stdin >= 0:
            saved = termios.tcgetattr(0)
            tty_mod.setraw(0)
    escape = Escape(keys)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    checked = 0.0
    try:
        while True:
            for stream, data in reader.records():
                target = err if stream == 2 else out
                target.write(data)
                target.flush()
            now = time.monotonic()
            if now - checked > 0.1:
                checked = now
                fresh = engine.store.load(rec.id)
                if fresh is None or not fresh.running:
                    for stream, data in reader.records():
                        (err if stream == 2 else out).write(data)
                    out.flush()
                    err.flush()
                    return int((fresh.state.get("exit_code") if fresh else 0) or 0)
            try:
                ready, _, _ = select.select([stdin] if stdin >= 0 else [], [], [], 0.02)
            except InterruptedError:
                continue
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:  # our stdin ended: our write end goes (see the docstring); the output goes on
                    stdin = -1
                    if fifo >= 0:
                        os.close(fifo)
                        fifo = -1
                    continue
                data, detached = escape.feed(data)
                _write_fifo(fifo, data)
                if detached:
                    return 0
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if fifo >= 0:
            os.close(fifo)
        reader.close()


def _write_fifo(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            time.sleep(0.005)
