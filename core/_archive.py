"""``docker cp`` and ``docker export``: files into and out of a container, as tar streams
(``/containers/{id}/archive`` GET, HEAD, PUT; ``/containers/{id}/export``; ``nsrun cp`` and ``nsrun export``).

The work is done by a fresh process, ``python -m nsrun._archive MODE PID START PATH`` for a running container
or ``python -m nsrun._archive MODE --stopped ROOT RUN ID PATH`` for one that is not. For a running one it
joins the container's mount namespace (``setns``) and so has the container's root as its own ``/``; for a
stopped one it makes a mount namespace of its own, mounts the container's root there again (the
``container_mount`` hook of the plugin that made it: image, the container's writes, its volumes) and
chroots into it. Either way every path, every symlink and every ``..`` resolves inside the container,
exactly as the container sees its files, and nothing can reach the host's. Everything it needs is imported
before it enters (after that the host's Python is out of sight). ``stat`` prints Docker's path stat
(``X-Docker-Container-Path-Stat``); ``get`` writes a tar of the path to stdout (its last component as the
top entry, as dockerd does); ``put`` extracts the tar on stdin into the directory PATH: members with
absolute names or ``..`` and device nodes are refused, the whole archive is checked before anything is
written; ``export`` writes a tar of the root file system alone (what is mounted on it — /proc, /dev,
volumes — left out, as Docker's export leaves volumes out). Errors: one JSON line ``{"status", "message"}``
on stderr.
"""
from __future__ import annotations

import base64
import bz2  # noqa: F401 - tarfile's "r:*" opens these lazily: imported before joining the container
import gzip  # noqa: F401
import io
import json
import lzma  # noqa: F401
import os
import stat
import sys
import tarfile
import time
from typing import Any

__all__ = ["path_stat", "argv"]

_GO_DIR, _GO_LINK, _GO_PIPE, _GO_SOCK, _GO_DEV, _GO_CHAR = 1 << 31, 1 << 27, 1 << 25, 1 << 24, 1 << 26, 1 << 21


def argv(mode: str, rec: Any, path: str) -> list[str]:
    """The helper's command line for ``mode`` on the container ``rec`` (a ``Record``), running or not."""
    if rec.status in ("running", "paused"):
        return [sys.executable, "-m", "nsrun._archive", mode, str(rec.state["pid"]),
                str(rec.state.get("pid_start") or 0), path]
    paths = rec.store.paths
    return [sys.executable, "-m", "nsrun._archive", mode, "--stopped", paths.root, paths.run, rec.id, path]


def _go_mode(st: os.stat_result) -> int:
    """A stat's mode as Go's os.FileMode (what the docker CLI decodes)."""
    mode = stat.S_IMODE(st.st_mode) & 0o777
    kind = stat.S_IFMT(st.st_mode)
    mode |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_LINK, stat.S_IFIFO: _GO_PIPE, stat.S_IFSOCK: _GO_SOCK,
             stat.S_IFBLK: _GO_DEV, stat.S_IFCHR: _GO_DEV | _GO_CHAR}.get(kind, 0)
    if st.st_mode & stat.S_ISUID:
        mode |= 1 << 23
    if st.st_mode & stat.S_ISGID:
        mode |= 1 << 22
    if st.st_mode & stat.S_ISVTX:
        mode |= 1 << 20
    return mode


def path_stat(path: str) -> dict[str, Any]:
    st = os.lstat(path)
    mtime = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(st.st_mtime)) + f".{st.st_mtime_ns % 10**9:09d}Z"
    return {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": _go_mode(st),
            "mtime": mtime, "linkTarget": os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""}


def header(stat_: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(stat_).encode()).decode()


