"""Where a container's stdio goes, and how the parent waits for it.

``InheritIO``  the container shares nsrun's stdin/stdout/stderr (foreground ``run`` without ``-t``)
``PtyIO``      a new pseudo-terminal; nsrun relays it to its own terminal in raw mode (``-t``)
``LogIO``      stdout/stderr are pipes the parent copies into ``container.log`` (detached, supervised runs)

The log format is Docker's multiplexed stream framing (``_frames``), so the daemon can serve it as it is. With
a tty everything is stream 1.
"""
from __future__ import annotations

import errno
import os
import select
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ._spawn import Child

__all__ = ["InheritIO", "PtyIO", "LogIO"]

from ._frames import STDERR, STDOUT, frame


class InheritIO:
    def after_fork(self) -> None:
        pass

    def wait(self, child: Child) -> int:
        return child.wait()


class PtyIO:
    """The container's pty (made inside it; ``child.pty_master`` after release). nsrun copies between the
    master and its own stdin/stdout (raw mode when stdin is a terminal), or into ``sink`` when detached."""

    def __init__(self, interactive: bool, sink: BinaryIO | None = None) -> None:
        self.interactive = interactive
        self.sink = sink  # LogIO-style file when detached, else our own stdout
        self.master = -1
        self._saved = None

    def resize(self) -> None:
        import fcntl
        import termios
        try:
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass

    def after_fork(self) -> None:
        pass

    def wait(self, child: Child) -> int:
        import _signal as signal
        import termios
        import tty
        if child.pty_master is None:
            return child.wait()
        self.master = child.pty_master
        if self.sink is None and os.isatty(0):
            self.resize()
            signal.signal(signal.SIGWINCH, lambda *_: self.resize())
        relay_in = self.interactive  # with a sink (supervised): stdin is the daemon's FIFO
        if relay_in and os.isatty(0):
            self._saved = termios.tcgetattr(0)
            tty.setraw(0)
        try:
            fds = [self.master] + ([0] if relay_in else [])
            while self.master in fds:
                try:
                    ready, _, _ = select.select(fds, [], [])
                except InterruptedError:
                    continue
                if 0 in ready:
                    data = os.read(0, 65536)
                    if data:
                        os.write(self.master, data)
                    else:
                        fds.remove(0)
                        os.write(self.master, b"\x04")  # EOF on stdin: ^D to the pty
                if self.master in ready:
                    try:
                        data = os.read(self.master, 65536)
                    except OSError as exc:
                        if exc.errno != errno.EIO:
                            raise
                        data = b""
                    if not data:
                        fds.remove(self.master)
                    elif self.sink is not None:
                        self.sink.write(frame(STDOUT, data))
                        self.sink.flush()
                    else:
                        os.write(1, data)
        finally:
            if self._saved is not None:
                termios.tcsetattr(0, termios.TCSADRAIN, self._saved)
            os.close(self.master)
        return child.wait()


class LogIO:
    """stdout/stderr into ``path`` with stream framing; stdin from /dev/null."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)

    def after_fork(self) -> None:
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)

    def wait(self, child: Child) -> int:
        streams = {self.out_r: STDOUT, self.err_r: STDERR}
        exited = os.pidfd_open(child.pid)
        with open(self.path, "ab", buffering=0) as log:
            while streams:
                try:
                    ready, _, _ = select.select([*streams, exited], [], [])
                except InterruptedError:
                    continue
                if exited in ready:  # drain what is buffered; a leftover background process won't hold us
                    for fd in streams:
                        os.set_blocking(fd, False)
                for fd in [fd for fd in ready if fd in streams]:
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        data = b""
                    if data:
                        log.write(frame(streams[fd], data))
                    else:
                        os.close(fd)
                        del streams[fd]
                if exited in ready:
                    for fd in list(streams):
                        while True:
                            try:
                                data = os.read(fd, 65536)
                            except BlockingIOError:
                                break
                            if not data:
                                break
                            log.write(frame(streams[fd], data))
                        os.close(fd)
                        del streams[fd]
        os.close(exited)
        return child.wait()
