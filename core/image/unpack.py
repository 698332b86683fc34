"""Unpack one layer tar stream (gzip, zstd or plain: told apart by their magic bytes) into a directory, safely.

Contract of ``unpack(fileobj, dest, expected_diff_id=None)``:
- ``dest`` is an existing directory that nothing else writes (a layer's staging ``diff/``); on any error its
  content is unspecified (the caller throws the staging directory away) and nothing outside it was written.
- Every member is created relative to its parent's directory descriptor; no path component is ever looked up
  through a symlink (``O_NOFOLLOW`` at each step) and no link is followed when creating, chowning, chmodding
  or setting times. Refused, with one ``ConfigError`` line: absolute paths, ``..``, a path through a symlink
  or a file, a hard link to something not in this layer (or to a directory), a whiteout naming ``.``/``..``,
  GNU sparse files, unknown member types, a stream that is not a tar or is truncated, a diff_id mismatch.
- Kept: owners, modes (setuid/setgid/sticky included), xattrs (PAX ``SCHILY.xattr.*``; file capabilities
  ``security.capability`` are set after the chown that would clear them), hard links, symlinks, mtimes (ns),
  device nodes and fifos (``devices=False`` drops them, for root filesystem imports).
- OCI whiteouts become overlayfs ones: ``.wh.NAME`` -> a 0/0 character device NAME; ``.wh..wh..opq`` -> the
  directory's ``trusted.overlay.opaque=y`` (and ``user.overlay.opaque=y``, read by an overlay mounted with
  ``userxattr`` inside a user namespace). Other ``.wh..wh.*`` entries (aufs bookkeeping) are skipped.
- The diff_id (sha256 of the uncompressed stream, to its very end) is computed while unpacking and checked
  against ``expected_diff_id`` when given. Decompression and hashing run in a reader thread (zlib, zstd and
  hashlib release the GIL), so they overlap with the file system work of the calling thread.
"""
from __future__ import annotations

import errno
import os
import stat
import sys
from typing import IO, Any, NamedTuple

from ..errors import ConfigError
from .layerstream import Stream

__all__ = ["unpack", "Unpacked", "Tree", "safe_parts"]

_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = (("trusted.overlay.opaque", b"y"), ("user.overlay.opaque", b"y"))


class Unpacked(NamedTuple):
    diff_id: str   # "sha256:<hex>" of the uncompressed stream
    size: int      # bytes of regular file content written
    files: int     # members created


def _umask() -> int:
    """This process's umask, read without changing it (``os.umask`` sets it, for every thread)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777  # unknown: every mode is set with fchmod


def _has_default_acl(fd: int) -> bool:
    try:
        os.getxattr(fd, "system.posix_acl_default")
    except OSError as exc:
        return exc.errno not in (errno.ENODATA, errno.EOPNOTSUPP)
    return True


# -- the tree: every write relative to a directory descriptor ------------------------------------------------
def safe_parts(name: str) -> list[str]:
    """The components of a member name; absolute names and ``..`` are refused."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ConfigError(f"refusing tar member {name!r}: path leaves the image")
    return parts


