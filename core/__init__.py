"""nsrun: a container runtime whose every namespace and network piece is a pluggy plugin.

This module is the public API for plugins: import from ``nsrun`` only, never from ``nsrun._private``.
A plugin is a module of ``@hookimpl`` functions (see ``nsrun.hookspecs``) registered under the entry-point
group ``nsrun.plugins``.
"""
from __future__ import annotations

from ._console import format_table
from ._context import ContainerSpec, IdMap, Mount, Paths, RunContext, Stash, StashKey
from ._deferred import defer_close
from ._fields import Fields
from ._fieldsource import FieldError, FieldSource
from ._plugins import Option
from ._routes import ApiRequest, ApiResponse, Route
from ._spawn import fork_command
from .errors import (ChildSetupError, ConfigError, ConflictError, NotFoundError, NsrunError, PluginError,
                     SetupError, TeardownError)
from .hookspecs import hookimpl
from .syscalls import (CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS)

__version__ = "0.1.0"


def process_start_time(pid: int) -> int | None:
    """A process's start time in clock ticks (``/proc/PID/stat`` field 22), to tell a reused pid apart; None
    when it does not exist or is a zombie. The one reader of it: compare it with a recorded one."""
    from ._state import process_start_time as read
    return read(pid)


def find_container(paths: Paths, ref: str) -> dict:
    """A container of the root ``paths`` by name, full id or unique id prefix (Docker's resolution):
    ``{"id", "name", "pid", "pid_start"}`` where ``pid`` is None unless it is running. Raises NotFoundError.
    (For plugins that refer to other containers, e.g. ``--network container:NAME``.)"""
    from ._state import Store
    rec = Store(paths).find(ref)
    running = rec.running
    return {"id": rec.id, "name": rec.name, "pid": rec.pid if running else None,
            "pid_start": rec.state.get("pid_start") if running else None}

__all__ = [
    "hookimpl", "RunContext", "ContainerSpec", "Paths", "Stash", "StashKey", "Mount", "IdMap", "Option",
    "NsrunError", "ConfigError", "ConflictError", "NotFoundError", "PluginError", "SetupError",
    "ChildSetupError", "TeardownError",
    "CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUSER", "CLONE_NEWUTS",
    "find_container", "process_start_time", "format_table", "Fields", "defer_close", "__version__",
    "FieldSource", "FieldError", "Route", "ApiRequest", "ApiResponse", "fork_command",
]
