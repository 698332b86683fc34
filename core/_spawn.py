"""The only module that forks. It starts a container process inside new namespaces and parks it.

Sync protocol: one socketpair, newline-terminated ASCII messages.

=====  ==========  =============  ===============================================================
 step  direction   message        meaning
=====  ==========  =============  ===============================================================
  1    child→par   ``USERNS``     stage 1 is alone in its new user namespace: write the id maps
  2    par→child   ``MAPS``       maps written; stage 1 becomes root inside and unshares the rest
  3    child→par   ``READY pid``  every namespace exists; ``pid`` (host view) will exec; it is parked
  4    par→child   ``GO``         post_start hooks are done: run in_child, before_exec, exec
  5    child→par   ``PTY``        + SCM_RIGHTS: the master of the pty made inside (``-t``), or
                   ``PIPES``      + SCM_RIGHTS: stdin's write end (/dev/null without ``-i``), stdout's
                                  and stderr's read ends; then the child closes the socket
  6    child→par   ``PARKED``     (``Parking`` only, instead of 5) set up and parked on the exec fifo
=====  ==========  =============  ===============================================================

Steps 1–2 happen only with CLONE_NEWUSER: the user namespace comes first and alone, so that every other
namespace is owned by it (runc's nsexec does the same). With CLONE_NEWPID stage 1 forks once more (the
new PID namespace applies to children only), reports the grandchild (PID 1) as READY and exits. It does the
same with ``ctx.pid_namespace`` (a plugin's descriptor on an existing PID namespace, ``--pid container:``): stage
1 joins it first, before the user namespace (``setns`` needs our privileges over its owner), for its children
only, and forks the container's first process into it (not PID 1 there; it dies with that namespace's init,
as with runc). The parent
is a child subreaper (PR_SET_CHILD_SUBREAPER), so PID 1 becomes its direct child: it waits for it and
signals it with no relay process in between (one Python process per container, not two).

An OCI ``create`` (``nsrun.oci``) parks the child later and leaves it behind (``Parking``): no PDEATHSIG (the
child outlives ``nsrun-oci create``, becoming the caller's child: conmon and containerd's shim are subreapers),
stdio as inherited (the caller's fds 0-2), or with a tty the pty master sent to the console socket
(SCM_RIGHTS, as runc does). After ``wrap_exec`` and the command's lookup on PATH the child sends
``PARKED`` (step 6) and closes the socket and the error pipe; then it opens the exec fifo for writing, which
blocks until ``start`` opens it for reading, writes ``0`` and execs the stub with the fifo as the stub's fd 3:
``start`` reads EOF (exec done) or the stub's failure report.

Error pipe (O_CLOEXEC, child→parent): EOF without data means ``execve`` succeeded; a JSON object
``{stage, plugin, errno, message}`` means a step failed (becomes ChildSetupError). Every child path ends in
``os._exit``; the child never unwinds into the caller's code. If the parent dies, PDEATHSIG kills stage 1
and PID 1 with it, so a ``kill -9`` of nsrun never leaves a running orphan.

Nothing inside a container reaches the host's interpreter (``_execstub`` says why): every forked process is
non-dumpable from its first step, before it enters any namespace, until its ``execve``; and the command is
exec'd by a static stub run from a sealed memfd, never by this Python. Before the exec the child also joins
a fresh session keyring, so keys of nsrun's caller (``@s``) are not the container's.
"""
from __future__ import annotations

import errno
import fcntl
import os
import _signal as signal  # the C module: signal.py builds its enums at import (~1.5 ms per start)
import _socket  # the C module: socket.py's enum set-up costs ~1 ms per start, and we need 3 calls
import struct  # already loaded by _execstub; the child uses it after pivot_root
import termios  # imported here: after pivot_root the child can import nothing more

from . import _execstub, syscalls
from ._jsonlite import dumps, loads  # not json (re, enum: ~8 ms a start); the child's report needs no import
from ._plugins import blamed
from .errors import NsrunError, SetupError, from_wire, to_wire

