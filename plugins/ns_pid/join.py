"""Joining an existing PID namespace instead of making one: ``--pid container:NAME`` (Docker's ``PidMode``;
that running container's ``/proc/PID/ns/pid``) and ``ns:PATH`` (the ``path`` of an OCI config's ``pid``
namespace entry, or a bind mount of one).

``configure`` checks the target (nothing exists yet: one line, nothing left behind); ``pre_clone`` opens it
and, for a container, checks that the process it opened is still that container's init (a PID reused since
``configure`` is refused, never joined), then hands the descriptor to the core's fork protocol through
``ctx.pid_namespace``. The core's stage 1 joins it for its children and forks the container's first process
into it: the two containers see each other's processes, and when the first container's init exits the kernel
kills every process of the namespace, the joiner's too (as with runc). Imported only for these modes.
"""
from __future__ import annotations

import os

from nsrun import ConfigError, NotFoundError, RunContext, find_container, process_start_time

__all__ = ["target", "open_target"]


def target(ctx: RunContext, mode: str) -> tuple[str, int | None, int | None]:
    """``(namespace file, pid, pid start)`` to join for ``mode`` (``container:NAME`` or ``ns:PATH``; ``pid``
    None for a path). Refused: a container that does not exist or does not run, a missing path, and a run
    with a user namespace (``ctx.uid_maps``): a container of a user namespace of its own cannot mount a
    /proc of a PID namespace that namespace does not own, so it would see the host's."""
    if ctx.uid_maps:
        raise ConfigError(f"--pid {mode}: joining a PID namespace cannot be combined with a user namespace "
                          f"of the container's own (its /proc would not be that namespace's)")
    if mode.startswith("ns:"):
        path = mode[3:]
        if not os.path.isabs(path) or not os.path.exists(path):
            raise ConfigError(f"pid namespace {path}: no such file or directory")
        return path, None, None
    ref = mode.partition(":")[2]
    try:
        found = find_container(ctx.paths, ref) if ref else None
    except NotFoundError:
        found = None
    if found is None:
        raise ConfigError(f"cannot join PID of container {ref!r}: No such container: {ref}")
    if found["id"] == ctx.spec.id:
        raise ConfigError(f"cannot join PID of container {ref!r}: it is this container")
    pid = found["pid"]
    if pid is None or process_start_time(pid) != found["pid_start"]:
        raise ConfigError(f"cannot join PID of a non running container: {ref}")
    return f"/proc/{pid}/ns/pid", pid, found["pid_start"]


def open_target(path: str, pid: int | None, start: int | None, mode: str) -> int:
    """A descriptor on the namespace ``path`` (O_CLOEXEC); for a container's, only while ``pid`` is still the
    process that started at ``start``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        what = f"a non running container: {mode.partition(':')[2]}" if pid is not None else f"{path}: {exc.strerror}"
        raise ConfigError(f"cannot join PID of {what}") from exc
    if pid is not None and process_start_time(pid) != start:
        os.close(fd)
        raise ConfigError(f"cannot join PID of a non running container: {mode.partition(':')[2]}")
    return fd
