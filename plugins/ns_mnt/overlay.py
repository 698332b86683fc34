"""[child] The container's overlayfs root over any number of lower layers.

mount(2) takes its options as one string of at most a page, which ~40 layer paths of a store already fill.
The new mount API has no such limit: ``fsopen("overlay")``, one ``fsconfig(FSCONFIG_SET_STRING, "lowerdir+",
DIR)`` per layer (kernel 6.8+), then upper/work, ``FSCONFIG_CMD_CREATE``, ``fsmount`` and ``move_mount``. A
single lower (busybox, ``--rootfs``) keeps the one mount(2) call. Inside a user namespace the overlay is mounted
with ``userxattr``: it reads ``user.overlay.*`` xattrs (opaque directories), as ``trusted.*`` ones are
invisible to a namespace's root; the layer unpacker writes both.
"""
from __future__ import annotations

import ctypes
import os

from nsrun import syscalls as sc

__all__ = ["mount_overlay"]

_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432  # x86-64
_FSOPEN_CLOEXEC = 1
_FSMOUNT_CLOEXEC = 1
_FSCONFIG_SET_FLAG, _FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 0, 1, 6
_MOUNT_ATTR_NODEV = 0x4
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)  # loaded with the plugin: nothing is imported after pivot_root
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _call(what: str, *args: object) -> int:
    result = _syscall(*args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _log(fs_fd: int) -> str:
    """The messages the file system left on the fs context (``read`` on the fsopen fd)."""
    lines = []
    try:
        while True:
            lines.append(os.read(fs_fd, 4096).decode(errors="replace").strip())
    except OSError:
        pass
    return "; ".join(line for line in lines if line)


def mount_overlay(target: str, lowers: list[str], upper: str, work: str, userxattr: bool = False) -> None:
    """Mount overlayfs on ``target`` (nodev) with ``lowers`` top-most first, ``upper`` and ``work``."""
    if len(lowers) == 1 and not userxattr:
        sc.mount("overlay", target, "overlay", sc.MS_NODEV, f"lowerdir={lowers[0]},upperdir={upper},workdir={work}")
        return
    c_int, c_uint = ctypes.c_int, ctypes.c_uint
    fs = _call("fsopen overlay", ctypes.c_long(_SYS_FSOPEN), b"overlay", c_uint(_FSOPEN_CLOEXEC))
    try:
        try:
            for lower in lowers:
                _call(f"overlay lowerdir+ {lower}", ctypes.c_long(_SYS_FSCONFIG), c_int(fs), c_uint(_FSCONFIG_SET_STRING),
                      b"lowerdir+", os.fsencode(lower), c_int(0))
            for key, value in (("upperdir", upper), ("workdir", work)):
                _call(f"overlay {key}", ctypes.c_long(_SYS_FSCONFIG), c_int(fs), c_uint(_FSCONFIG_SET_STRING),
                      key.encode(), os.fsencode(value), c_int(0))
            if userxattr:
                _call("overlay userxattr", ctypes.c_long(_SYS_FSCONFIG), c_int(fs), c_uint(_FSCONFIG_SET_FLAG),
                      b"userxattr", None, c_int(0))
            _call("overlay create", ctypes.c_long(_SYS_FSCONFIG), c_int(fs), c_uint(_FSCONFIG_CMD_CREATE), None, None,
                  c_int(0))
        except OSError as exc:
            detail = _log(fs)
            raise OSError(exc.errno, f"{exc.strerror}{' (' + detail + ')' if detail else ''}") from None
        mnt = _call("fsmount overlay", ctypes.c_long(_SYS_FSMOUNT), c_int(fs), c_uint(_FSMOUNT_CLOEXEC),
                    c_uint(_MOUNT_ATTR_NODEV))
    finally:
        os.close(fs)
    try:
        _call(f"move_mount {target}", ctypes.c_long(_SYS_MOVE_MOUNT), c_int(mnt), b"", c_int(_AT_FDCWD),
              os.fsencode(target), c_uint(_MOVE_MOUNT_F_EMPTY_PATH))
    finally:
        os.close(mnt)