TYPE_CHECKING = False  # no typing import at run time
if TYPE_CHECKING:
    from typing import Callable, NoReturn

    from ._context import RunContext
    from ._plugins import LoadedPlugins

__all__ = ["Child", "Parking", "spawn", "spawn_joined", "fork_process", "hold_after_exit", "decode_status", "fork_command"]

_INT = struct.calcsize("i")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Parking:
    """How an OCI ``create`` leaves the child: ``fifo_fd`` an O_PATH descriptor of the exec fifo (inherited,
    reopened through /proc/self/fd for writing: no path of the host is walked inside the container);
    ``console_fd`` a socket connected to ``--console-socket`` (``terminal: true``) or -1; ``console_size``
    ``(rows, columns)`` or None."""

    __slots__ = ("fifo_fd", "console_fd", "console_size")

    def __init__(self, fifo_fd: int, console_fd: int = -1, console_size: tuple[int, int] | None = None) -> None:
        self.fifo_fd, self.console_fd, self.console_size = fifo_fd, console_fd, console_size

    def fds(self) -> set[int]:
        return {fd for fd in (self.fifo_fd, self.console_fd) if fd >= 0}


def decode_status(status: int) -> int:
    """waitpid status -> shell-style exit code (signal N -> 128+N)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def fork_process(child_main: Callable[[], NoReturn]) -> int:
    """Fork a process that runs ``child_main`` (which ends in ``os._exit``); the daemon's fork server forks
    its supervisors this way, so that every fork of nsrun lives in this module."""
    pid = os.fork()
    if pid == 0:
        try:
            child_main()
        finally:
            os._exit(125)
    return pid


def hold_after_exit(fds: list[int]) -> None:
    """Fork a child that keeps ``fds`` open until this process is gone, then exits (closing them there).

    The child closes every other descriptor first (stdio included: whoever reads our output sees EOF when we
    exit) and waits for EOF on a pipe whose only writer is this process. It is nobody's to wait for: once
    we are gone it belongs to init (or the nearest subreaper). Used by ``_deferred.hand_over``."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            keep = set(fds) | {r}
            for fd in sorted(int(x) for x in os.listdir("/proc/self/fd")):
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            while os.read(r, 1):
                pass
        finally:
            os._exit(0)
    os.close(r)  # w stays open until this process exits: that is the child's signal


def _socketpair() -> tuple[_socket.socket, _socket.socket]:
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    return a, b


def _send_fds(sock: _socket.socket, word: bytes, fds: list[int]) -> None:
    """``word`` (``PTY``, ``PIPES``) with ``fds`` attached (SCM_RIGHTS)."""
    sock.sendmsg([word + b"\n"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _ints(fds))])


def _ints(fds: list[int]) -> bytes:
    """SCM_RIGHTS data: the descriptors as C ints (struct, not array: array imports collections.abc)."""
    return struct.pack(f"{len(fds)}i", *fds)


def _recv_fds(sock: _socket.socket, most: int = 3) -> list[int]:
    _msg, ancillary, _flags, _addr = sock.recvmsg(16, _socket.CMSG_SPACE(most * _INT))
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            n = len(data) // _INT
            fds.extend(struct.unpack(f"{n}i", data[:n * _INT]))
    for fd in fds:
        os.set_inheritable(fd, False)
    return fds


