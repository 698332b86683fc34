"""Where a container's stdio goes, and how the parent waits for it.

A container never holds one of nsrun's own descriptors: through /proc/self/fd it could reopen that file
read-write (truncate the file a caller redirected nsrun's output to, write to its terminal). Its stdio is
made inside it (``_spawn._setup_stdio``) and the parent holds the other ends and copies:

``PipeIO``     pipes; nsrun copies stdout/stderr to its own and, with ``-i``, its stdin in (foreground
               ``run`` and ``exec`` without ``-t``)
``PtyIO``      a new pseudo-terminal; nsrun relays it to its own terminal in raw mode (``-t``)
``LogIO``      pipes the parent copies into ``container.log`` (detached, supervised runs); with ``-i`` its
               stdin (the daemon's FIFO) is copied in

Each also watches descriptors it is given (``watch``): a supervisor's exec socket, an exec helper's client.

The log format is Docker's multiplexed stream framing (``_frames``), so the daemon can serve it as it is. With
a tty everything is stream 1.
"""
from __future__ import annotations

import errno
import os
import select
import stat
import time
from typing import TYPE_CHECKING, BinaryIO, Callable

if TYPE_CHECKING:
    from ._spawn import Child

__all__ = ["PipeIO", "PtyIO", "LogIO", "set_winsize"]



def _pump(child: Child, sinks: dict[int, Callable[[bytes], None]], stdin: int, stdin_to: int,
          extra: dict[int, Callable[[], None]] | None = None) -> None:
    """Copy until the container has exited: ``sinks`` maps each of its output pipes to where the data goes;
    ``stdin`` (-1: none) is copied into ``stdin_to`` (the container's stdin pipe), which is closed at EOF;
    ``extra`` maps other descriptors to what to call when they are readable (``_Watched``).

    When the command exits, what is buffered is drained and the copy ends (a background process that still
    holds a pipe does not hold nsrun). Writes into the container never block the loop (a container that
    does not read its stdin cannot stall its own output). A sink that fails (EPIPE: nsrun's stdout reader
    went away) has its pipe closed: the container gets EPIPE/SIGPIPE as it would have."""
    exited = os.pidfd_open(child.pid)
    extra = extra if extra is not None else {}
    pending = b""
    if stdin_to >= 0:
        os.set_blocking(stdin_to, False)
    try:
        while sinks:
            rlist = [*sinks, exited, *extra] + ([stdin] if stdin >= 0 and not pending else [])
            wlist = [stdin_to] if pending else []
            try:
                ready, writable, _ = select.select(rlist, wlist, [])
            except InterruptedError:
                continue
            if stdin >= 0 and stdin in ready:
                try:
                    pending = os.read(stdin, 65536)
                except OSError:
                    pending = b""
                if not pending:
                    stdin = -1
                    os.close(stdin_to)
                    stdin_to = -1
            if pending and (stdin_to in writable or stdin in ready):
                try:
                    pending = pending[os.write(stdin_to, pending):]
                except BlockingIOError:
                    pass
                except OSError:  # the container closed its stdin
                    pending, stdin = b"", -1
                    os.close(stdin_to)
                    stdin_to = -1
            for fd in [fd for fd in ready if fd in extra]:
                if (on_readable := extra.get(fd)) is not None:  # an earlier one may have unwatched it
                    on_readable()
            done = exited in ready
            for fd in [fd for fd in ready if fd in sinks]:
                _copy(fd, sinks, drain=False)
            if done:
                for fd in list(sinks):
                    _copy(fd, sinks, drain=True)
    finally:
        os.close(exited)
        if stdin_to >= 0:
            os.close(stdin_to)


def _copy(fd: int, sinks: dict[int, Callable[[bytes], None]], drain: bool) -> None:
    """One read (or, with ``drain``, everything buffered) from ``fd`` into its sink; closes it at EOF."""
    if drain:
        os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            data = b""
        if data:
            try:
                sinks[fd](data)
            except OSError:  # EPIPE (the reader went away), EBADF (nsrun's own stdout was closed), ...
                data = b""
        if not data:
            os.close(fd)
            del sinks[fd]
            return
        if not drain:
            return


