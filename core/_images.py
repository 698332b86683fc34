"""Images: read-only root filesystems under ``<root>/images/<name>/rootfs`` with an ``image.json`` beside.

``busybox`` is built in: made on first use from the host's busybox-static. ``import_tar`` unpacks a root
filesystem tarball and refuses what could write outside the image (absolute or ``..`` paths, paths through a
symlink, hard links out of the tree) and drops device nodes. Extraction works on directory descriptors and
never follows a link when it creates a member or changes its mode or owner.
"""
from __future__ import annotations

import errno
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

from ._context import Paths
from .errors import ConfigError, ConflictError, NotFoundError

if TYPE_CHECKING:
    import tarfile

__all__ = ["Images", "BUSYBOX", "normalize"]

BUSYBOX = "busybox"
_NAME_RE = r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_.-]+)?$"
_BUSYBOX_BIN = ("/bin/busybox", "/usr/bin/busybox")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def normalize(name: str) -> str:
    """``busybox:latest`` -> ``busybox``; validates the reference."""
    if not re.match(_NAME_RE, name or ""):
        raise ConfigError(f"invalid reference format: {name!r}")
    return name[:-len(":latest")] if name.endswith(":latest") else name


class Images:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._holding = False

    def _dir(self, name: str) -> str:
        quoted = normalize(name).replace("%", "%25").replace("/", "%2F").replace(":", "%3A")
        return os.path.join(self.paths.images, quoted)

    def rootfs(self, name: str) -> str:
        """The image's root directory; builds ``busybox`` on first use."""
        name = normalize(name)
        path = os.path.join(self._dir(name), "rootfs")
        if os.path.isdir(path):
            return path
        if name == BUSYBOX:
            with self._lock():  # concurrent first runs build it once
                if not os.path.isdir(path):
                    self.make_busybox()
            return path
        raise NotFoundError(f"Unable to find image '{name}' locally")

    def _lock(self):
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def held():
            os.makedirs(self.paths.images, exist_ok=True)
            fd = os.open(os.path.join(self.paths.images, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._holding = True  # a flock is not reentrant: _staging must not take it again inside
                yield
            finally:
                self._holding = False
                os.close(fd)
        return held()

    def get(self, name: str) -> dict[str, Any]:
        self.rootfs(name)
        with open(os.path.join(self._dir(name), "image.json")) as f:
            return json.load(f)

    def list(self) -> list[dict[str, Any]]:
        out = []
        try:
            entries = os.listdir(self.paths.images)
        except FileNotFoundError:
            entries = []
        for entry in sorted(entries):
            try:
                with open(os.path.join(self.paths.images, entry, "image.json")) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                continue
        return out

    def remove(self, name: str, users: list[str]) -> None:
        import shutil
        name = normalize(name)
        if not os.path.isdir(self._dir(name)):
            raise NotFoundError(f"No such image: {name}")
        if users:
            raise ConflictError(f"conflict: unable to remove image {name}: in use by container {users[0][:12]}")
        shutil.rmtree(self._dir(name))

    def _finish(self, name: str, tmp: str, digest: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        import shutil
        size = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(os.path.join(tmp, "rootfs"))
                   for f in fs)
        meta = {"name": name, "id": "sha256:" + digest, "created": time.time(), "size": size,
                "config": config or {}}  # the OCI image config (read through _imageconfig.image_config)
        with open(os.path.join(tmp, "image.json"), "w") as f:
            json.dump(meta, f)
        final = self._dir(name)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
        return meta

    def _staging(self, name: str):
        """A fresh directory beside the image's (unique per call: threads of one process may import at once),
        flocked while it is being filled, so ``collect_staging`` can tell one whose maker died (kill -9) from
        one being made; removed when filling it fails."""
        import contextlib
        import fcntl
        import shutil
        import tempfile

        @contextlib.contextmanager
        def staged():
            # made and locked under the store's lock, so gc (which takes it too) never sees it unlocked
            with contextlib.nullcontext() if self._holding else self._lock():
                tmp = tempfile.mkdtemp(prefix=os.path.basename(self._dir(name)) + ".tmp", dir=self.paths.images)
                fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                os.chmod(tmp, 0o755)
                os.makedirs(os.path.join(tmp, "rootfs"))
                yield tmp
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            finally:
                os.close(fd)
        return staged()

    def collect_staging(self) -> list[str]:
        """[gc] Remove staging directories whose maker is gone (their flock is free)."""
        import errno
        import fcntl
        import shutil
        lines = []
        if not os.path.isdir(self.paths.images):
            return lines
        with self._lock():
            for entry in os.listdir(self.paths.images):
                path = os.path.join(self.paths.images, entry)
                if ".tmp" not in entry or not os.path.isdir(path):
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        continue  # being made right now
                    raise
                finally:
                    os.close(fd)
                shutil.rmtree(path, ignore_errors=True)
                lines.append(f"removed unfinished image directory {entry}")
        return lines

    def make_busybox(self) -> dict[str, Any]:
        """Build the ``busybox`` image from the host's busybox-static."""
        import shutil
        import hashlib
        import subprocess
        binary = next((b for b in _BUSYBOX_BIN if os.path.exists(b)), None)
        if binary is None:
            raise ConfigError("busybox image: no busybox binary on the host (apt-get install busybox-static)")
        with self._staging(BUSYBOX) as tmp:
            root = os.path.join(tmp, "rootfs")
            for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "tmp", "root", "home",
                      "var", "run", "mnt"):
                os.makedirs(os.path.join(root, d), exist_ok=True)
            os.chmod(os.path.join(root, "tmp"), 0o1777)
            os.chmod(os.path.join(root, "root"), 0o700)
            shutil.copy2(binary, os.path.join(root, "bin/busybox"))
            applets = subprocess.run([binary, "--list-full"], capture_output=True, text=True, check=True).stdout
            for applet in applets.split():
                link = os.path.join(root, applet)
                if applet != "bin/busybox" and not os.path.lexists(link):
                    os.makedirs(os.path.dirname(link), exist_ok=True)
                    os.symlink("/bin/busybox", link)
            for fname, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
                with open(os.path.join(root, fname), "w") as f:
                    f.write(text)
            with open(binary, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            from ._imageconfig import BUSYBOX_CONFIG
            return self._finish(BUSYBOX, tmp, digest, BUSYBOX_CONFIG)

    def import_tar(self, tar_path: str, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Unpack a root filesystem tarball as image ``name`` with the OCI image ``config`` (``docker import
        --change``: ``_imageconfig.parse_changes``); hostile members are refused or dropped."""
        import hashlib
        import tarfile
        name = normalize(name)
        if not os.path.isfile(tar_path):
            raise ConfigError(f"no such file: {tar_path}")
        with self._staging(name) as tmp:
            with open(tar_path, "rb") as raw:
                digest = hashlib.sha256(raw.read()).hexdigest()
            try:
                with tarfile.open(tar_path) as tf:
                    _safe_extract(tf, os.path.join(tmp, "rootfs"))
            except (tarfile.TarError, EOFError) as exc:
                raise ConfigError(f"{tar_path}: not a valid tar archive ({exc})") from exc
            with self._lock():
                return self._finish(name, tmp, digest, config)


def _parts(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ConfigError(f"refusing tar member {name!r}: path leaves the image")
    return parts


_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Tree:
    """The image's root as a directory descriptor; every member is created, chmodded and chowned relative to
    its parent's descriptor, and no component is ever looked up through a symlink (O_NOFOLLOW at each step),
    so nothing a member or an earlier symlink says can reach outside the root."""

    def __init__(self, root: str) -> None:
        self.fd = os.open(root, _DIR_NOFOLLOW)
        self._cached: tuple[tuple[str, ...], int] | None = None  # members come grouped by directory

    def close(self) -> None:
        self._drop_cache()
        os.close(self.fd)

    def _drop_cache(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def parent(self, parts: list[str], member: str, create: bool = True) -> int:
        """A descriptor of the directory holding ``parts[-1]`` (owned by the tree: do not close it); missing
        directories are made (tar files may omit them); a symlink or file on the way is refused."""
        key = tuple(parts[:-1])
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        fd = os.dup(self.fd)
        try:
            for name in key:
                try:
                    nxt = os.open(name, _DIR_NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(name, 0o755, dir_fd=fd)
                    nxt = os.open(name, _DIR_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):  # a file or a symlink on the way
                        raise
                    raise ConfigError(f"refusing tar member {member!r}: it would be written through a link "
                                      f"or a file ({name!r})") from None
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        self._drop_cache()
        self._cached = (key, fd)
        return fd

    def lstat(self, pfd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def clear(self, pfd: int, name: str, member: str) -> None:
        """Make room for a non-directory member: an old file or symlink goes; a directory is refused."""
        import stat
        st = self.lstat(pfd, name)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"refusing tar member {member!r}: a directory of that name exists")
        os.unlink(name, dir_fd=pfd)


def _safe_extract(tf: tarfile.TarFile, root: str) -> None:
    import shutil
    import stat
    tree = _Tree(root)
    dirs: list[tuple[list[str], tarfile.TarInfo]] = []
    try:
        for m in tf:
            parts = _parts(m.name)
            if not parts:
                continue
            if m.isdev() or m.isfifo():
                continue  # device nodes are never created from an image
            if not (m.isdir() or m.issym() or m.islnk() or m.isreg()):
                continue
            pfd = tree.parent(parts, m.name)
            name = parts[-1]
            if m.isdir():
                st = tree.lstat(pfd, name)
                if st is not None and not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=pfd)  # a symlink (or file) of that name is replaced, never followed
                    st = None
                if st is None:
                    os.mkdir(name, 0o755, dir_fd=pfd)
                dirs.append((parts, m))  # modes and owners last: a 0555 directory must still take its children
                continue
            tree.clear(pfd, name, m.name)
            if m.issym():
                os.symlink(m.linkname, name, dir_fd=pfd)
                os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            elif m.islnk():
                tparts = _parts(m.linkname)
                if not tparts:
                    raise ConfigError(f"refusing hard link {m.name!r} -> {m.linkname!r}")
                tfd = os.dup(tree.parent(tparts, m.name, create=False))
                try:
                    tst = tree.lstat(tfd, tparts[-1])
                    if tst is None or not stat.S_ISREG(tst.st_mode):
                        raise ConfigError(f"refusing hard link {m.name!r} -> {m.linkname!r}")
                    pfd = tree.parent(parts, m.name)  # the lookup above may have replaced the cached parent
                    os.link(tparts[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
                finally:
                    os.close(tfd)
            else:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=pfd)
                with os.fdopen(fd, "wb") as out, tf.extractfile(m) as src:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
                    os.fchown(out.fileno(), m.uid, m.gid)
                    os.fchmod(out.fileno(), stat.S_IMODE(m.mode))
        for parts, m in reversed(dirs):
            try:
                fd = os.open(parts[-1], _DIR_NOFOLLOW, dir_fd=tree.parent(parts, m.name, create=False))
            except (ConfigError, OSError):
                continue  # replaced by a later member: nothing of ours to change
            try:
                os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, stat.S_IMODE(m.mode))
            finally:
                os.close(fd)
    finally:
        tree.close()
