"""[child] Building the container's root inside its new mount namespace, then switching to it.

Order (runc's prepareRootfs, rubber-docker's contain()): make every mount private, mount the overlay,
/proc, /dev, /sys, the plugins' mounts and volumes, the ``--device`` nodes, the /etc files, mask and
write-protect /proc paths, then ``pivot_root`` and detach the old root. Nothing here is visible on the host.

Every path inside the root is resolved inside it (``resolve``): symlinks and ``..`` in the image are followed
as the container would see them, never on the host, and the mount lands on the resolved file descriptor
(``/proc/self/fd/N`` or ``move_mount``), not on a path string the image could redirect.

Devices: every mount the container can create files in is ``nodev`` (the overlay root, the /dev and /dev/shm
tmpfs, volumes and their submounts, any other plugin mount), so a node made with mknod (CAP_MKNOD is in
Docker's default set) never opens. The allowed nodes (``DEVICES``, plus ``--device``) are bind mounts of the
host's nodes, which keep the host /dev's flags and so do open; devpts holds no user-made nodes. A devices
cgroup (which also refuses mknod itself) comes with the cgroup plugin.
"""
from __future__ import annotations

import errno
import os
import stat

from nsrun import Mount
from nsrun import syscalls as sc

from .copyup import copy_up as _copy_up
from .overlay import mount_overlay

__all__ = ["prepare_root", "switch_root", "resolve", "DEVICES"]

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEFAULT_SHM_SIZE = 64 << 20  # Docker's /dev/shm
_NOSUID_NODEV_NOEXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
_IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_AT_FDCWD = -100
_MAX_LINKS = 40


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def resolve(root_fd: int, path: str, create: str | None = None) -> int:
    """An O_PATH descriptor of ``path`` resolved inside the directory ``root_fd`` as if it were ``/``.

    ``create`` is None (the path must exist: FileNotFoundError otherwise), ``"dir"`` or ``"file"``: missing
    components are made as directories, relative to their resolved parent, and the last one as ``create``
    says. A trailing symlink is followed (inside the root), as every other one. The caller closes the fd.
    """
    try:
        return sc.openat2(root_fd, path, os.O_PATH, _IN_ROOT)
    except OSError as exc:  # ENOENT: made below; ENOSYS (old kernel), EAGAIN (raced a rename): walked below
        if exc.errno not in (errno.ENOSYS, errno.EAGAIN) and (exc.errno != errno.ENOENT or create is None):
            raise
    return _walk(root_fd, path, create)


