"""[child] Building the container's root inside its new mount namespace, then switching to it.

Order (runc's prepareRootfs, rubber-docker's contain()): make every mount private, mount the overlay,
/proc, /dev, /sys, the plugins' mounts and volumes, the /etc files, mask and write-protect /proc paths,
then ``pivot_root`` and detach the old root. Nothing here is visible on the host.
"""
from __future__ import annotations

import errno
import os

from nsrun import Mount
from nsrun import syscalls as sc

__all__ = ["prepare_root", "switch_root", "DEVICES"]

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_NOSUID_NODEV_NOEXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def _path(root: str, target: str) -> str:
    return os.path.join(root, target.lstrip("/"))


def _ensure(path: str, like_dir: bool) -> None:
    if os.path.lexists(path):
        return
    if like_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()


def _bind(source: str, target: str, readonly: bool = False, recursive: bool = True) -> None:
    _ensure(target, os.path.isdir(source))
    sc.mount(source, target, None, sc.MS_BIND | (sc.MS_REC if recursive else 0))
    if readonly:
        _remount_ro(target)


def _remount_ro(target: str) -> None:
    st = os.statvfs(target)
    keep = st.f_flag & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)  # locked flags must stay in a userns
    sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep)


def prepare_root(root: str, overlay: str | None, mounts: list[Mount], masked: list[str], readonly: list[str],
                 etc_files: dict[str, str]) -> None:
    """Mount everything the container sees under ``root`` (in the caller's private mount namespace)."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    if overlay:
        sc.mount("overlay", root, "overlay", 0, overlay)
    proc = _path(root, "/proc")
    os.makedirs(proc, exist_ok=True)
    try:
        sc.mount("proc", proc, "proc", _NOSUID_NODEV_NOEXEC)
    except PermissionError:  # a user namespace without its own PID namespace may not mount proc
        sc.mount("/proc", proc, None, sc.MS_BIND | sc.MS_REC)
    _make_dev(_path(root, "/dev"))
    sysfs = _path(root, "/sys")
    os.makedirs(sysfs, exist_ok=True)
    try:
        sc.mount("sysfs", sysfs, "sysfs", _NOSUID_NODEV_NOEXEC | sc.MS_RDONLY)
    except PermissionError:  # sysfs needs a network namespace of our own in a user namespace
        _bind("/sys", sysfs, readonly=True)
    for m in mounts:
        target = _path(root, m.target)
        if m.flags & sc.MS_BIND:
            _bind(m.source or "", target, readonly=m.readonly)
        else:
            os.makedirs(target, exist_ok=True)
            sc.mount(m.source, target, m.fstype, m.flags, m.data)
    for target, source in etc_files.items():
        _bind(source, _path(root, target), recursive=False)
    for path in masked:
        _mask(_path(root, path))
    for path in readonly:
        target = _path(root, path)
        if os.path.exists(target):
            sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
            _remount_ro(target)


def _mask(target: str) -> None:
    if os.path.isdir(target):
        sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY)
    elif os.path.exists(target):
        sc.mount("/dev/null", target, None, sc.MS_BIND)


def _make_dev(dev: str) -> None:
    os.makedirs(dev, exist_ok=True)
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k")
    for name in DEVICES:
        _bind(f"/dev/{name}", os.path.join(dev, name), recursive=False)
    pts = os.path.join(dev, "pts")
    os.makedirs(pts)
    try:
        sc.mount("devpts", pts, "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
    except OSError as exc:  # gid 5 (tty) unmapped in a narrow user namespace
        if exc.errno != errno.EINVAL:
            raise
        sc.mount("devpts", pts, "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    shm = os.path.join(dev, "shm")
    os.makedirs(shm)
    sc.mount("shm", shm, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")):
        os.symlink(target, os.path.join(dev, link))


def switch_root(root: str) -> None:
    """pivot_root into ``root`` and detach the old root (no chroot: the host tree is gone, not hidden)."""
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