class _Fail(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _join(pid: int, start: int, alone: bool) -> None:
    """Into the running container's mount namespace; ``alone``: then into its root mount by itself (a
    namespace of our own, a non-recursive clone of ``/``: nothing mounted on it)."""
    from . import syscalls
    from ._state import process_start_time
    fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if process_start_time(pid) != start:
            raise _Fail(409, "the container is not running")
        syscalls.setns(fd, syscalls.CLONE_NEWNS)
    finally:
        os.close(fd)
    os.chdir("/")
    if alone:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        _chroot_fd(syscalls.open_tree_clone("/", recursive=False))


def _chroot_fd(fd: int) -> None:
    os.fchdir(fd)
    os.close(fd)
    os.chroot(".")
    os.chdir("/")


def _mount_stopped(root: str, run: str, cid: str, with_mounts: bool) -> None:
    """A mount namespace of our own with the stopped container's root mounted by its plugins; chroot there."""
    from . import syscalls
    from ._context import Paths
    from ._plugins import load_plugins
    from ._state import Store
    rec = Store(Paths(root=root, run=run)).load(cid)
    if rec is None:
        raise _Fail(404, f"No such container: {cid}")
    if rec.status not in ("created", "exited"):
        raise _Fail(409, f"container {cid} is {rec.status} now: try again")
    plugins = load_plugins(list(rec.spec.plugins))
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    target = os.path.join(rec.dir, "merged")  # the container's own mount point; these mounts are ours alone
    os.makedirs(target, exist_ok=True)
    mounts = list((rec.state.get("info") or {}).get("Mounts") or ()) if with_mounts else []
    if not plugins.call("container_mount", container_dir=rec.dir, spec=rec.spec, mounts=mounts, target=target):
        raise _Fail(409, f"container {cid} has no root file system nsrun can mount again "
                         "(none of its plugins made it)")
    os.chroot(target)
    os.chdir("/")


def _check_members(tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        parts = m.name.split("/")
        if m.name.startswith("/") or ".." in parts:
            raise _Fail(400, f"archive member {m.name!r}: absolute names and '..' are not allowed")
        if m.isdev():
            raise _Fail(400, f"archive member {m.name!r}: device nodes cannot be copied into a container")
        if m.islnk() and (m.linkname.startswith("/") or ".." in m.linkname.split("/")):
            raise _Fail(400, f"archive member {m.name!r}: a hard link out of the archive")
    return members


def _main(mode: str, path: str) -> int:
    """``mode`` on ``path`` of the container whose root is now ours (``_join``, ``_mount_stopped``)."""
    target = os.path.normpath(os.path.join("/", path))
    if mode == "export":
        out = os.fdopen(1, "wb", closefd=False)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for name in sorted(os.listdir("/")):
                tf.add("/" + name, arcname=name, recursive=True)
        out.flush()
        return 0
    if mode in ("stat", "get"):
        try:
            st = path_stat(target)
        except FileNotFoundError:
            raise _Fail(404, f"Could not find the file {path} in container") from None
        if mode == "stat":
            print(json.dumps(st))
            return 0
        out = os.fdopen(1, "wb", closefd=False)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            name = os.path.basename(target) or "."
            # ``path/.``: the directory's content, not the directory (the CLI asks for it so)
            tf.add(target, arcname=name if not path.rstrip("/").endswith("/.") else ".", recursive=True)
        out.flush()
        return 0
    if mode == "put":
        if not os.path.isdir(target):
            raise _Fail(404 if not os.path.lexists(target) else 400,
                        f"Could not find the file {path} in container" if not os.path.lexists(target)
                        else f"extraction point is not a directory: {path}")
        data = sys.stdin.buffer.read()
        try:
            tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
        except tarfile.TarError as exc:
            raise _Fail(400, f"the body is not a tar archive: {exc}") from None
        with tf:
            members = _check_members(tf)
            tf.extractall(target, members=members, numeric_owner=True)
        return 0
    raise _Fail(400, f"unknown mode {mode}")


if __name__ == "__main__":
    try:
        mode, args = sys.argv[1], sys.argv[2:]
        if args[0] == "--stopped":
            _mount_stopped(args[1], args[2], args[3], with_mounts=mode != "export")
        else:
            _join(int(args[0]), int(args[1]), alone=mode == "export")
        code = _main(mode, args[-1])
    except _Fail as exc:
        sys.stderr.write(json.dumps({"status": exc.status, "message": str(exc)}) + "\n")
        code = 1
    except (OSError, tarfile.TarError) as exc:
        sys.stderr.write(json.dumps({"status": 500, "message": f"{exc}"}) + "\n")
        code = 1
    sys.stdout.flush()
    os._exit(code)
