"""Starting supervisors and waiting for containers, from inside the daemon's event loop.

A container is started by a supervisor that is never a fork of the daemon: normally one forked by the fork
server (``nsrun._forkserver``: a fresh, single-threaded, pre-imported process the daemon starts once), else a
fresh ``python -m nsrun._supervisor`` (exec'd at once by ``subprocess``). Either way it runs in its own session
and survives the daemon. While this daemon instance lives, it learns each supervisor's exit status (the
container's exit code) — from the fork server's ``EXIT`` message or by reaping its own child — which is how
``wait?condition=removed`` knows the code of a ``--rm`` container whose record is already gone. After a daemon
restart the records and the supervisors' pids (``owner_pid``) are all there is: waiting then polls the record
and sleeps on a pidfd of the supervisor.
"""
from __future__ import annotations

import array
import asyncio
import logging
import os
import socket
import subprocess
import sys
import time

from .._context import Paths
from .._launch import error_from_reply, supervisor_argv
from .._state import Store

__all__ = ["Launcher", "ForkServer"]

log = logging.getLogger("nsrun.daemon")


class ForkServer:
    """The daemon's end of the fork server's socket (protocol table in ``nsrun._forkserver``)."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.sock: socket.socket | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[str, asyncio.Future[int | None]] = {}
        self._buf = b""

    async def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "nsrun._forkserver", str(child.fileno()), self.paths.root, self.paths.run,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(child.fileno(),), start_new_session=True)
        finally:
            child.close()
        parent.setblocking(False)
        self.sock = parent
        asyncio.get_running_loop().add_reader(parent, self._readable)

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def request(self, cid: str, reply_fd: int, exited: asyncio.Future[int | None]) -> None:
        """Ask for a supervisor of ``cid``; ``exited`` gets its status (None if the fork server is lost)."""
        if self.sock is None:
            raise ConnectionError("the fork server is gone")
        fds = array.array("i", [reply_fd])
        self.sock.sendmsg([f"START {cid}\n".encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
        self.pending[cid] = exited

    def _readable(self) -> None:
        try:
            data = self.sock.recv(65536) if self.sock is not None else b""
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            verb, cid, code = (line.decode().split() + ["", "", ""])[:3]
            fut = self.pending.pop(cid, None)
            if verb == "EXIT" and fut is not None and not fut.done():
                fut.set_result(int(code))

    def close(self) -> None:
        """Stop using the fork server (its supervisors live on); pending waiters fall back to the records."""
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock)
            self.sock.close()
            self.sock = None
        for fut in self.pending.values():
            if not fut.done():
                fut.set_result(None)
        self.pending.clear()


class Launcher:
    """Starts supervisors and answers "when did/does this container exit, with what code"."""

    def __init__(self, paths: Paths, store: Store) -> None:
        self.paths = paths
        self.store = store
        self.exits: dict[str, asyncio.Future[int | None]] = {}  # cid -> supervisor exit (this instance only)
        self.last_code: dict[str, int] = {}                       # cid -> last exit code seen (--rm records)
        self.forkserver: ForkServer | None = None
        self.use_forkserver = False
        self._forkserver_tried = 0.0

    async def start_forkserver(self) -> None:
        """Start (or, once it was lost, restart: at most every 5 s) the fork server."""
        self.use_forkserver = True
        self._forkserver_tried = time.monotonic()
        fs = ForkServer(self.paths)
        try:
            await fs.start()
        except OSError as exc:
            log.warning("no fork server (%s): each container starts a fresh supervisor", exc)
            return
        self.forkserver = fs

    async def close(self) -> None:
        self.use_forkserver = False
        if self.forkserver is not None:
            fs, self.forkserver = self.forkserver, None
            fs.close()
            if fs.proc is not None:
                await fs.proc.wait()

    async def start(self, cid: str) -> None:
        """Start the created container ``cid``; return once its command exec'd, or raise the start error."""
        loop = asyncio.get_running_loop()
        # Registered before anything is awaited: a waiter must never miss a fast container's exit (under load
        # the supervisor can finish, and remove a --rm record, before the subprocess call returns).
        exited: asyncio.Future[int | None] = loop.create_future()
        exited.add_done_callback(lambda f: self._exited(cid, f))
        self.exits[cid] = exited
        fs = self.forkserver
        if self.use_forkserver and (fs is None or not fs.alive) and time.monotonic() - self._forkserver_tried > 5:
            log.warning("the fork server is gone: starting a new one")
            await self.start_forkserver()
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        if self.forkserver is not None and self.forkserver.alive:
            try:
                self.forkserver.request(cid, write_fd, exited)
            except OSError as exc:
                log.warning("fork server request failed (%s): starting a fresh supervisor", exc)
                self.forkserver.close()
            else:
                os.close(write_fd)
                return await self._started(read_fd, exited)
        try:
            proc = await asyncio.create_subprocess_exec(
                *supervisor_argv(self.paths, cid, write_fd),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,), start_new_session=True)
        except BaseException:
            os.close(read_fd)
            exited.set_result(None)
            raise
        finally:
            os.close(write_fd)

        async def reap() -> None:
            code = await proc.wait()
            exited.set_result(code if code >= 0 else 128 - code)
        asyncio.ensure_future(reap())
        await self._started(read_fd, exited)

    async def _started(self, read_fd: int, exited: asyncio.Future[int | None]) -> None:
        reply = await _read_all(read_fd)
        if reply != "ok":
            await exited
            raise error_from_reply(reply)

    def _exited(self, cid: str, fut: asyncio.Future[int | None]) -> None:
        code = fut.result()
        log.debug("supervisor of %s exited %s", cid[:12], code)
        if code is None:
            if self.exits.get(cid) is fut:
                self.exits.pop(cid, None)
            return
        self.last_code[cid] = code
        asyncio.get_running_loop().call_later(60, self._forget, cid, fut)

    def _forget(self, cid: str, exited: asyncio.Future[int | None]) -> None:
        if self.exits.get(cid) is exited:
            self.exits.pop(cid, None)
            self.last_code.pop(cid, None)

    async def wait(self, cid: str, condition: str = "not-running") -> int:
        """Until ``condition`` holds: ``not-running`` (now, if it is not running), ``next-exit`` (the next time
        it stops), ``removed`` (its record is gone). Returns the exit code."""
        rec = self.store.load(cid)
        first_started = rec.state.get("started") if rec else None
        was_exited = rec is not None and rec.status in ("exited", "dead")
        delay = 0.002
        while True:
            fut = self.exits.get(cid)
            if fut is not None and not (condition == "next-exit" and was_exited and fut.done()):
                code = await asyncio.shield(fut)
                if code is not None:
                    if condition != "removed" or await self._gone(cid):
                        return code
            rec = self.store.load(cid)
            if rec is None:
                return self.last_code.get(cid, 0)
            status = rec.status
            code = rec.state.get("exit_code")
            if isinstance(code, int):
                self.last_code[cid] = code
            stopped = status in ("exited", "dead") or (status == "created" and condition == "not-running")
            if condition == "next-exit" and was_exited and rec.state.get("started") == first_started:
                stopped = False
            if stopped and condition != "removed":
                return code if isinstance(code, int) else 0
            if status == "running" and (owner := rec.state.get("owner_pid")) and not self.exits.get(cid):
                await _until_gone(owner)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def _gone(self, cid: str, timeout: float = 0.5) -> bool:
        deadline = time.monotonic() + timeout
        while os.path.exists(self.paths.container_dir(cid)):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True


async def _read_all(fd: int) -> str:
    """Read a pipe to EOF without blocking the loop."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            chunks.append(data)
        elif not done.done():
            done.set_result(None)
    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


async def _until_gone(pid: int) -> None:
    """Sleep until process ``pid`` exits (a pidfd works for processes that are not our children)."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)
