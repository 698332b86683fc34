"""A detached container's keeper: ``python -m nsrun._supervisor ROOT RUN ID FD``.

Started as a fresh process (never forked from a threaded parent), in its own session. It runs the container
through the one code path (``Engine.run``), copies its output into ``container.log``, records the exit and
runs teardown. On FD it writes ``ok`` once the command has exec'd, or a JSON error, then closes it: the
caller (``run -d``, the daemon) returns only then, so start errors reach the user. While the command runs
it also takes ``nsrun exec`` requests (``_execserve``).
"""
from __future__ import annotations

import json
import os
import sys

from ._launch import reply_for
from .errors import NsrunError

__all__ = ["supervise"]


def _stdin_from_fifo(path: str, keep_open: bool) -> None:
    """``-i`` under the daemon: the container's stdin is the FIFO ``stdin`` in its directory (the daemon
    and ``nsrun attach`` write what an attached client sends). ``keep_open`` (a tty, or Docker's
    ``StdinOnce`` false: ``run -di``, ``create -i``): we hold a write end too, so the container's stdin stays
    open with no client and whatever clients come and go (detach keys, a dropped connection). Otherwise
    (``StdinOnce``: ``run -i`` attached, no tty) the read end only: the container sees EOF once the writers
    that came have gone (a FIFO opened without a writer reports no hang-up until one has come), i.e. when
    the attached client's stdin ends."""
    try:
        fd = os.open(path, (os.O_RDWR if keep_open else os.O_RDONLY) | os.O_NONBLOCK)
    except FileNotFoundError:
        return
    os.set_blocking(fd, True)
    os.dup2(fd, 0)
    os.close(fd)


def _shrink() -> None:
    """The supervisor now only waits: give back what setting up took (netlink and nftables work allocates
    megabytes of C and Python heap), so each running container costs little memory."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def should_restart(policy: str, code: int, count: int, state: dict) -> bool:
    """Whether the supervisor runs the container again after it exited with ``code`` (``count`` restarts so
    far): Docker's rules. Never after ``stop``/``kill`` (``manual_stop``)."""
    if not policy or state.get("manual_stop"):
        return False
    name, _, limit = policy.partition(":")
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        return code != 0 and (not limit or count < int(limit))
    return False


def _backoff(rec: object, delay: float) -> bool:
    """Sleep ``delay`` seconds between two runs, watching for ``stop``/``kill``; False when told to stop."""
    import time
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        fresh = rec.store.load(rec.id)  # type: ignore[attr-defined]
        if fresh is None or fresh.state.get("manual_stop"):
            return False
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    fresh = rec.store.load(rec.id)  # type: ignore[attr-defined]
    return fresh is not None and not fresh.state.get("manual_stop")


def supervise(root: str, run: str, cid: str, reply_fd: int) -> int:
    from ._context import Paths
    from ._engine import Engine
    from ._io import LogIO, PtyIO
    from ._lifecycle import configure
    from ._plugins import load_plugins
    from ._state import process_start_time

    engine = Engine(Paths(root=root, run=run))
    reply = os.fdopen(reply_fd, "w")

    def answer(text: str) -> None:
        if not reply.closed:
            reply.write(text)
            reply.close()
    try:
        rec = engine.store.load(cid)
        if rec is None:
            raise NsrunError(f"No such container: {cid}")
        rec.update(owner_pid=os.getpid(), owner_start=process_start_time(os.getpid()), manual_stop=False)
        loaded = load_plugins(rec.spec.plugins)
        log = engine.log_path(rec)
        monitor: list = []
        execs: list = []

        def started(_child: object) -> None:
            config = rec.spec.config.get("Healthcheck")
            if config and config.get("Test") and config["Test"][0] != "NONE":
                from ._health import Monitor
                monitor.append(Monitor(rec, config))
                monitor[-1].start()
            from . import _trace
            from ._execserve import ExecServer
            if _trace.enabled:  # nobody reads our stderr: keep the phases beside the log (before "ok")
                with open(os.path.join(rec.dir, "trace.txt"), "w") as f:
                    _trace.report(f)
            try:  # before "ok": an exec right after ``run -d`` finds it
                execs.append(ExecServer(engine, rec))   # one per run (a restart policy runs it again)
                io.watch(execs[-1].fileno(), execs[-1].on_readable)
            except (OSError, NsrunError):
                pass  # no socket: ``nsrun exec`` runs the exec itself (and reports), as for a foreground run
            answer("ok")
            _shrink()
        count = int(rec.state.get("restart_count") or 0)
        delay = 0.1
        while True:  # one run, or (a restart policy) as many as the policy says, each a whole run
            import time
            # stdin afresh for each run: after a StdinOnce client's EOF the FIFO reports a hang-up for good,
            # and a restart gets an open stdin again (as dockerd makes new input pipes at each start)
            _stdin_from_fifo(os.path.join(rec.dir, "stdin"),
                             keep_open=rec.spec.tty or not rec.spec.config.get("StdinOnce"))
            ctx = loaded.context(rec.spec, engine.paths)
            configure(loaded, ctx)
            if rec.spec.tty:
                from ._logfile import RotatingLog
                io = PtyIO(interactive=rec.spec.interactive, sink=RotatingLog(log, rec.spec.log_opts))
            else:
                io = LogIO(log, rec.spec.log_opts)
            began = time.monotonic()
            try:
                code = engine.run(loaded, ctx, rec, io, on_started=started)
            finally:
                while monitor:
                    monitor.pop().stop()
                while execs:
                    execs.pop().close()
            fresh = engine.store.load(cid)
            if fresh is None or not should_restart(rec.spec.restart, code, count, fresh.state):
                return code
            delay = 0.1 if time.monotonic() - began > 10 else min(delay * 2, 10.0)  # dockerd's back-off
            count += 1
            fresh.update(status="restarting", restart_count=count)
            if not _backoff(fresh, delay):
                if engine.store.load(cid) is not None:
                    fresh.update(status="exited")
                return code
            rec = fresh
    except NsrunError as exc:
        answer(reply_for(exc))
        return exc.exit_code
    except BaseException as exc:  # noqa: BLE001 - the caller must hear about it
        answer(json.dumps({"message": f"supervisor: {exc!r}"}))
        return 125


if __name__ == "__main__":
    code = supervise(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
    from nsrun._deferred import hand_over
    hand_over()
    os._exit(code)  # nothing left to flush; skip the interpreter's shutdown