class Tree:
    """A root directory as a descriptor; members are created, chmodded and chowned relative to their parent's
    descriptor, and no component is ever looked up through a symlink (O_NOFOLLOW at each step), so nothing a
    member or an earlier symlink says can reach outside the root."""

    _KEEP = 128  # directory descriptors kept open while a layer is unpacked

    def __init__(self, root: str) -> None:
        self.fd = os.open(root, _DIR_NOFOLLOW)
        # What a file made here is owned by already: the chown of a member with that owner is skipped. Our
        # own ids, unless the root's group differs (a setgid or grpid directory hands its group down).
        euid, egid = os.geteuid(), os.getegid()
        self.owner = (euid, egid) if os.fstat(self.fd).st_gid == egid else None
        # A file whose mode the umask leaves alone gets it from open (no fchmod), unless a default ACL on the
        # root would stand in for the umask.
        self.umask = 0o777 if _has_default_acl(self.fd) else _umask()
        # Descriptors of directories already walked to, by path: a directory, once made or opened here, can
        # never become a link during the unpack (``clear`` refuses to remove a directory), so a kept
        # descriptor stays the directory it was; files in other directories then cost one open, not one per
        # path component (four per file on an image of many small files spread over directories).
        self._dirs: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        self._drop_cache()
        os.close(self.fd)

    def _drop_cache(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def parent(self, parts: list[str], member: str, create: bool = True) -> int:
        """A descriptor of the directory holding ``parts[-1]`` (owned by the tree: do not close it); missing
        directories are made (tars may omit them); a symlink or file on the way is refused."""
        key = tuple(parts[:-1])
        fd = self._dirs.get(key)
        if fd is not None:
            return fd
        if not key:
            return self.fd
        base, start = self.fd, 0
        for depth in range(len(key) - 1, 0, -1):  # the deepest directory on the way already open
            found = self._dirs.get(key[:depth])
            if found is not None:
                base, start = found, depth
                break
        fd = self._walk(base, key[start:], member, create)
        if len(self._dirs) >= self._KEEP:
            os.close(self._dirs.pop(next(iter(self._dirs))))
        self._dirs[key] = fd
        return fd

    def open_dir(self, key: tuple[str, ...] | list[str], member: str, create: bool = False) -> int:
        """A new descriptor (the caller closes it) of the directory ``key`` inside the root."""
        return self._walk(self.fd, tuple(key), member, create)

    @staticmethod
    def _walk(base: int, key: tuple[str, ...], member: str, create: bool) -> int:
        fd = os.dup(base)
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
        return fd

    @staticmethod
    def lstat(pfd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def clear(self, pfd: int, name: str, member: str) -> None:
        """Make room for a non-directory member: an old file or symlink goes; a directory is refused."""
        st = self.lstat(pfd, name)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"refusing tar member {member!r}: a directory of that name exists")
        os.unlink(name, dir_fd=pfd)


# -- the tar format ------------------------------------------------------------------------------------------
def _num(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU), for sizes and ids that do not fit in octal
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] & 0x40 else value
    try:
        return int(field.split(b"\0", 1)[0] or b"0", 8)
    except ValueError:
        if not field.strip(b" \0"):
            return 0
        raise ConfigError("layer: not a valid tar archive (bad number in a header)") from None


_FS_ENCODING = sys.getfilesystemencoding()


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode(_FS_ENCODING, "surrogateescape")  # os.fsdecode, minus its checks


def _pax(data: bytes) -> dict[str, Any]:
    """``LEN KEY=VALUE\\n`` records. Values stay bytes for xattrs, else UTF-8 text."""
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise ConfigError("layer: not a valid tar archive (bad pax header)")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ConfigError("layer: not a valid tar archive (bad pax header)") from None
        record = data[space + 1:pos + length - 1]  # without the trailing newline
        if length <= 0 or pos + length > len(data):
            raise ConfigError("layer: not a valid tar archive (bad pax header)")
        key, _, value = record.partition(b"=")
        name = key.decode("utf-8", "surrogateescape")
        out[name] = value if name.startswith("SCHILY.xattr.") else value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def _ns(text: str) -> int:
    """PAX time ``SECONDS[.FRACTION]`` -> nanoseconds, exactly."""
    sec, _, frac = text.strip().partition(".")
    try:
        whole, part = int(sec), int((frac + "000000000")[:9]) if frac else 0
    except ValueError:
        raise ConfigError(f"layer: bad pax time {text!r}") from None
    return whole * 1_000_000_000 + (-part if sec.startswith("-") else part)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"layer: bad pax {what} {text!r}") from None


class _Member:
    __slots__ = ("name", "type", "mode", "uid", "gid", "size", "mtime_ns", "linkname", "major", "minor", "xattrs",
                 "consumed")


