"""nsrun: a container runtime whose every namespace and network piece is a pluggy plugin.

This module is the public API for plugins: import from ``nsrun`` only, never from ``nsrun._private``.
A plugin is a module of ``@hookimpl`` functions (see ``nsrun.hookspecs``) registered under the entry-point
group ``nsrun.plugins``.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing's own flag without importing typing (~2 ms): this module is on every path
if TYPE_CHECKING:
    from typing import Any

    from ._context import Paths

from .errors import (ChildSetupError, ConfigError, ConflictError, NotFoundError, NsrunError, PluginError,
                     SetupError, TeardownError)

__version__ = "0.1.0"


def process_start_time(pid: int) -> int | None:
    """A process's start time in clock ticks (``/proc/PID/stat`` field 22), to tell a reused pid apart; None
    when it does not exist or is a zombie. The one reader of it: compare it with a recorded one."""
    from ._state import process_start_time as read
    return read(pid)


def find_container(paths: Paths, ref: str) -> dict:
    """A container of the root ``paths`` by name, full id or unique id prefix (Docker's resolution):
    ``{"id", "name", "status", "pid", "pid_start", "plugins", "options", "info"}`` where ``pid`` is None
    unless it is running; ``info`` is what its plugins reported (``RunContext.info``). Raises NotFoundError.
    (For plugins that refer to other containers, e.g. ``--network container:NAME``, or act on one.)"""
    from ._state import Store
    rec = Store(paths).find(ref)
    running = rec.running
    return {"id": rec.id, "name": rec.name, "status": rec.status, "pid": rec.pid if running else None,
            "pid_start": rec.state.get("pid_start") if running else None, "plugins": list(rec.spec.plugins),
            "options": dict(rec.spec.options), "info": dict(rec.state.get("info") or {})}


def list_containers(paths: Paths) -> list:
    """Every container of the root ``paths``, any status, as ``find_container`` describes one (for plugins
    that must know which containers use something they own: a volume in use is not removed)."""
    from ._state import Store
    out = []
    for rec in Store(paths).list():
        running = rec.running
        out.append({"id": rec.id, "name": rec.name, "status": rec.status, "pid": rec.pid if running else None,
                    "pid_start": rec.state.get("pid_start") if running else None, "plugins": list(rec.spec.plugins),
                    "options": dict(rec.spec.options), "info": dict(rec.state.get("info") or {})})
    return out


def update_container_info(paths: Paths, cid: str, patch: dict) -> dict:
    """Merge ``patch`` into a container's recorded ``info`` (top-level keys replaced), under its lock; the
    new ``info``. For plugin commands that change a running container (``nsrun pause`` sets
    ``info["State"]["Paused"]``). Raises NotFoundError."""
    from ._state import Store
    rec = Store(paths).find(cid)
    rec.update(info_patch=patch)
    return dict(rec.state.get("info") or {})


def installed_hooks(only: str | None = None) -> Any:
    """The hooks of EVERY installed plugin, selected or not (a pluggy ``HookRelay``: ``.<hook>(**kwargs)``),
    in pipeline order. For undoing what any plugin may have made (``gc``, ``nsrun network rm``): the net
    plugin calls ``installed_hooks().net_firewall_backend()`` to reach every firewall backend. Never for a
    run: a run's hooks are ``ctx.hook`` (the selected plugins only). ``only``: a hook name; just the plugins
    that implement it are imported (``nsrun pull`` asks for ``image_transports`` without importing the rest)."""
    from ._plugins import installed_manager
    return installed_manager((only,) if only else ()).pm.hook


# Every name but the errors loads on first access (PEP 562): importing any ``nsrun.x`` imports this package
# first, and the exec client (``_execclient``) must not pay for pluggy, ctypes and the context classes it never
# uses. A plugin's ``from nsrun import hookimpl`` loads what it names, once.
_LAZY = {"ContainerSpec": "_context", "IdMap": "_context", "Mount": "_context", "Paths": "_context",
         "RunContext": "_context", "Stash": "_context", "StashKey": "_context", "defer_close": "_deferred",
         "Fields": "_fields", "Option": "_options", "fork_command": "_spawn", "hookimpl": "_hookimpl",
         "CLONE_NEWIPC": "_clone", "CLONE_NEWNET": "_clone", "CLONE_NEWNS": "_clone", "CLONE_NEWPID": "_clone",
         "CLONE_NEWUSER": "_clone", "CLONE_NEWUTS": "_clone", "CLONE_NEWCGROUP": "_clone",
         "FieldSource": "_fieldsource", "FieldError": "_fieldsource", "Route": "_routes", "ApiRequest": "_routes",
         "ApiResponse": "_routes", "format_table": "_console", "parse_filters": "_filters",
         "filter_items": "_filters", "labels_match": "_filters", "parse_time": "_parse"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nsrun' has no attribute {name!r}")
    import sys
    __import__(f"{__name__}.{module}")  # not importlib (it imports warnings): this is on every start
    value = getattr(sys.modules[f"{__name__}.{module}"], name)
    globals()[name] = value
    return value


__all__ = [
    "hookimpl", "RunContext", "ContainerSpec", "Paths", "Stash", "StashKey", "Mount", "IdMap", "Option",
    "NsrunError", "ConfigError", "ConflictError", "NotFoundError", "PluginError", "SetupError",
    "ChildSetupError", "TeardownError",
    "CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUSER", "CLONE_NEWUTS", "CLONE_NEWCGROUP",
    "find_container", "list_containers", "update_container_info", "installed_hooks", "process_start_time", "format_table", "Fields", "defer_close", "parse_time",
    "__version__", "parse_filters", "filter_items", "labels_match", "FieldSource", "FieldError", "Route", "ApiRequest", "ApiResponse", "fork_command",
]
