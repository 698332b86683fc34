"""One container run, start to end, as the order table in DESIGN.md §3 says. Both front ends (the CLI and
the daemon's supervisor) call ``run_container``; the OCI front end calls ``park_container`` (the same steps up
to the exec, which ``nsrun-oci start`` releases later); nothing else starts containers.
"""
from __future__ import annotations

import os
import _signal as signal  # the C module: signal.py builds its enums at import (~1.5 ms per start)
import sys
import time

from . import _trace
from ._plugins import blamed
from ._signals import FORWARDED
from ._spawn import spawn as fork_container
from .syscalls import CLONE_NEWNS
from ._state import process_start_time
from .errors import NsrunError, SetupError, TeardownError

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any, Callable
    from ._context import RunContext
    from ._plugins import LoadedPlugins
    from ._state import Record

__all__ = ["configure", "run_container", "park_container", "teardown_all"]



def configure(plugins: LoadedPlugins, ctx: RunContext) -> None:
    """Validate every option (core's and each plugin's); nothing is created."""
    plugins.call("configure", ctx=ctx)


def teardown_all(plugins: LoadedPlugins, ctx: RunContext, status: int | None) -> list[tuple[str, BaseException]]:
    """Call every plugin's teardown in reverse pipeline order, each on its own; return the failures."""
    failures = []
    for name, thunk in plugins.each("teardown", reverse=True, ctx=ctx, status=status):
        try:
            thunk()
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            failures.append((name, exc))
    return failures


