"""``nsrun exec``: run another command inside a running container's namespaces.

The new process joins the container init's namespaces (``_spawn.spawn_joined``), gets the same
``before_exec`` treatment as the container's command (capabilities, no_new_privs), the container's
environment plus ``-e``, and its exit status is returned.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._plugins import load_plugins

if TYPE_CHECKING:
    from ._engine import Engine
    from ._state import Record

__all__ = ["exec_in", "exec_plugins", "join", "EXEC_HOOKS"]

EXEC_HOOKS = ("pre_join", "post_join", "before_exec", "wrap_exec")  # all an exec runs of its container's plugins


_LOADED: dict[tuple[str, ...], Any] = {}


def exec_plugins(plugins: list[str]) -> Any:
    """The plugins an exec of a container with ``plugins`` runs (those implementing ``EXEC_HOOKS``), loaded
    once per process: a supervisor calls this before it takes execs, so each exec helper it forks starts
    with them registered (building a plugin manager costs ~4 ms)."""
    key = tuple(plugins)
    if key not in _LOADED:
        _LOADED[key] = load_plugins(list(plugins), only_hooks=EXEC_HOOKS)
    return _LOADED[key]


def exec_in(engine: Engine, rec: Record, argv: list[str], *, tty: bool, interactive: bool, env: dict[str, str],
            workdir: str | None, user: str | None, client: int | None = None) -> int:
    from ._parse import parse_user
    from ._io import PipeIO, PtyIO
    from ._lifecycle import _forwarding

    spec = rec.spec.replace(argv=list(argv), env={**rec.spec.env, **env}, tty=tty,
                               interactive=interactive, workdir=workdir or rec.spec.workdir,
                               user=parse_user(user, rec.spec.rootfs) if user else rec.spec.user)
    io = PtyIO(interactive) if tty else PipeIO(interactive)

    def forked(child: Any) -> None:
        io.after_fork()
        if client is not None:
            io.watch(client, lambda: _gone(client, io, child))
    child = join(rec, spec, engine.paths, forked=forked)
    with _forwarding(child.pid):
        return io.wait(child)


def join(rec: Record, spec: Any, paths: Any, *, parking: Any = None, forked: Any = None) -> Any:
    """The one way into a running container (``nsrun exec``, ``nsrun-oci exec``): ``spec`` run by a process
    that joins ``rec``'s namespaces with the container's exec plugins (``pre_join``, ``post_join``); returned
    released (exec'd, or parked on ``parking``'s fifo). ``forked(child)`` runs right after the fork; if
    anything after the fork fails, the joining process is killed."""
    from ._spawn import spawn_joined
    loaded = exec_plugins(rec.spec.plugins)
    ctx = loaded.context(spec, paths)
    ctx.hostname = (rec.state.get("info") or {}).get("Hostname")
    loaded.call("pre_join", ctx=ctx)
    child = spawn_joined(rec.state["pid"], ctx, loaded, parking)
    try:
        if forked is not None:
            forked(child)
        loaded.call("post_join", ctx=ctx, pid=child.pid)
        child.release()
    except BaseException:
        child.kill()
        raise
    return child


def _gone(client: int, io: Any, child: Any) -> None:
    """``client`` is readable: at EOF its caller is gone, so the command goes too (it sends nothing else)."""
    try:
        data = os.read(client, 64)
    except OSError:
        data = b""
    if not data:
        io.unwatch(client)
        child.kill()