def _members(s: Stream):
    """Tar members, with PAX and GNU long names applied; ends at the first zero block."""
    glob: dict[str, Any] = {}
    local: dict[str, Any] = {}
    longname = longlink = None
    while True:
        hdr = s.take(512)
        if hdr.count(0) == 512:
            return
        sums = hdr[148:156]
        if _num(sums) != sum(hdr) - sum(sums) + 256:
            raise ConfigError("layer: not a valid tar archive (bad header checksum)")
        typ = hdr[156:157]
        size = _num(hdr[124:136])
        padded = (size + 511) & ~511
        if typ in (b"x", b"g", b"L", b"K"):
            data = s.take(padded)[:size]
            if typ == b"x":
                local.update(_pax(data))
            elif typ == b"g":
                glob.update(_pax(data))
            elif typ == b"L":
                longname = os.fsdecode(data.rstrip(b"\0"))
            else:
                longlink = os.fsdecode(data.rstrip(b"\0"))
            continue
        m = _Member()
        pax = {**glob, **local} if glob else local
        name = _str(hdr[0:100])
        if hdr[257:263] == b"ustar\x00" and hdr[345] != 0:
            name = _str(hdr[345:500]) + "/" + name
        m.name = pax.get("path") or longname or name
        m.linkname = (pax.get("linkpath") or longlink or _str(hdr[157:257])) if typ in (b"1", b"2") else ""
        m.type = typ
        m.mode = _num(hdr[100:108]) & 0o7777
        m.uid = _int(pax["uid"], "uid") if "uid" in pax else _num(hdr[108:116])
        m.gid = _int(pax["gid"], "gid") if "gid" in pax else _num(hdr[116:124])
        m.size = _int(pax["size"], "size") if "size" in pax else size
        m.consumed = 0
        m.mtime_ns = _ns(pax["mtime"]) if "mtime" in pax else _num(hdr[136:148]) * 1_000_000_000
        m.major, m.minor = (_num(hdr[329:337]), _num(hdr[337:345])) if typ in (b"3", b"4") else (0, 0)
        m.xattrs = [(k[13:], v) for k, v in pax.items() if k.startswith("SCHILY.xattr.")] if pax else ()
        if typ == b"S" or pax and any(k.startswith("GNU.sparse.") for k in pax):
            raise ConfigError(f"refusing tar member {m.name!r}: sparse files are not supported")
        local = {}
        longname = longlink = None
        yield m
        if typ in (b"0", b"\0", b"7"):
            s.copy_to(None, ((m.size + 511) & ~511) - m.consumed)
        elif m.size:
            s.copy_to(None, (m.size + 511) & ~511)  # data of a link or a device: none should exist


# -- applying members ----------------------------------------------------------------------------------------
def unpack(fileobj: IO[bytes], dest: str, expected_diff_id: str | None = None, *, devices: bool = True) -> Unpacked:
    """Unpack the layer ``fileobj`` into the directory ``dest`` (see the module's contract)."""
    s = Stream(fileobj)
    tree = Tree(dest)
    try:
        try:
            size, count = _apply(s, tree, devices)
        finally:
            tree.close()
        diff_id = s.drain()
    finally:
        s.close()
    if expected_diff_id is not None and diff_id != expected_diff_id:
        raise ConfigError(f"layer content {diff_id} does not match its diff_id {expected_diff_id}")
    return Unpacked(diff_id, size, count)


