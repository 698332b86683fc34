"""Joining an existing ipc or uts namespace instead of making one: ``--ipc ns:PATH`` / ``--uts ns:PATH``, and the
``path`` of a ``linux.namespaces`` entry in an OCI config (a Kubernetes pod's containers share the sandbox's ipc
and uts namespaces by path). Each plugin owns its own namespace; this module is the part they share.

The path (a bind mount of a namespace, or ``/proc/PID/ns/KIND``) is checked when the run is configured (nothing
exists yet: a missing one is one line, nothing left behind) and joined by the child (``setns``) in its
``in_child``, before the mnt plugin's mounts, so the host's path is still there to open; ``setns`` refuses a
file that is not a namespace of that kind (EINVAL), which fails the run like any child step.
"""
from __future__ import annotations

import os

from nsrun import ConfigError

__all__ = ["configured_path", "oci_path", "join"]


def configured_path(mode: str | None, kind: str) -> str | None:
    """The namespace file to join for the option's value (``private``/unset: None, a new namespace)."""
    if not mode or mode == "private":
        return None
    if not mode.startswith("ns:"):
        raise ConfigError(f"--{kind} {mode}: use private or ns:PATH")
    path = mode[3:]
    if not os.path.isabs(path) or not os.path.exists(path):
        raise ConfigError(f"{kind} namespace {path}: no such file or directory")
    return path


def oci_path(fields, kind: str) -> dict | None:
    """The ``linux.namespaces`` entry of ``kind`` as this plugin's option: ``{kind: "ns:PATH"}`` for a
    ``path``, None for a new namespace or no entry (callers decide what no entry means)."""
    paths = [ns["path"] for ns in fields.take_items("linux.namespaces", kind, by="type") if ns.get("path")]
    if not paths:
        return None
    if not isinstance(paths[0], str):
        raise ConfigError(f"config.json: linux.namespaces: the {kind} path must be a string")
    return {kind: f"ns:{paths[0]}"}


def join(path: str, nstype: int) -> None:
    """[child] Enter the namespace at ``path``."""
    from nsrun import syscalls
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, nstype)
    finally:
        os.close(fd)
