"""/dev/shm of a joined IPC namespace (``--ipc container:NAME``): the joiner sees the donor's POSIX shared
memory files, as in Docker (which bind-mounts the donor's shm directory); SysV objects and message queues
come with the namespace itself.

Docker's rules: a container's IPC is ``private`` by default and nobody may join it ("non-shareable IPC");
``shareable`` (or ``host``, or a container that joined another's) may be joined. Docker needs that mode to
keep a donor's shm on the host; nsrun does not: the donor's /dev/shm stays a mount of its own mount namespace
only, and the joiner's child takes a copy of that mount from there (``donor_shm``: it enters the donor's mount
namespace just for ``open_tree(OPEN_TREE_CLONE)`` — a mount of another namespace cannot be cloned from
outside it — and returns to its own), which the mnt plugin attaches on the joiner's /dev/shm. So ``shareable``
costs nothing, and nothing of it is left on the host. Imported only for ``container:`` modes.
"""
from __future__ import annotations

import os

from nsrun import ConfigError, syscalls

from . import joined

__all__ = ["donor", "donor_shm"]

_AT_FDCWD = -100
SHAREABLE = ("shareable", joined.HOST)  # and "container:..." (a joiner shares its donor's)


def donor(paths, ref: str) -> tuple[str, str]:
    """``(ipc namespace file, mount namespace file)`` of the running container ``ref``, which must be
    shareable (Docker's words otherwise)."""
    target = joined.running_container(paths, ref, "ipc")
    mode = target["options"].get("ipc") or ""
    if mode not in SHAREABLE and not mode.startswith("container:"):
        raise ConfigError(f"cannot join IPC of container {ref}: non-shareable IPC (hint: use IpcMode:shareable "
                          f"for the donor container, --ipc shareable)")
    return f"/proc/{target['pid']}/ns/ipc", f"/proc/{target['pid']}/ns/mnt"


def donor_shm(mnt_ns: str) -> int:
    """[child, before the mnt plugin's mounts] A detached copy of the /dev/shm mount (that mount alone) of the
    mount namespace at ``mnt_ns``, as an fd for ``Mount.source``. /dev/shm is looked up there without
    following any symlink (the donor's root is its own to shape). We come back to our own mount namespace and
    working directory before returning, also on failure."""
    own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        theirs = os.open(mnt_ns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(theirs, syscalls.CLONE_NEWNS)
        finally:
            os.close(theirs)
        try:
            shm = syscalls.openat2(_AT_FDCWD, "/dev/shm", os.O_PATH | os.O_DIRECTORY,
                                   syscalls.RESOLVE_NO_SYMLINKS | syscalls.RESOLVE_NO_MAGICLINKS)
            try:
                return syscalls.open_tree_clone_fd(shm, "", recursive=False)
            finally:
                os.close(shm)
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNS)
            os.fchdir(cwd)
    finally:
        os.close(own)
        os.close(cwd)