class _Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, msg: str) -> None:
        self.sock.sendall(msg.encode() + b"\n")

    def recv(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(256)
            if not chunk:
                return ""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


class Child:
    """The parent's handle on a started, parked container process."""

    def __init__(self, pid: int, chan: _Channel, err_r: int, tty: bool = False) -> None:
        self.pid = pid            # the process that execs the command (PID 1 with a pid namespace); our child
        self.pty_master: int | None = None  # with a tty: the master side, made inside the container
        self.stdio: tuple[int, int, int] | None = None  # without: (stdin's write end or -1, stdout's and
                                                        # stderr's read ends), pipes made inside it
        self._chan = chan
        self._err_r = err_r
        self._tty = tty
        self._status: int | None = None

    def release(self) -> None:
        """Send GO and wait until the command is exec'd; raise ChildSetupError if a child step failed."""
        try:
            self._chan.send("GO")
            fds = _recv_fds(self._chan.sock)
            if self._tty and len(fds) == 1:
                self.pty_master = fds[0]
            elif len(fds) == 3:
                self.stdio = (fds[0], fds[1], fds[2])
            else:
                for fd in fds:
                    os.close(fd)
        except OSError:
            pass  # the child died: the error pipe says why
        self._chan.sock.close()
        data = b""
        while True:
            chunk = os.read(self._err_r, 65536)
            if not chunk:
                break
            data += chunk
        os.close(self._err_r)
        self._err_r = -1
        if data:
            self.wait()
            raise _child_error(data)

    def park(self) -> None:
        """``Parking`` only: send GO and wait until the child is set up and parked on the exec fifo (it sent
        ``PARKED``); raise ChildSetupError if a step failed (the command was not found on PATH, say)."""
        try:
            self._chan.send("GO")
            msg = self._chan.recv()
        except OSError:
            msg = ""
        self._chan.sock.close()
        if msg == "PARKED":
            os.close(self._err_r)
            self._err_r = -1
            return
        data = b""
        while chunk := os.read(self._err_r, 65536):
            data += chunk
        os.close(self._err_r)
        self._err_r = -1
        self.wait()
        raise _child_error(data) if data else SetupError("the container process died during setup", phase="spawn")

    def wait(self) -> int:
        """Wait for the container to end; its exit code (128+N for signal N). Retries on EINTR."""
        if self._status is None:
            _, status = os.waitpid(self.pid, 0)
            self._status = decode_status(status)
        return self._status

    def poll(self) -> int | None:
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = decode_status(status)
        return self._status

    def kill(self) -> None:
        """Kill the container (idempotent: never signals a reaped process)."""
        if self._status is not None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait()
        if self._err_r >= 0:
            os.close(self._err_r)
            self._err_r = -1


def _child_error(data: bytes) -> NsrunError:
    err = _execstub.decode_failure(data)
    if err is not None:  # the stub's report: its execve failed
        return from_wire({"stage": "exec", "plugin": "", "errno": err, "message": f"exec failed: {os.strerror(err)}"})
    try:
        info = loads(data)
    except ValueError:
        info = {"stage": "unknown", "message": data.decode(errors="replace")}
    return from_wire(info)


def _write_maps(pid: int, ctx: RunContext) -> None:
    try:
        if ctx.gid_maps:
            with open(f"/proc/{pid}/gid_map", "w") as f:
                f.write("".join(m.line() for m in ctx.gid_maps))
        if ctx.uid_maps:
            with open(f"/proc/{pid}/uid_map", "w") as f:
                f.write("".join(m.line() for m in ctx.uid_maps))
    except OSError as exc:
        raise SetupError(f"cannot write the id maps (ctx.uid_maps, ctx.gid_maps): {exc.strerror}", phase="maps",
                         errno=exc.errno) from exc


def spawn(ctx: RunContext, plugins: LoadedPlugins, flags: int, parking: Parking | None = None) -> Child:
    """Fork the container's first process into new namespaces (``flags``) and park it; see the table above.

    Returns once the child reported READY; ``Child.release()`` lets it go on (``Child.park()`` with
    ``parking``: an OCI create).
    """
    parent_sock, child_sock = _socketpair()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    parent_pid = os.getpid()
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    pid = os.fork()
    if pid == 0:  # ---- inside stage 1 ----
        syscalls.set_dumpable(False)  # first: no namespace of the container holds a dumpable copy of us
        parent_sock.close()
        os.close(err_r)
        _child_main(ctx, plugins, flags, _Channel(child_sock), err_w, parent_pid, parking)
    child_sock.close()
    os.close(err_w)
    chan = _Channel(parent_sock)
    try:
        msg = chan.recv()
        if msg == "USERNS":
            _write_maps(pid, ctx)
            plugins.call("post_userns", ctx=ctx, pid=pid)
            chan.send("MAPS")
            msg = chan.recv()
        if not msg.startswith("READY "):
            raise _read_early_error(err_r, pid)
        init = int(msg.split()[1])
        if init != pid:
            os.waitpid(pid, 0)  # stage 1 exits at once; its PID 1 is now our child
        return Child(init, chan, err_r, tty=ctx.spec.tty)
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        parent_sock.close()
        try:
            os.close(err_r)
        except OSError:
            pass
        raise


def _read_early_error(err_r: int, pid: int) -> Exception:
    """The child stopped talking before READY (it exits on any failure): what it wrote on the error pipe."""
    data = b""
    while chunk := os.read(err_r, 65536):
        data += chunk
    if data:
        return _child_error(data)
    return SetupError("the container process died during setup", phase="spawn")


def _report(err_w: int, stage: str, plugin: str, exc: BaseException) -> None:
    try:
        os.write(err_w, dumps(to_wire(exc, stage, plugin)).encode())
    except OSError:
        pass


def _close_fds(keep: set[int]) -> None:
    """Close every inherited descriptor but ``keep`` (and stdio): nothing of nsrun's leaks into a container."""
    top = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(top, fd)
        top = fd + 1
    os.closerange(top, 65536)


# Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across execve: reset them too, so
# that ``nsrun run busybox yes | head -1`` ends ``yes`` with SIGPIPE (141) as it would outside.
_DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGWINCH,
                    signal.SIGPIPE, signal.SIGXFSZ)


