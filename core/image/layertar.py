"""Write one layer directory back as an OCI layer tar: the inverse of ``unpack``.

``write_layer(layer_dir, out)`` streams a PAX tar of ``layer_dir`` into ``out`` (anything with ``write``);
nothing is held in memory beyond one chunk. The bytes are deterministic for a given directory: entries in
sorted order (a directory before its content), owners by number only, mtimes truncated to seconds (as
Docker's archive package does), no access or change times, no uname/gname.

Overlayfs conventions become OCI ones: a whiteout (a 0/0 character device ``NAME``) is written as an empty
``.wh.NAME``; a directory marked ``trusted.overlay.opaque=y`` (or ``user.overlay.opaque=y``) gets a
``.wh..wh..opq`` entry right after it, and the overlay xattrs themselves are not written. Kept: modes with
setuid/setgid/sticky, owners, other xattrs (``security.capability``...) as PAX ``SCHILY.xattr.*``, symlinks,
hard links between files of this layer (the first in sorted order is the file, later ones link to it),
device nodes and fifos. Sockets are skipped (a tar cannot hold one).
"""
from __future__ import annotations

import os
import stat
import tarfile
from typing import Any, Iterator

__all__ = ["write_layer", "WHITEOUT", "OPAQUE"]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_CHUNK = 1 << 20


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
    return out


def _opaque(xattrs: dict[str, bytes]) -> bool:
    return any(xattrs.get(prefix + "opaque") == b"y" for prefix in _OVERLAY_XATTRS)


def _walk(root: str, rel: str = "") -> Iterator[tuple[str, str]]:
    """(relative name, full path) of everything under ``root``, sorted, parents first; never follows links."""
    here = os.path.join(root, rel) if rel else root
    with os.scandir(here) as it:
        names = sorted(e.name for e in it)
    for name in names:
        r = f"{rel}/{name}" if rel else name
        full = os.path.join(root, r)
        yield r, full
        if stat.S_ISDIR(os.lstat(full).st_mode):
            yield from _walk(root, r)


def _info(name: str, st: os.stat_result, kind: bytes, owner: tuple[int, int] = (0, 0)) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid = st.st_uid - owner[0] if st.st_uid >= owner[0] else st.st_uid
    info.gid = st.st_gid - owner[1] if st.st_gid >= owner[1] else st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def _pax(xattrs: dict[str, bytes]) -> dict[str, str]:
    # tarfile writes str values; surrogateescape keeps arbitrary bytes (it then marks hdrcharset=BINARY)
    return {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()
            if not k.startswith(_OVERLAY_XATTRS)}


def _placeholder(st: os.stat_result, full: str) -> bool:
    """An empty regular file or an empty directory (a mount point a runtime made)."""
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    return stat.S_ISDIR(st.st_mode) and not os.listdir(full)


def write_layer(layer_dir: str, out: Any, *, skip: Any = (), owner: tuple[int, int] = (0, 0)) -> int:
    """Write the layer tar of ``layer_dir`` into ``out``; the number of entries written.

    ``skip``: relative paths left out when they are empty files or directories (a container's mount points:
    see the ``container_changes`` hook). ``owner``: the host uid/gid of the root that wrote ``layer_dir`` (a
    user namespace's container): owners at or above it are written shifted down by it."""
    links: dict[tuple[int, int], str] = {}
    count = 0
    skip = frozenset(skip)

    def make(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
        return _info(name, st, kind, owner)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tf:
        for rel, full in _walk(layer_dir):
            st = os.lstat(full)
            mode = st.st_mode
            if rel in skip and _placeholder(st, full):
                continue
            head, _, base = rel.rpartition("/")
            if stat.S_ISCHR(mode) and st.st_rdev == 0:  # an overlay whiteout
                info = make(f"{head}/{WHITEOUT}{base}" if head else WHITEOUT + base, st, tarfile.REGTYPE)
                info.mode = 0o600
                tf.addfile(info)
                count += 1
                continue
            if stat.S_ISSOCK(mode):
                continue
            xattrs = _xattrs(full)
            if stat.S_ISDIR(mode):
                info = make(rel, st, tarfile.DIRTYPE)
                info.pax_headers = _pax(xattrs)
                tf.addfile(info)
                count += 1
                if _opaque(xattrs):
                    marker = make(f"{rel}/{OPAQUE}", st, tarfile.REGTYPE)
                    marker.mode = 0o600
                    tf.addfile(marker)
                    count += 1
                continue
            if stat.S_ISLNK(mode):
                info = make(rel, st, tarfile.SYMTYPE)
                info.linkname = os.readlink(full)
                info.pax_headers = _pax(xattrs)
                tf.addfile(info)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    info = make(rel, st, tarfile.LNKTYPE)
                    info.linkname = links[key]
                    tf.addfile(info)
                else:
                    if st.st_nlink > 1:
                        links[key] = rel
                    info = make(rel, st, tarfile.REGTYPE)
                    info.size = st.st_size
                    info.pax_headers = _pax(xattrs)
                    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    with os.fdopen(fd, "rb") as f:
                        tf.addfile(info, f)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                kind = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE if stat.S_ISBLK(mode) \
                    else tarfile.FIFOTYPE
                info = make(rel, st, kind)
                if kind != tarfile.FIFOTYPE:
                    info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                info.pax_headers = _pax(xattrs)
                tf.addfile(info)
            else:
                continue
            count += 1
    return count
