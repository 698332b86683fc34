"""Thin ctypes wrappers over the Linux system calls Python 3.11 lacks.

Every wrapper raises ``OSError`` with the real errno and a message naming the call and its target, so callers
can tell EPERM from ENOENT. Nothing here forks, logs or keeps state; libc is loaded on first use.
"""
from __future__ import annotations

import ctypes
import os

__all__ = [
    "CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET",
    "CLONE_NEWCGROUP", "CLONE_NEWTIME",
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_REMOUNT", "MS_BIND", "MS_REC", "MS_PRIVATE",
    "MS_SLAVE", "MS_STRICTATIME", "MNT_DETACH", "PR_SET_CHILD_SUBREAPER",
    "unshare", "setns", "mount", "umount", "pivot_root", "sethostname", "prctl", "set_pdeathsig",
    "set_no_new_privs", "drop_bounding_caps", "set_caps", "open_tree_clone", "set_idmap", "move_mount_to",
    "set_mount_attrs",
]

from ._clone import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,  # noqa: F401
                     CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
CAP_LAST_CAP = 40

# x86-64 syscall numbers for the new mount API (no glibc wrappers in bookworm).
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_SYS_PIVOT_ROOT = 155
_SYS_CAPSET = 126
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x00100000

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str, target: str | None = None) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", target)
    return result