def _default_signals() -> None:
    for sig in _DEFAULT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _die_with_parent(expected_parent: int) -> None:
    syscalls.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != expected_parent:  # the parent died before prctl took effect
        os._exit(125)


def _child_main(ctx: RunContext, plugins: LoadedPlugins, flags: int, chan: _Channel, err_w: int,
                parent_pid: int, parking: Parking | None = None) -> NoReturn:
    """Stage 1. Every path ends in os._exit."""
    stage, plugin = "unshare", ""
    try:
        joined = ctx.pid_namespace
        _close_fds({chan.sock.fileno(), err_w, *ctx.pass_fds, joined} | (parking.fds() if parking else set()))
        _default_signals()
        if parking is None:  # a parked OCI container outlives its creator: the socket's EOF stops it instead
            _die_with_parent(parent_pid)
        os.setsid()  # out of the terminal's process group: signals reach the container through nsrun
        if joined >= 0:  # first: joining needs our privileges over the namespace's owner (before NEWUSER)
            stage = "join pid namespace"
            syscalls.setns(joined, syscalls.CLONE_NEWPID)  # for our children only (pid_for_children)
            os.close(joined)
            stage = "unshare"
        if flags & syscalls.CLONE_NEWUSER:
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            chan.send("USERNS")
            if chan.recv() != "MAPS":
                os._exit(125)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        syscalls.unshare(flags & ~syscalls.CLONE_NEWUSER)
        if flags & syscalls.CLONE_NEWPID or joined >= 0:
            stage = "fork"
            try:
                pid1 = os.fork()
            except OSError as exc:  # ENOMEM: the joined namespace's init is gone, and with it the namespace
                if joined >= 0 and exc.errno == errno.ENOMEM:
                    raise SetupError("the PID namespace to join has no init any more (its container exited)",
                                     phase="fork", errno=errno.ESRCH) from exc
                raise
            if pid1 == 0:  # ---- PID 1 of the new namespace ----
                _init_main(ctx, plugins, chan, err_w, reparented=parking is None, parking=parking)
            chan.send(f"READY {pid1}")
            os._exit(0)  # PID 1 is handed to the parent (a subreaper); nothing is left to relay
        chan.send(f"READY {os.getpid()}")
        _init_main(ctx, plugins, chan, err_w, parking=parking)
    except BaseException as exc:  # noqa: BLE001 - everything is reported, nothing unwinds
        _report(err_w, stage, plugin, exc)
    os._exit(125)