def _write_all(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    return write


class _Watched:
    """What every IO's wait loop also watches: ``watch(fd, on_readable)`` (the supervisor's exec socket, an
    exec helper's client connection); ``on_readable`` may ``unwatch`` its own descriptor."""

    def __init__(self) -> None:
        self.extra: dict[int, Callable[[], None]] = {}

    def watch(self, fd: int, on_readable: Callable[[], None]) -> None:
        self.extra[fd] = on_readable

    def unwatch(self, fd: int) -> None:
        self.extra.pop(fd, None)


class PipeIO(_Watched):
    """Pipes made inside the container; nsrun copies them to its own stdout/stderr (and its stdin in with
    ``-i``). A pipe copy costs a few microseconds per write; the start pays nothing measurable."""

    def __init__(self, interactive: bool) -> None:
        super().__init__()
        self.interactive = interactive

    def after_fork(self) -> None:
        pass

    def wait(self, child: Child) -> int:
        stdio = getattr(child, "stdio", None)
        if stdio is None:  # the child failed before it had stdio (or a test's fake child)
            return child.wait()
        to_stdin, out, err = stdio
        if not self.interactive:
            os.close(to_stdin)
            to_stdin = -1
        _pump(child, {out: _write_all(1), err: _write_all(2)}, 0 if self.interactive else -1, to_stdin,
              self.extra)
        return child.wait()


class PtyIO(_Watched):
    """The container's pty (made inside it; ``child.pty_master`` after release). nsrun copies between the
    master and its own stdin/stdout (raw mode when stdin is a terminal), or into ``sink`` when detached."""

    def __init__(self, interactive: bool, sink: BinaryIO | None = None) -> None:
        super().__init__()
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
                    ready, _, _ = select.select([*fds, *self.extra], [], [])
                except InterruptedError:
                    continue
                for fd in [fd for fd in ready if fd in self.extra]:
                    if (on_readable := self.extra.get(fd)) is not None:
                        on_readable()
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
                        from ._frames import STDOUT, log_record  # detached runs only (loaded once)
                        self.sink.write(log_record(STDOUT, data, time.time_ns()))
                        self.sink.flush()
                    else:
                        os.write(1, data)
        finally:
            if self._saved is not None:
                termios.tcsetattr(0, termios.TCSADRAIN, self._saved)
            os.close(self.master)
            if self.sink is not None:
                self.sink.close()
        return child.wait()


class LogIO(_Watched):
    """stdout/stderr into ``path`` with stream framing, rotated as ``log_opts`` say (``_logfile``). With
    ``-i`` (the child made a stdin pipe rather than opening /dev/null) our stdin, the daemon's FIFO (see
    ``_supervisor``), is copied into it."""

    def __init__(self, path: str, log_opts: dict[str, str] | None = None) -> None:
        super().__init__()
        self.path = path
        self.log_opts = log_opts

    def after_fork(self) -> None:
        pass

    def wait(self, child: Child) -> int:
        stdio = getattr(child, "stdio", None)
        if stdio is None:
            return child.wait()
        to_stdin, out, err = stdio
        interactive = stat.S_ISFIFO(os.fstat(to_stdin).st_mode)
        if not interactive:
            os.close(to_stdin)
            to_stdin = -1
        from ._frames import STDERR, STDOUT, log_record  # supervised runs only
        from ._logfile import RotatingLog
        with RotatingLog(self.path, self.log_opts) as log:
            _pump(child, {out: lambda data: log.write(log_record(STDOUT, data, time.time_ns())),
                          err: lambda data: log.write(log_record(STDERR, data, time.time_ns()))},
                  0 if interactive else -1, to_stdin, self.extra)
        return child.wait()


def set_winsize(pid: int | None, rows: int, cols: int) -> None:
    """Resize the pty that process ``pid`` has as its stdin (the container's terminal)."""
    import fcntl
    import struct
    import termios
    if not pid or not (0 < rows < 65536 and 0 < cols < 65536):
        return
    try:
        fd = os.open(f"/proc/{pid}/fd/0", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError:
        pass
    finally:
        os.close(fd)
