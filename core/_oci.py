"""An OCI runtime-spec ``config.json`` -> what ``Engine.prepare`` takes: the third front end's mapping.

The core takes its own parts (``ociVersion``, ``process.args/env/cwd/terminal/consoleSize``,
``process.user`` with ``additionalGids`` and ``umask``, ``root.path``, ``annotations``, ``hooks``: the
lifecycle's, run by the front end); every plugin takes the sections it owns through the ``oci_config`` hook (uts ``hostname``,
each namespace plugin its ``linux.namespaces`` entry, mnt ``root.readonly`` and ``mounts`` ...). A part that is
set and that nobody took is refused by name (``FieldError``), so no field of the spec is silently ignored.
"""
from __future__ import annotations

import os
from typing import Any

from ._fieldsource import FieldError, FieldSource

__all__ = ["from_oci", "SUPPORTED_VERSIONS"]

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")


def from_oci(config: Any, bundle: str, oci_config: Any) -> dict[str, Any]:
    """``config`` (the parsed config.json of the bundle directory ``bundle``) -> prepare kwargs, plus
    ``annotations``, ``hooks``, ``umask`` (None: the caller's) and ``console_size`` (``(rows, columns)`` or None), which
    the OCI front end applies itself; ``oci_config`` is the hook, called for the plugins the container runs with."""
    fields = FieldSource(config, "config.json field", keyed=("annotations",))
    version = fields.take("ociVersion", str) or ""
    if not version.startswith(tuple(v + "." for v in SUPPORTED_VERSIONS)) and version not in SUPPORTED_VERSIONS:
        raise FieldError(f"unsupported ociVersion {version!r}: nsrun runs {', '.join(SUPPORTED_VERSIONS)}.x")
    argv = fields.take_strings("process.args")
    if not argv:
        raise FieldError("config.json field process.args: a command is required")
    env = {}
    for item in fields.take_strings("process.env") or []:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise FieldError(f"config.json field process.env: {item!r} is not KEY=VALUE")
        env[key] = value
    cwd = fields.take("process.cwd", str) or "/"
    if not os.path.isabs(cwd):
        raise FieldError(f"config.json field process.cwd: {cwd!r} must be an absolute path")
    uid, gid = fields.take("process.user.uid", int) or 0, fields.take("process.user.gid", int) or 0
    groups = fields.take("process.user.additionalGids", list) or []
    if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in groups):
        raise FieldError("config.json field process.user.additionalGids: a list of group ids is required")
    umask = fields.take("process.user.umask", int)
    if umask is not None and not 0 <= umask <= 0o777:
        raise FieldError(f"config.json field process.user.umask: {umask} is not a umask")
    rows, cols = fields.take("process.consoleSize.height", int), fields.take("process.consoleSize.width", int)
    size = (rows or 0, cols or 0) if rows or cols else None
    root = fields.take("root.path", str)
    if not root:
        raise FieldError("config.json field root.path: the root filesystem is required")
    args: dict[str, Any] = {
        "argv": argv, "env": env, "workdir": cwd, "user": f"{uid}:{gid}" if (uid, gid) != (0, 0) else None,
        "tty": bool(fields.take("process.terminal", bool)), "rootfs": os.path.join(bundle, root),
        "annotations": fields.take("annotations", dict) or {}, "options": {},
        "group_add": [str(g) for g in groups] or None, "umask": umask, "console_size": size,
        "hooks": fields.take("hooks", dict) or {}}
    for result in oci_config(fields=fields):
        args["options"].update(result)
    fields.refuse_leftover()
    return args