def _init_main(ctx: RunContext, plugins: LoadedPlugins, chan: _Channel, err_w: int,
               skip_in_child: bool = False, reparented: bool = False, parking: Parking | None = None) -> NoReturn:
    """The process that becomes the container's command. Every path ends in os._exit.

    ``reparented``: forked by a stage that exits at once; GO arrives only after the parent reaped that
    stage, so our parent is nsrun by then and PDEATHSIG is set against it.
    """
    stage = "sync"
    try:
        if chan.recv() != "GO":
            os._exit(125)  # the parent gave up; it reports why
        if reparented:
            syscalls.set_pdeathsig(signal.SIGKILL)
        stage = "in_child"
        if not skip_in_child:
            plugins.call("in_child", ctx=ctx)
        stage = "stdio"
        if parking is None:
            _setup_stdio(ctx, chan)
            chan.sock.close()
        else:
            _parked_stdio(ctx, parking)
            if parking.fifo_fd < 0:  # an OCI exec: no fifo to wait on; the error pipe says when it exec'd
                chan.sock.close()
        stage = "keyring"
        syscalls.join_session_keyring()
        stub = _execstub.sealed_memfd(_execstub.STUB) if _execstub.available() else -1
        stage = "before_exec"
        plugins.call("before_exec", ctx=ctx)
        stage = "workdir"
        _enter_workdir(ctx.spec.workdir)
        stage = "user"
        uid, gid = ctx.spec.user
        if (uid, gid) != (0, 0) or ctx.spec.groups:
            os.setgroups(list(ctx.spec.groups))  # --group-add; none else (root's stay when none are asked)
        if (uid, gid) != (0, 0):
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        env = _environment(ctx)
        stage = "wrap_exec"
        global _err_w
        _err_w = err_w
        # a plugin may fork here (fork_command); only the command's process goes on
        plugins.call("wrap_exec", ctx=ctx, joining=skip_in_child)
        stage = "exec"
        if parking is not None and parking.fifo_fd >= 0:
            path = _resolve(ctx.spec.argv[0], env)  # not found: reported to ``create``, as runc does
            chan.send("PARKED")
            chan.sock.close()
            os.close(err_w)
            err_w = -1
            err_w = _wait_for_start(parking.fifo_fd)
            _exec([path, *ctx.spec.argv[1:]], env, stub, err_w, argv0=ctx.spec.argv[0])
        _exec(ctx.spec.argv, env, stub, err_w)
    except BaseException as exc:  # noqa: BLE001
        if err_w >= 0:
            _report(err_w, stage, blamed(exc), exc)  # the plugin whose hook raised, "" for core's own stages
        else:  # parked: nobody reads the error pipe any more; the caller's stderr is the container's
            try:
                os.write(2, f"nsrun-oci: {stage}: {exc}\n".encode())
            except OSError:
                pass
            os._exit(127 if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EACCES) else 125)
    os._exit(125)


def _wait_for_start(fifo_fd: int) -> int:
    """Block until ``start`` opens the exec fifo; tell it we go (``0``); the fifo's write end (close-on-exec:
    ``start`` sees EOF once the command is exec'd, or the stub's failure report before that)."""
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.close(fifo_fd)
    os.write(fd, b"0")
    return fd


def _parked_stdio(ctx: RunContext, parking: Parking) -> None:
    """An OCI container's stdio: the caller's fds 0-2 as they are; with a terminal a pty made here (inside
    the container's devpts, after pivot_root) whose master goes to the console socket, runc's way."""
    if parking.console_fd < 0:
        return
    master, slave = os.openpty()
    if parking.console_size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", parking.console_size[0],
                                                               parking.console_size[1], 0, 0))
    sock = _socket.socket(fileno=parking.console_fd)
    name = os.ttyname(slave).encode()
    sock.sendmsg([name], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _ints([master]))])
    sock.close()
    os.close(master)
    _become_tty(slave)