def _walk(root_fd: int, path: str, create: str | None) -> int:
    """``resolve`` one component at a time, each opened with O_NOFOLLOW relative to its parent."""
    todo = [c for c in reversed(path.split("/")) if c not in ("", ".")]
    stack: list[int] = []  # the directories walked so far (root_fd excluded): ".." pops one
    links = 0
    try:
        while todo:
            name = todo.pop()
            if name == "..":
                if stack:
                    os.close(stack.pop())
                continue
            parent = stack[-1] if stack else root_fd
            try:
                fd = os.open(name, _O_PATH, dir_fd=parent)
            except FileNotFoundError:
                if create is None:
                    raise
                try:
                    if todo or create == "dir":
                        os.mkdir(name, 0o755, dir_fd=parent)
                    else:
                        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                         0o644, dir_fd=parent))
                except FileExistsError:
                    pass  # made meanwhile: opened below without following it, like any other
                fd = os.open(name, _O_PATH, dir_fd=parent)
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                links += 1
                try:
                    target = os.readlink(name, dir_fd=parent)
                finally:
                    os.close(fd)
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                todo.extend(c for c in reversed(target.split("/")) if c not in ("", "."))
                continue
            stack.append(fd)
        return stack.pop() if stack else os.dup(root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def _find(root_fd: int, path: str) -> int | None:
    """``resolve`` without creating: None when the path is not there."""
    try:
        return resolve(root_fd, path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _mount_at(root_fd: int, target: str, source: str | None, fstype: str | None, flags: int,
              data: str | None = None, create: str = "dir") -> None:
    fd = resolve(root_fd, target, create)
    try:
        sc.mount(source, _fd_path(fd), fstype, flags, data)
    finally:
        os.close(fd)


def _bind_tree(root_fd: int, source: str | int, target: str, readonly: bool = False, recursive: bool = True,
               nodev: bool = True, attrs: int = 0) -> None:
    """Bind the host path ``source`` (with its submounts when ``recursive``) on ``target`` inside the root;
    ``readonly``, ``nodev`` and ``attrs`` (more MOUNT_ATTR_* bits: nosuid, noexec) hold for every mount of the
    tree (mount_setattr with AT_RECURSIVE). An int ``source`` is a detached tree already (``Mount.source``: a
    plugin's ``open_tree`` fd, e.g. of another mount namespace's mount): attached as it is, and closed."""
    tree = source if isinstance(source, int) else sc.open_tree_clone_fd(_AT_FDCWD, source, recursive)
    try:
        attrs |= (sc.MOUNT_ATTR_NODEV if nodev else 0) | (sc.MOUNT_ATTR_RDONLY if readonly else 0)
        if attrs:
            sc.set_mount_attrs(tree, attrs, recursive=recursive)
        fd = resolve(root_fd, target, "dir" if stat.S_ISDIR(os.fstat(tree).st_mode) else "file")
        try:
            sc.move_mount_fd(tree, fd)
        finally:
            os.close(fd)
    finally:
        os.close(tree)


def prepare_root(root: str, overlay: dict | None, mounts: list[Mount], masked: list[str], readonly: list[str],
                 etc_files: dict[str, str], devices: tuple = (), *, read_only: bool = False,
                 shm_size: int | None = None, privileged: bool = False, bind_root: bool = False,
                 copy_up: tuple = ()) -> None:
    """Mount everything the container sees under ``root`` (in the caller's private mount namespace).
    ``bind_root``: ``root`` is used as it is (an OCI bundle's root), bound onto itself to be a mount point.
    ``overlay`` holds ``overlay.mount_overlay``'s ``lowers``, ``upper``, ``work``, ``userxattr``;
    ``devices`` are ``(host node, target)`` pairs (``devices.Device``), bound as they are. ``read_only``:
    the root mount itself becomes read-only once everything is mounted on it (its submounts — /proc, /dev,
    /dev/shm, volumes, the /etc files — keep their own flags); ``shm_size``: /dev/shm's size in bytes;
    ``privileged``: /dev without nodev and /sys writable; ``copy_up``: the host directories of bind mounts
    (volumes) to fill from the image when they are empty (``copyup``)."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    if overlay:
        mount_overlay(root, **overlay)
    elif bind_root:
        sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _build(root_fd, mounts, masked, readonly, etc_files, devices, shm_size, privileged, copy_up)
        if read_only:  # the root mount alone: not AT_RECURSIVE
            sc.set_mount_attrs(root_fd, sc.MOUNT_ATTR_RDONLY, recursive=False)
    finally:
        os.close(root_fd)


def _build(root_fd: int, mounts: list[Mount], masked: list[str], readonly: list[str], etc_files: dict[str, str],
           devices: tuple, shm_size: int | None = None, privileged: bool = False, copy_up: tuple = ()) -> None:
    try:
        _mount_at(root_fd, "/proc", "proc", "proc", _NOSUID_NODEV_NOEXEC)
    except PermissionError:  # a user namespace without its own PID namespace may not mount proc
        _mount_at(root_fd, "/proc", "/proc", None, sc.MS_BIND | sc.MS_REC)
    # a mount given for /dev/shm (a volume, a joined IPC namespace's) takes its place, as in Docker
    own_shm = not any(m.target.rstrip("/") == "/dev/shm" for m in mounts)
    _make_dev(root_fd, shm_size or DEFAULT_SHM_SIZE, nodev=not privileged, shm=own_shm)
    sys_ro = 0 if privileged else sc.MS_RDONLY
    try:
        _mount_at(root_fd, "/sys", "sysfs", "sysfs", _NOSUID_NODEV_NOEXEC | sys_ro)
    except PermissionError:  # sysfs needs a network namespace of our own in a user namespace
        _bind_tree(root_fd, "/sys", "/sys", readonly=not privileged)
    for m in mounts:
        if m.flags & sc.MS_BIND and m.source in copy_up:
            _fill(root_fd, m.target, m.source)
        if m.flags & sc.MS_BIND:
            _bind_tree(root_fd, m.source if m.source is not None else "", m.target, readonly=m.readonly,
                       attrs=(sc.MOUNT_ATTR_NOSUID if m.flags & sc.MS_NOSUID else 0)
                       | (sc.MOUNT_ATTR_NOEXEC if m.flags & sc.MS_NOEXEC else 0))
        else:
            _mount_at(root_fd, m.target, m.source, m.fstype, m.flags | sc.MS_NODEV, m.data)
    for host, target in devices:
        _bind_tree(root_fd, host, target, recursive=False, nodev=False)
    for target, source in etc_files.items():
        _mount_at(root_fd, target, source, None, sc.MS_BIND, create="file")
    for path in masked:
        _mask(root_fd, path)
    for path in readonly:
        _readonly(root_fd, path)


def _fill(root_fd: int, target: str, source: str) -> None:
    """Copy-up: the image's content at ``target`` into the empty volume directory ``source``."""
    try:
        if os.listdir(source):
            return
    except OSError:
        return
    fd = _find(root_fd, target)
    if fd is None:
        return
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            _copy_up(fd, source)
    finally:
        os.close(fd)


def _mask(root_fd: int, path: str) -> None:
    fd = _find(root_fd, path)
    if fd is None:
        return
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            sc.mount("tmpfs", _fd_path(fd), "tmpfs", sc.MS_RDONLY | _NOSUID_NODEV_NOEXEC)
        else:
            sc.mount("/dev/null", _fd_path(fd), None, sc.MS_BIND)
    finally:
        os.close(fd)


def _readonly(root_fd: int, path: str) -> None:
    """Bind ``path`` on itself read-only, with every mount beneath it."""
    fd = _find(root_fd, path)
    if fd is None:
        return
    try:
        tree = sc.open_tree_clone_fd(fd)
        try:
            sc.set_mount_attrs(tree, sc.MOUNT_ATTR_RDONLY)
            sc.move_mount_fd(tree, fd)
        finally:
            os.close(tree)
    finally:
        os.close(fd)


def _make_dev(root_fd: int, shm_size: int = 0, nodev: bool = True, shm: bool = True) -> None:
    _mount_at(root_fd, "/dev", "tmpfs", "tmpfs", sc.MS_NOSUID | (sc.MS_NODEV if nodev else 0) | sc.MS_STRICTATIME,
              "mode=755,size=65536k")
    dev = resolve(root_fd, "/dev")  # the new tmpfs (the descriptor used to mount it still names what is below)
    try:
        for name in DEVICES:
            node = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                           dir_fd=dev)
            try:
                sc.mount(f"/dev/{name}", _fd_path(node), None, sc.MS_BIND)
            finally:
                os.close(node)
        os.mkdir("pts", 0o755, dir_fd=dev)
        os.mkdir("shm", 0o1777, dir_fd=dev)
        pts = os.open("pts", _O_PATH | os.O_DIRECTORY, dir_fd=dev)
        try:
            try:
                sc.mount("devpts", _fd_path(pts), "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                         "newinstance,ptmxmode=0666,mode=0620,gid=5")
            except OSError as exc:  # gid 5 (tty) unmapped in a narrow user namespace
                if exc.errno != errno.EINVAL:
                    raise
                sc.mount("devpts", _fd_path(pts), "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                         "newinstance,ptmxmode=0666,mode=0620")
        finally:
            os.close(pts)
        if shm:
            shm_fd = os.open("shm", _O_PATH | os.O_DIRECTORY, dir_fd=dev)
            try:
                sc.mount("shm", _fd_path(shm_fd), "tmpfs", _NOSUID_NODEV_NOEXEC,
                         f"mode=1777,size={shm_size or DEFAULT_SHM_SIZE}")
            finally:
                os.close(shm_fd)
        for link, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")):
            os.symlink(target, link, dir_fd=dev)
    finally:
        os.close(dev)


def switch_root(root: str) -> None:
    """pivot_root into ``root`` and detach the old root (no chroot: the host tree is gone, not hidden)."""
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