def _apply(s: Stream, tree: Tree, devices: bool) -> tuple[int, int]:
    dirs: list[tuple[list[str], str, _Member]] = []
    size = count = 0
    for m in _members(s):
        parts = safe_parts(m.name)
        if not parts:  # the root itself: its mode and owner are the layer directory's, not the tar's
            continue
        name = parts[-1]
        typ = m.type
        if name.startswith(".wh."):
            _whiteout(tree, parts, m)
            continue
        pfd = tree.parent(parts, m.name)
        count += 1
        if typ in (b"0", b"\0", b"7"):
            # ours already and a plain mode the umask leaves alone (most files): made with it, no chown, no chmod
            made = (m.uid, m.gid) == tree.owner and not m.mode & (0o7000 | tree.umask)
            try:
                fd = os.open(name, _NEW_FILE, m.mode if made else 0o600, dir_fd=pfd)
            except FileExistsError:  # a later member replaces an earlier one (never a directory)
                tree.clear(pfd, name, m.name)
                fd = os.open(name, _NEW_FILE, m.mode if made else 0o600, dir_fd=pfd)
            try:
                if m.size:
                    s.copy_to(fd, m.size)
                    m.consumed = m.size
                    size += m.size
                if not made:
                    if (m.uid, m.gid) != tree.owner:
                        os.fchown(fd, m.uid, m.gid)
                    os.fchmod(fd, m.mode)  # after the chown, which clears setuid and setgid
                for key, value in m.xattrs:
                    os.setxattr(fd, key, value)  # after the chown, which clears security.capability
                os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
            finally:
                os.close(fd)
        elif typ == b"5":
            st = tree.lstat(pfd, name)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=pfd)  # a symlink (or file) of that name is replaced, never followed
                st = None
            if st is None:
                os.mkdir(name, 0o700, dir_fd=pfd)
            dirs.append((parts, m.name, m))  # modes, owners, times last: a 0555 directory must take children
        elif typ == b"2":
            tree.clear(pfd, name, m.name)
            os.symlink(m.linkname, name, dir_fd=pfd)
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            for key, value in m.xattrs:
                os.setxattr(f"/proc/self/fd/{pfd}/{name}", key, value, follow_symlinks=False)
            os.utime(name, ns=(m.mtime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        elif typ == b"1":
            _hard_link(tree, parts, m)
        elif typ in (b"3", b"4", b"6"):
            if not devices and typ != b"6":
                count -= 1
                continue
            tree.clear(pfd, name, m.name)
            kind = {b"3": stat.S_IFCHR, b"4": stat.S_IFBLK, b"6": stat.S_IFIFO}[typ]
            os.mknod(name, kind | 0o600, os.makedev(m.major, m.minor) if typ != b"6" else 0, dir_fd=pfd)
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            _chmod_node(pfd, name, m.mode)
            os.utime(name, ns=(m.mtime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        else:
            raise ConfigError(f"refusing tar member {m.name!r}: unsupported type {typ!r}")
    for parts, member, m in reversed(dirs):
        try:
            fd = tree.open_dir(parts, member)
        except (ConfigError, OSError):
            continue  # replaced by a later member: nothing of ours to change
        try:
            os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, m.mode)
            for key, value in m.xattrs:
                os.setxattr(fd, key, value)
            os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
        finally:
            os.close(fd)
    return size, count


def _chmod_node(pfd: int, name: str, mode: int) -> None:
    """chmod a node just made (never a symlink: it was created by us a moment ago) through an O_PATH fd."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
    try:
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def _whiteout(tree: Tree, parts: list[str], m: Any) -> None:
    name = parts[-1]
    if name == ".wh..wh..opq":
        fd = tree.open_dir(parts[:-1], m.name, create=True)
        try:
            for key, value in _OPAQUE:
                os.setxattr(fd, key, value)
        finally:
            os.close(fd)
        return
    if name.startswith(".wh..wh."):
        return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing for overlayfs
    target = name[4:]
    if target in ("", ".", ".."):
        raise ConfigError(f"refusing whiteout {m.name!r}: it names {target or 'nothing'!r}")
    pfd = tree.parent(parts, m.name)
    st = tree.lstat(pfd, target)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"refusing whiteout {m.name!r}: a directory of that name is in the same layer")
        os.unlink(target, dir_fd=pfd)
    os.mknod(target, stat.S_IFCHR | 0o600, 0, dir_fd=pfd)


def _hard_link(tree: Tree, parts: list[str], m: Any) -> None:
    tparts = safe_parts(m.linkname)
    if not tparts:
        raise ConfigError(f"refusing hard link {m.name!r} -> {m.linkname!r}")
    try:
        tfd = tree.open_dir(tparts[:-1], m.name)
    except FileNotFoundError:
        raise ConfigError(f"refusing hard link {m.name!r} -> {m.linkname!r}: no such file in this layer") from None
    try:
        tst = tree.lstat(tfd, tparts[-1])
        if tst is None or stat.S_ISDIR(tst.st_mode):
            raise ConfigError(f"refusing hard link {m.name!r} -> {m.linkname!r}: no such file in this layer")
        pfd = tree.parent(parts, m.name)
        tree.clear(pfd, parts[-1], m.name)
        os.link(tparts[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
    finally:
        os.close(tfd)