def _b(path: str | bytes | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    """unshare(2): leave the given namespaces for new ones."""
    if hasattr(os, "unshare"):  # Python 3.12+
        os.unshare(flags)
        return
    _check(_c().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace behind ``fd`` (a /proc/PID/ns/* file descriptor)."""
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    _check(_c().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    """mount(2). ``data`` is the comma-separated option string."""
    _check(_c().mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)), "mount", target)


def umount(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_c().umount2(_b(target), ctypes.c_int(flags)), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2); ``new_root`` and ``put_old`` may be the same directory ("." trick)."""
    _check(_c().syscall(ctypes.c_long(_SYS_PIVOT_ROOT), _b(new_root), _b(put_old)), "pivot_root", new_root)


def sethostname(name: str) -> None:
    """sethostname(2) in the caller's UTS namespace."""
    raw = name.encode()
    _check(_c().sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return _check(_c().prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                             ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)), "prctl")


def set_pdeathsig(sig: int) -> None:
    """Ask the kernel to send ``sig`` to the caller when its parent thread dies."""
    prctl(PR_SET_PDEATHSIG, sig)


def set_no_new_privs() -> None:
    """No execve after this may gain privileges (setuid bits, file caps)."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def drop_bounding_caps(keep: set[int]) -> None:
    """Drop every capability not in ``keep`` from the bounding set."""
    for cap in range(CAP_LAST_CAP + 1):
        if cap in keep:
            continue
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != 22:  # EINVAL: the kernel does not know this cap
                raise


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def set_caps(caps: set[int]) -> None:
    """capset(2): effective = permitted = ``caps``, inheritable empty, for the calling thread.

    Inheritable stays empty (as in runc and Docker's defaults): with it, a file carrying inheritable file
    capabilities would get them back after exec; an empty inheritable set also empties the ambient set."""
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    for i in range(2):
        part = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = part
        data[i].inheritable = 0
    _check(_c().syscall(ctypes.c_long(_SYS_CAPSET), ctypes.byref(header), data), "capset")


def open_tree_clone(path: str, recursive: bool = True) -> int:
    """open_tree(OPEN_TREE_CLONE[|AT_RECURSIVE]): a detached copy of the mount tree at ``path`` (of that one
    mount alone, without what is mounted beneath it, when not ``recursive``), as an fd."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _check(_c().syscall(ctypes.c_long(_SYS_OPEN_TREE), ctypes.c_int(-100), _b(path), ctypes.c_uint(flags)),
                  "open_tree", path)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def set_idmap(tree_fd: int, userns_fd: int) -> None:
    """mount_setattr(MOUNT_ATTR_IDMAP): files owned by uid X appear as X mapped through ``userns_fd``."""
    set_mount_attrs(tree_fd, MOUNT_ATTR_IDMAP, userns_fd=userns_fd)


def set_mount_attrs(tree_fd: int, attr_set: int, attr_clr: int = 0, *, recursive: bool = True,
                    userns_fd: int = 0) -> None:
    """mount_setattr(2) on the mount ``tree_fd`` refers to (AT_EMPTY_PATH), and with ``recursive`` on every
    mount beneath it (AT_RECURSIVE): e.g. ``MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV`` for a whole volume."""
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_c().syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(tree_fd), b"",
                        ctypes.c_uint(flags), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr))), "mount_setattr")


def move_mount_to(tree_fd: int, target: str) -> None:
    """move_mount(2): attach the detached tree ``tree_fd`` at ``target``."""
    _check(_c().syscall(ctypes.c_long(_SYS_MOVE_MOUNT), ctypes.c_int(tree_fd), b"", ctypes.c_int(-100),
                        _b(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)), "move_mount", target)


# --- Resolving paths inside a root (mnt plugin): openat2(RESOLVE_IN_ROOT), fd-relative tree clone and move ---
__all__ += ["RESOLVE_IN_ROOT", "RESOLVE_NO_MAGICLINKS", "MOUNT_ATTR_RDONLY", "MOUNT_ATTR_NOSUID", "MOUNT_ATTR_NODEV", "MOUNT_ATTR_NOEXEC", "openat2", "open_tree_clone_fd", "move_mount_fd"]  # noqa: E501

_SYS_OPENAT2 = 437
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOVE_MOUNT_T_EMPTY_PATH = 0x40


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dir_fd`` under the ``RESOLVE_*`` rules; with
    ``RESOLVE_IN_ROOT`` every symlink and ``..`` is resolved as if ``dir_fd`` were ``/``."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _check(_c().syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), _b(path), ctypes.byref(how),
                               ctypes.c_size_t(ctypes.sizeof(how))), "openat2", path)


def open_tree_clone_fd(dir_fd: int, path: str = "", recursive: bool = True) -> int:
    """open_tree(OPEN_TREE_CLONE): a detached copy of the mount tree at ``path`` relative to ``dir_fd``
    (``path=""``: at ``dir_fd`` itself), as an fd; ``recursive`` takes the submounts along."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0) | (0 if path else AT_EMPTY_PATH)
    return _check(_c().syscall(ctypes.c_long(_SYS_OPEN_TREE), ctypes.c_int(dir_fd), _b(path), ctypes.c_uint(flags)),
                  "open_tree", path or f"fd {dir_fd}")


def move_mount_fd(tree_fd: int, target_fd: int) -> None:
    """move_mount(2): attach the detached tree ``tree_fd`` on the file or directory ``target_fd`` refers to
    (no path is looked up: the target was resolved before, e.g. with ``openat2``)."""
    _check(_c().syscall(ctypes.c_long(_SYS_MOVE_MOUNT), ctypes.c_int(tree_fd), b"", ctypes.c_int(target_fd), b"",
                        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)), "move_mount")


# -- seccomp: load a ready BPF program (compiled and cached by the seccomp plugin; nothing to import here) --
__all__ += ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "load_seccomp_bpf"]

_SYS_SECCOMP = 317  # x86-64
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp_bpf(program: bytes, flags: int = 0) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog): install ``program`` (struct sock_filter[], 8 bytes
    each, as libseccomp's export_bpf writes it) on this thread; it stays for every descendant. Needs
    no_new_privs or CAP_SYS_ADMIN. One system call."""
    if not program or len(program) % 8 or len(program) // 8 > 0xFFFF:
        raise ValueError(f"seccomp: not a BPF program ({len(program)} bytes)")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    _check(_c().syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags),
                        ctypes.byref(prog)), "seccomp")


# --- exec hardening: dumpable, ambient capabilities, session keyring (h/exec) ---------------------------------
__all__ += ["PR_SET_DUMPABLE", "set_dumpable", "clear_ambient_caps", "join_session_keyring"]

PR_SET_DUMPABLE = 4
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SYS_KEYCTL = 250
_KEYCTL_JOIN_SESSION_KEYRING = 1


def set_dumpable(on: bool) -> None:
    """PR_SET_DUMPABLE: while off, /proc/<pid>/{exe,fd,mem,...} of the caller open only with CAP_SYS_PTRACE in
    the user namespace the process was exec'd in (the initial one for nsrun). ``execve`` turns it on again."""
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def clear_ambient_caps() -> None:
    """Empty the ambient capability set (PR_CAP_AMBIENT_CLEAR_ALL)."""
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)


def join_session_keyring() -> int:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): the caller gets a new anonymous session keyring; the
    caller's former one (nsrun's, its user's) is no longer reachable through ``@s``. Returns its serial."""
    return _check(_c().syscall(ctypes.c_long(_SYS_KEYCTL), ctypes.c_int(_KEYCTL_JOIN_SESSION_KEYRING),
                               ctypes.c_void_p(None)), "keyctl(JOIN_SESSION_KEYRING)")


# --- sysctls (the plugins that own a namespace write its keys: net.*, kernel.shm*, kernel.domainname) -------
__all__ += ["parse_sysctl", "write_sysctl"]
_SYSCTL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/.")


def parse_sysctl(item: str) -> tuple[str, str]:
    """``KEY=VALUE`` (``--sysctl``) -> (key, value); ValueError for a malformed one. The key is dotted, as
    sysctl(8) spells it (a ``/`` in a key stands for a ``.`` in a name: ``net.ipv4.conf.eth0/100.forwarding``)."""
    key, sep, value = item.partition("=")
    names = key.split(".")
    if (not sep or len(names) < 2 or not set(key) <= _SYSCTL_CHARS
            or any(not n or n.startswith("/") or n.endswith("/") or "//" in n for n in names)):
        raise ValueError(f"invalid sysctl {item!r}: expected KEY=VALUE with a dotted key")
    return key, value


def write_sysctl(key: str, value: str) -> None:
    """[child] Write one sysctl of the calling process's namespaces (/proc/sys resolves net.* in its network
    namespace, kernel.shm* in its IPC namespace, kernel.domainname in its UTS namespace)."""
    path = "/proc/sys/" + key.translate(str.maketrans("./", "/."))
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