def _become_tty(slave: int) -> None:
    """Make the pty ``slave`` this process's controlling terminal and stdio (in a session of its own)."""
    if os.getsid(0) != os.getpid():
        os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


_err_w = -1  # in a container's process: the write end of the error pipe (see fork_command)


def fork_command() -> int:
    """[child, ``wrap_exec`` only] Fork the container's command. Returns 0 in the new process, which goes on
    to exec the command; returns the command's pid in the calling process, which stays in front of it (the
    pid plugin's ``--init`` reaper: PID 1) and must end with ``os._exit``. The caller's copy of the error
    pipe is closed first, so the parent learns that the command was exec'd from the command's process alone.
    """
    child = os.fork()
    if child:
        os.close(_err_w)
    return child


def _setup_stdio(ctx: RunContext, chan: _Channel) -> None:
    """The container's stdio is its own, never a descriptor of nsrun's (which it could reopen read-write
    through /proc/self/fd: the file a caller redirected nsrun's output to, its terminal).

    A tty is made here, inside the container (after pivot_root, so in its own devpts: ``tty`` and
    ``ttyname`` work); its master goes to the parent over the sync socket (``PTY`` + SCM_RIGHTS). Without
    one, stdout and stderr are pipes made here (stdin too with ``-i``, else /dev/null); the parent gets
    the other ends (``PIPES`` + stdin's write end or /dev/null, stdout's and stderr's read ends) and copies
    (``_io``)."""
    if ctx.spec.tty:
        master, slave = os.openpty()
        _send_fds(chan.sock, b"PTY", [master])
        os.close(master)
        _become_tty(slave)
        return
    ours, theirs = [], []
    if ctx.spec.interactive:
        r, w = os.pipe()
        ours.append(r)
        theirs.append(w)
    else:
        ours.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
        theirs.append(os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC))
    for _ in (1, 2):
        r, w = os.pipe()
        ours.append(w)
        theirs.append(r)
    _send_fds(chan.sock, b"PIPES", theirs)
    for fd in theirs:
        os.close(fd)
    ours = [fd if fd > 2 else fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in ours]  # stdio was closed
    for target, fd in enumerate(ours):
        os.dup2(fd, target)
        os.close(fd)


def _enter_workdir(workdir: str) -> None:
    try:
        os.chdir(workdir)
    except FileNotFoundError:
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)


def _environment(ctx: RunContext) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": ctx.hostname or "", "HOME": "/root" if ctx.spec.user[0] == 0 else "/"}
    if not ctx.hostname:
        del env["HOSTNAME"]
    if ctx.spec.tty:
        env["TERM"] = "xterm"
    env.update(ctx.spec.env)
    return env


def _resolve(cmd: str, env: dict[str, str]) -> str:
    """``cmd`` as execvp would find it on the container's PATH (the first executable regular file)."""
    if "/" in cmd:
        return cmd
    denied = ""
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        path = os.path.join(directory or ".", cmd)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o100000:
            if os.access(path, os.X_OK):
                return path
            denied = denied or path
    if denied:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), denied)
    raise OSError(errno.ENOENT, f'exec: "{cmd}": executable file not found in $PATH')


def _exec(argv: list[str], env: dict[str, str], stub: int, err_w: int, argv0: str | None = None) -> NoReturn:
    """Exec ``argv`` through the sealed stub (``_execstub``): the stub gets the error pipe as fd 3 (without
    close-on-exec; it sets that itself) and reports a failed exec there. ``argv0``: ``argv[0]`` is the
    path already resolved, and this is the command's own ``argv[0]``."""
    path = _resolve(argv[0], env)
    if argv0 is not None:
        argv = [argv0, *argv[1:]]
    if stub < 0:
        os.execve(path, argv, env)
    if stub == _execstub.ERR_FD:
        stub = fcntl.fcntl(stub, fcntl.F_DUPFD_CLOEXEC, _execstub.ERR_FD + 1)
    if err_w != _execstub.ERR_FD:
        os.dup2(err_w, _execstub.ERR_FD)
    os.set_inheritable(_execstub.ERR_FD, True)
    os.execve(stub, ["nsrun-exec", path, *argv], env)