def run_container(plugins: LoadedPlugins, ctx: RunContext, record: Record, io: Any,
                  spawn: Callable[..., Any] = fork_container,
                  on_started: Callable[[Any], None] | None = None) -> int:
    """Run the container to its end; return its exit code. Teardown always runs.

    ``io`` decides where stdio goes (see ``_io``). ``on_started`` is called once the command has exec'd.
    Raises SetupError/ChildSetupError when the command never ran, TeardownError when undoing failed.
    """
    status: int | None = None
    error: BaseException | None = None
    held = -1
    saved = {sig: signal.signal(sig, _abort) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        flags = 0
        for bits in plugins.call("pre_clone", ctx=ctx):  # each plugin's CLONE_NEW* bits
            flags |= int(bits)
        with _trace.phase("fork"):
            child = spawn(ctx, plugins, flags)
        held = _hold_mounts(child.pid) if flags & CLONE_NEWNS else -1
        try:
            io.after_fork()
            ctx.pid = child.pid
            if ctx.hostname:
                ctx.info.setdefault("Hostname", ctx.hostname)
            _named("post_start", plugins.call, "post_start", ctx=ctx, pid=child.pid)
            with _trace.phase("record: running"):
                record.update(status="running", pid=child.pid, pid_start=process_start_time(child.pid),
                              started=time.time(), info=ctx.info)
        except BaseException:
            child.kill()
            raise
        with _forwarding(child.pid):  # from here on, signals to nsrun are the container's
            try:
                with _trace.phase("exec"):
                    child.release()
                _named("post_exec", plugins.call, "post_exec", ctx=ctx, pid=child.pid)
            except BaseException:
                child.kill()
                raise
            if on_started:
                on_started(child)
            with _trace.phase("wait for the command"):
                status = io.wait(child)
        return status
    except BaseException as exc:
        error = exc
        raise
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        failures = teardown_all(plugins, ctx, status)
        fields: dict[str, Any] = {"status": "exited", "exit_code": status if status is not None else _code(error),
                                  "finished": time.time(), "pid": None}
        if error is not None and not isinstance(error, KeyboardInterrupt):
            fields["error"] = str(error)
        try:
            with _trace.phase("record: exited"):
                record.update(info_patch=ctx.info, **fields)  # teardown may report (info["State"]: OOMKilled)
        except OSError:
            pass  # the record was removed under us (rm -f)
        _release_mounts(held, ctx)
        if failures and error is None:
            raise TeardownError(failures)
        if failures:
            for name, exc in failures:
                print(f"nsrun: teardown of {name} failed: {exc}", file=sys.stderr)


def _hold_mounts(pid: int) -> int:
    """A reference of ours to the container's new mount namespace, taken while its first process lives.

    Without it the namespace dies with the container's last process, inside that process's exit: every
    mount is unmounted and the kernel waits for an RCU grace period (5-10 ms on this machine kind, measured
    in ``make bench``) before our ``wait`` returns. With it the last process exits at once and the
    namespace, which nothing can enter any more, goes when we drop the reference (``_release_mounts``)."""
    try:
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def _release_mounts(fd: int, ctx: RunContext) -> None:
    """Drop ``_hold_mounts``'s reference once the exit is recorded: a foreground run's process leaves right
    after, so a short-lived child of ours drops it once we are gone (``_deferred``: nobody waits for the
    unmounting); a supervisor (which may run the container again) drops it itself, after the record says
    exited, so ``stop`` and ``wait`` do not wait for it either."""
    if fd < 0:
        return
    if ctx.spec.detach:
        os.close(fd)
        return
    from ._deferred import defer_close
    defer_close(fd)


def park_container(plugins: LoadedPlugins, ctx: RunContext, record: Record, parking: Any,
                   spawn: Callable[..., Any] = fork_container,
                   after_start: Callable[[int], None] | None = None) -> Any:
    """OCI ``create``: pre_clone, fork, post_start, then the child runs every ``in_child``/``before_exec``/
    ``wrap_exec`` and parks on the exec fifo (``_spawn.Parking``); the record says ``created`` with its pid.
    ``after_start(pid)`` runs after every ``post_start``, before the child goes on to its mounts.
    Returns the child (the caller may wait for it: ``nsrun-oci run``). Nothing is torn down on success —
    the container outlives this process; ``delete`` collects it through the plugins' ``gc``. On any failure
    the child is killed and every plugin's teardown runs, then the error propagates."""
    child = None
    try:
        flags = 0
        for bits in plugins.call("pre_clone", ctx=ctx):
            flags |= int(bits)
        with _trace.phase("fork"):
            child = spawn(ctx, plugins, flags, parking)
        ctx.pid = child.pid
        # recorded at once: if this process is killed now, ``delete`` still finds the child to kill
        record.update(pid=child.pid, pid_start=process_start_time(child.pid))
        if ctx.hostname:
            ctx.info.setdefault("Hostname", ctx.hostname)
        _named("post_start", plugins.call, "post_start", ctx=ctx, pid=child.pid)
        if after_start is not None:  # the front end's own step (OCI: prestart/createRuntime hooks)
            after_start(child.pid)
        with _trace.phase("park"):
            child.park()
        record.update(status="created", pid=child.pid, pid_start=process_start_time(child.pid), owner_pid=None,
                      owner_start=None, info=ctx.info)
        return child
    except BaseException:
        if child is not None:
            child.kill()
        for name, exc in teardown_all(plugins, ctx, None):
            print(f"nsrun: teardown of {name} failed: {exc}", file=sys.stderr)
        raise


class Aborted(NsrunError):
    """nsrun was told to stop (SIGTERM/SIGHUP) while it was still setting the container up."""


def _abort(signum: int, _frame: object) -> None:
    raise Aborted(f"interrupted by signal {signum} during setup; everything made so far was undone")


def _code(error: BaseException | None) -> int:
    return getattr(error, "exit_code", 125) if error is not None else 125


def _named(phase: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an OSError becomes a SetupError naming the plugin that raised it."""
    try:
        return fn(*args, **kwargs)
    except NsrunError:
        raise
    except OSError as exc:
        plugin = blamed(exc)
        raise SetupError(f"{plugin}: {phase}: {exc.strerror or exc}", phase=phase, plugin=plugin,
                         errno=exc.errno) from exc


class _forwarding:
    """While the container runs, signals nsrun receives go to the container's init (Docker's sig-proxy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.saved: dict[int, Any] = {}

    def _forward(self, signum: int, _frame: object) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "_forwarding":
        for sig in FORWARDED:
            self.saved[sig] = signal.signal(sig, self._forward)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
