"""[child] Docker's copy-up: a volume that is empty when it is first mounted gets what the image holds at
its target (files, directories, symlinks, with their owners, modes and times), and the volume's own
directory takes the owner and mode of the image's. Runs in the container's mount namespace, on the merged
root before the volume is mounted over it; the image's side is read through a descriptor resolved inside
the root, so its symlinks never lead to the host."""
from __future__ import annotations

import os
import stat

__all__ = ["copy_up"]


def _meta(st: os.stat_result, path: str, dir_fd: int | None = None) -> None:
    os.chown(path, st.st_uid, st.st_gid, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dir_fd)


def copy_up(src_fd: int, dest: str) -> None:
    """Fill the empty host directory ``dest`` from the directory ``src_fd`` (an O_PATH descriptor)."""
    src = os.open(f"/proc/self/fd/{src_fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_dir(src, dest)
        _meta(os.fstat(src), dest)
    finally:
        os.close(src)


def _copy_dir(src: int, dest: str) -> None:
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        target = os.path.join(dest, name)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(target, 0o700)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                _copy_dir(sub, target)
            finally:
                os.close(sub)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), target)
        elif stat.S_ISREG(st.st_mode):
            fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                fout = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    while os.sendfile(fout, fin, None, 1 << 20):
                        pass
                finally:
                    os.close(fout)
            finally:
                os.close(fin)
        else:
            continue  # device nodes, fifos, sockets: not copied (a volume is nodev)
        _meta(st, target)