_JOIN_ORDER = (("user", syscalls.CLONE_NEWUSER), ("ipc", syscalls.CLONE_NEWIPC), ("uts", syscalls.CLONE_NEWUTS),
               ("net", syscalls.CLONE_NEWNET), ("cgroup", syscalls.CLONE_NEWCGROUP), ("mnt", syscalls.CLONE_NEWNS))


def _ns_fd(target: int, name: str) -> int | None:
    """An fd on ``target``'s namespace ``name``, or None when we are in it already."""
    if os.stat(f"/proc/{target}/ns/{name}").st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
        return None
    return os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)


def spawn_joined(target: int, ctx: RunContext, plugins: LoadedPlugins, parking: Parking | None = None) -> Child:
    """``exec``: fork a process that joins every namespace of ``target`` (user first, mnt last) and is parked
    like a new container's first process; ``Child.release()`` runs ``before_exec`` and execs ``ctx.spec.argv``.
    ``parking`` (an OCI exec; its ``fifo_fd`` is -1): no PDEATHSIG, stdio as for a parked container.

    A joined PID namespace applies to children only, so this process joins it for its children just around
    the fork (``pid_for_children``) and returns to its own right after: the child is born in the container's
    PID namespace, our direct child, with no intermediate process. It is non-dumpable from birth (we are,
    across the fork), so nothing in the container can open its ``/proc/<pid>/exe`` (``_execstub``).
    """
    try:
        pidns = _ns_fd(target, "pid")
        own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if pidns is not None else None
    except OSError as exc:
        raise SetupError(f"cannot join the container: {exc.strerror}", phase="setns", errno=exc.errno) from exc
    parent_sock, child_sock = _socketpair()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    syscalls.set_dumpable(False)  # inherited by the child at fork: there is no dumpable instant inside
    pid = -1
    try:
        if pidns is not None:
            syscalls.setns(pidns, syscalls.CLONE_NEWPID)
        pid = os.fork()
    finally:
        if pid != 0:  # the parent (also when setns or fork failed)
            if own_pidns is not None:
                syscalls.setns(own_pidns, syscalls.CLONE_NEWPID)
            syscalls.set_dumpable(True)
            for fd in (pidns, own_pidns):
                if fd is not None:
                    os.close(fd)
            if pid < 0:
                for fd in (err_r, err_w):
                    os.close(fd)
                parent_sock.close()
                child_sock.close()
    if pid == 0:  # ---- inside the joining process (already in the container's PID namespace) ----
        parent_sock.close()
        os.close(err_r)
        chan = _Channel(child_sock)
        try:
            _close_fds({chan.sock.fileno(), err_w, *ctx.pass_fds} | (parking.fds() if parking else set()))
            _default_signals()
            if parking is None:
                syscalls.set_pdeathsig(signal.SIGKILL)
            if os.getppid() != 0:  # our parent is outside this PID namespace (0) unless it died already
                os._exit(125)
            os.setsid()
            fds = [(flag, fd) for name, flag in _JOIN_ORDER if (fd := _ns_fd(target, name)) is not None]
            for flag, fd in fds:
                syscalls.setns(fd, flag)
                os.close(fd)
                if flag == syscalls.CLONE_NEWUSER:
                    os.setresgid(0, 0, 0)
                    os.setresuid(0, 0, 0)
            chan.send("READY 0")
        except BaseException as exc:  # noqa: BLE001
            _report(err_w, "setns", "", exc)
            os._exit(125)
        _init_main(ctx, plugins, chan, err_w, skip_in_child=True, parking=parking)
    child_sock.close()
    os.close(err_w)
    chan = _Channel(parent_sock)
    msg = chan.recv()
    if not msg.startswith("READY "):
        parent_sock.close()
        os.waitpid(pid, 0)
        raise _read_early_error(err_r, pid)
    return Child(pid, chan, err_r, tty=ctx.spec.tty)
