"""Joining an existing ipc or uts namespace instead of making one: ``--ipc ns:PATH`` / ``--uts ns:PATH``,
``container:NAME`` (that running container's ``/proc/PID/ns/KIND``; Docker's ``IpcMode``/``UTSMode``), ``host`` (no
new namespace: the caller's is kept, nothing to join), and the
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

__all__ = ["PRIVATE", "HOST", "configured_path", "running_container", "oci_path", "join"]

PRIVATE = ("", "private", "shareable")  # Docker's names of a namespace of the container's own
HOST = "host"


def configured_path(mode: str | None, kind: str, paths=None) -> str | None:
    """The namespace file to join for the option's value (``private``/unset: None, a new namespace;
    ``host``: ``HOST``, no new namespace and nothing to join; ``container:NAME`` needs the root's ``paths``)."""
    if not mode or mode in PRIVATE:
        return None
    if mode == HOST:
        return HOST
    if mode.startswith("container:") and paths is not None:
        return _container_path(paths, mode.partition(":")[2], kind)
    if not mode.startswith("ns:"):
        raise ConfigError(f"--{kind} {mode}: use private, host, container:NAME or ns:PATH")
    path = mode[3:]
    if not os.path.isabs(path) or not os.path.exists(path):
        raise ConfigError(f"{kind} namespace {path}: no such file or directory")
    return path


def _container_path(paths, ref: str, kind: str) -> str:
    """``/proc/PID/ns/KIND`` of the running container ``ref`` (Docker's words when it is not running)."""
    return f"/proc/{running_container(paths, ref, kind)['pid']}/ns/{kind}"


def running_container(paths, ref: str, kind: str) -> dict:
    """The running container ``ref`` as ``nsrun.find_container`` describes it (Docker's words when it does not
    exist or does not run)."""
    from nsrun import NotFoundError, find_container, process_start_time
    word = kind.upper()
    try:
        target = find_container(paths, ref) if ref else None
    except NotFoundError:
        target = None
    if target is None:
        raise ConfigError(f"cannot join {word} of container {ref!r}: No such container: {ref}")
    pid = target["pid"]
    if pid is None or process_start_time(pid) != target["pid_start"]:
        raise ConfigError(f"cannot join {word} of a non running container: {ref}")
    return target


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
