"""The runtime-spec's ``hooks``: programs the runtime runs at points of the lifecycle, the container's state
on their stdin (JSON), each within its ``timeout`` seconds.

=================  ==========================================  ===========================================
hook               when                                        failure
=================  ==========================================  ===========================================
prestart,          ``create``: the namespaces exist, the       fails ``create`` (everything is undone)
createRuntime      process is parked before its mounts
poststart          ``start``: the command was exec'd           a warning in the log
poststop           ``delete``: everything is gone              a warning in the log
=================  ==========================================  ===========================================

They run in the runtime's namespaces (the host's), as runc runs them. ``createContainer`` and
``startContainer`` (which run inside the container's mount namespace) are refused by name.
"""
from __future__ import annotations

import os

from .._jsonlite import dumps
from ..errors import ConfigError, SetupError

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["check_hooks", "run_hooks", "HOOK_POINTS"]

HOOK_POINTS = ("prestart", "createRuntime", "poststart", "poststop")
_REFUSED = ("createContainer", "startContainer")


def check_hooks(hooks: Any) -> dict[str, list[dict[str, Any]]]:
    """config.json's ``hooks`` -> ``{point: [hook, ...]}``, each hook checked (absolute ``path``; ``args``
    and ``env`` lists of strings; ``timeout`` a positive integer)."""
    if not hooks:
        return {}
    if not isinstance(hooks, dict):
        raise ConfigError("config.json: hooks must be an object")
    out: dict[str, list[dict[str, Any]]] = {}
    for point, entries in hooks.items():
        if point in _REFUSED and entries:
            raise ConfigError(f"config.json: hooks.{point} (run inside the container's namespaces) is not supported")
        if point not in HOOK_POINTS and point not in _REFUSED:
            raise ConfigError(f"config.json: hooks.{point} is not a hook of the runtime spec")
        if not isinstance(entries, list):
            raise ConfigError(f"config.json: hooks.{point} must be a list")
        for i, hook in enumerate(entries):
            where = f"config.json: hooks.{point}[{i}]"
            if not isinstance(hook, dict) or not isinstance(hook.get("path"), str) or not os.path.isabs(hook["path"]):
                raise ConfigError(f"{where}: an absolute path is required")
            for key in ("args", "env"):
                if not all(isinstance(v, str) for v in hook.get(key) or ()):
                    raise ConfigError(f"{where}.{key}: a list of strings is required")
            timeout = hook.get("timeout")
            if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
                raise ConfigError(f"{where}.timeout: a positive number of seconds is required")
            if unknown := set(hook) - {"path", "args", "env", "timeout"}:
                raise ConfigError(f"{where}.{sorted(unknown)[0]} is not a field of a hook")
        if entries and point in HOOK_POINTS:
            out[point] = list(entries)
    return out


def run_hooks(hooks: dict[str, list[dict[str, Any]]], points: tuple[str, ...], state: dict[str, Any]) -> None:
    """Run the hooks of ``points`` in order; raise SetupError naming the first that fails or times out."""
    import subprocess
    data = dumps(state).encode()
    for point in points:
        for hook in hooks.get(point, ()):
            argv = list(hook.get("args") or [hook["path"]])
            env = dict(item.split("=", 1) for item in hook.get("env") or () if "=" in item)
            try:
                result = subprocess.run(argv, executable=hook["path"], input=data, env=env, capture_output=True,
                                        timeout=hook.get("timeout"), close_fds=True)
            except subprocess.TimeoutExpired:
                raise SetupError(f"{point} hook {hook['path']}: timed out after {hook['timeout']} s",
                                 phase=point) from None
            except OSError as exc:
                raise SetupError(f"{point} hook {hook['path']}: {exc.strerror}", phase=point,
                                 errno=exc.errno) from None
            if result.returncode != 0:
                why = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
                raise SetupError(f"{point} hook {hook['path']} failed: exit status {result.returncode}"
                                 f"{': ' + why[0] if why[0] else ''}", phase=point)
