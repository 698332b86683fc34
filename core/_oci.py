"""An OCI runtime-spec ``config.json`` -> what ``Engine.prepare`` takes: the third front end's mapping.

The core takes its own parts (``ociVersion``, ``process.args/env/cwd/terminal/consoleSize``,
``process.user`` with ``additionalGids`` and ``umask``, ``root.path``, ``annotations``, ``hooks``: the
lifecycle's, run by the front end); every plugin takes the sections it owns through the ``oci_config`` hook (uts ``hostname``,
each namespace plugin its ``linux.namespaces`` entry, mnt ``root.readonly`` and ``mounts`` ...). A part that is
set and that nobody took is refused by name (``FieldError``), so no field of the spec is silently ignored.
"""
from __future__ import annotations

import os

from ._fieldsource import FieldError, FieldSource

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["from_oci", "take_process", "SUPPORTED_VERSIONS"]

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")


def from_oci(config: Any, bundle: str, oci_config: Any) -> dict[str, Any]:
    """``config`` (the parsed config.json of the bundle directory ``bundle``) -> prepare kwargs, plus
    ``annotations``, ``hooks``, ``umask`` (None: the caller's) and ``console_size`` (``(rows, columns)`` or None), which
    the OCI front end applies itself; ``oci_config`` is the hook, called for the plugins the container runs with."""
    fields = FieldSource(config, "config.json field", keyed=("annotations",))
    version = fields.take("ociVersion", str) or ""
    if not version.startswith(tuple(v + "." for v in SUPPORTED_VERSIONS)) and version not in SUPPORTED_VERSIONS:
        raise FieldError(f"unsupported ociVersion {version!r}: nsrun runs {', '.join(SUPPORTED_VERSIONS)}.x")
    proc = take_process(fields, "process.", "config.json field")
    root = fields.take("root.path", str)
    if not root:
        raise FieldError("config.json field root.path: the root filesystem is required")
    uid, gid = proc["uid"], proc["gid"]
    args: dict[str, Any] = {
        "argv": proc["argv"], "env": proc["env"], "workdir": proc["cwd"],
        "user": f"{uid}:{gid}" if (uid, gid) != (0, 0) else None, "tty": proc["tty"],
        "rootfs": os.path.join(bundle, root), "annotations": fields.take("annotations", dict) or {}, "options": {},
        "group_add": [str(g) for g in proc["groups"]] or None, "umask": proc["umask"],
        "console_size": proc["console_size"],
        "hooks": fields.take("hooks", dict) or {}}
    for result in oci_config(fields=fields):
        args["options"].update(result)
    fields.refuse_leftover()
    return args


def take_process(fields: FieldSource, prefix: str, label: str) -> dict[str, Any]:
    """What both OCI front ends read of a runtime-spec process object (config.json's ``process``: ``prefix``
    ``"process."``; an exec's ``--process``: ``""``): ``argv, env, cwd, uid, gid, groups, umask, tty,
    console_size`` (``(rows, columns)`` or None). A bad value is a FieldError naming ``label`` and the field."""
    def bad(name: str, why: str) -> FieldError:
        return FieldError(f"{label} {prefix}{name}: {why}")
    argv = fields.take_strings(f"{prefix}args")
    if not argv:
        raise bad("args", "a command is required")
    env = {}
    for item in fields.take_strings(f"{prefix}env") or []:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise bad("env", f"{item!r} is not KEY=VALUE")
        env[key] = value
    cwd = fields.take(f"{prefix}cwd", str) or "/"
    if not os.path.isabs(cwd):
        raise bad("cwd", f"{cwd!r} must be an absolute path")
    groups = fields.take(f"{prefix}user.additionalGids", list) or []
    if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in groups):
        raise bad("user.additionalGids", "a list of group ids is required")
    umask = fields.take(f"{prefix}user.umask", int)
    if umask is not None and not 0 <= umask <= 0o777:
        raise bad("user.umask", f"{umask} is not a umask")
    rows, cols = fields.take(f"{prefix}consoleSize.height", int), fields.take(f"{prefix}consoleSize.width", int)
    return {"argv": argv, "env": env, "cwd": cwd, "uid": fields.take(f"{prefix}user.uid", int) or 0,
            "gid": fields.take(f"{prefix}user.gid", int) or 0, "groups": groups, "umask": umask,
            "tty": bool(fields.take(f"{prefix}terminal", bool)),
            "console_size": (rows or 0, cols or 0) if rows or cols else None}
