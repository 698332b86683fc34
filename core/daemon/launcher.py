"""Starting supervisors and waiting for containers, from inside the daemon's event loop.

A container is started by a *fresh* supervisor process (``python -m nsrun._supervisor``, exec'd at once by
``subprocess``, never a fork of the daemon that goes on running Python), in its own session: it survives the
daemon. While this daemon instance lives, the supervisor is its child and its exit status is the container's
exit status, which is how ``wait?condition=removed`` learns the code of a ``--rm`` container whose record is
already gone. After a daemon restart the records and the supervisors' pids (``owner_pid``) are all there is:
waiting then polls the record and sleeps on a pidfd of the supervisor.
"""
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time

from .._context import Paths
from .._state import Store

__all__ = ["Launcher"]

log = logging.getLogger("nsrun.daemon")


class Launcher:
    """Starts supervisors and answers "when did/does this container exit, with what code"."""

    def __init__(self, paths: Paths, store: Store) -> None:
        self.paths = paths
        self.store = store
        self.exits: dict[str, asyncio.Future[int]] = {}   # cid -> supervisor exit status (this instance only)
        self.last_code: dict[str, int] = {}                # cid -> last exit code seen (for --rm after restart)
        self.procs: set[asyncio.subprocess.Process] = set()

    async def start(self, cid: str) -> None:
        """Start the created container ``cid``; return once its command exec'd, or raise the start error."""
        from .._supervisor import error_from_reply
        loop = asyncio.get_running_loop()
        # Registered before anything is awaited: a waiter must never miss a fast container's exit (under load
        # the supervisor can finish, and remove a --rm record, before the subprocess call returns).
        exited: asyncio.Future[int] = loop.create_future()
        self.exits[cid] = exited
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "nsrun._supervisor", self.paths.root, self.paths.run, cid, str(write_fd),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,), start_new_session=True)
        except BaseException:
            os.close(read_fd)
            self.exits.pop(cid, None)
            exited.set_result(125)
            raise
        finally:
            os.close(write_fd)
        self.procs.add(proc)

        async def reap() -> None:
            code = await proc.wait()
            self.procs.discard(proc)
            code = code if code >= 0 else 128 - code
            log.debug("supervisor of %s exited %s", cid[:12], code)
            self.last_code[cid] = code
            exited.set_result(code)
            loop.call_later(60, self._forget, cid, exited)
        asyncio.ensure_future(reap())
        reply = await _read_all(read_fd)
        if reply != "ok":
            await exited
            raise error_from_reply(reply)

    def _forget(self, cid: str, exited: asyncio.Future[int]) -> None:
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
                if condition != "removed":
                    return code
                if await self._gone(cid):
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
