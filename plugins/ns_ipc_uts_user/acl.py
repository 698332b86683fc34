"""POSIX access ACLs, read and extended through their extended attribute (no libacl), and the question the
user plugin asks of them: may this uid traverse that directory?"""
from __future__ import annotations

import errno
import os
import struct

__all__ = ["acl_supported", "can_search", "grant_search", "chain"]

# Extended attribute system.posix_acl_access (linux/posix_acl_xattr.h): a version, then (tag, perm, id) entries
# sorted by tag, then id.
_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_ACL_HEAD, _ACL_ENTRY = struct.Struct("<I"), struct.Struct("<HHI")
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_UNDEFINED_ID = 0xFFFFFFFF
_X = 1


def _read_acl(path: str) -> list[tuple[int, int, int]] | None:
    """The access ACL of ``path`` as (tag, perm, id) entries; None when it has none (mode bits only)."""
    try:
        raw = os.getxattr(path, _ACL_XATTR)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return None
        raise
    return [_ACL_ENTRY.unpack_from(raw, off) for off in range(_ACL_HEAD.size, len(raw), _ACL_ENTRY.size)]


def acl_supported(path: str) -> bool:
    try:
        os.getxattr(path, _ACL_XATTR)
    except OSError as exc:
        return exc.errno != errno.EOPNOTSUPP
    return True


def can_search(path: str, uid: int, gid: int) -> bool:
    """Whether a process with fsuid ``uid``, fsgid ``gid`` and no other group may traverse ``path`` (the
    kernel's order: owner, named user, owning and named groups through the mask, others)."""
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    acl = _read_acl(path)
    if acl is None:
        return bool(st.st_mode & (0o010 if st.st_gid == gid else 0o001))
    mask = next((perm for tag, perm, _ in acl if tag == _MASK), 7)
    for tag, perm, ident in acl:
        if tag == _USER and ident == uid:
            return bool(perm & mask & _X)
    groups = [perm for tag, perm, ident in acl
              if (tag == _GROUP_OBJ and st.st_gid == gid) or (tag == _GROUP and ident == gid)]
    if groups:
        return any(perm & mask & _X for perm in groups)
    return any(perm & _X for tag, perm, _ in acl if tag == _OTHER)


def grant_search(path: str, uid: int) -> None:
    """Add ``user:uid:--x`` to the access ACL of ``path`` (and x to its mask); nothing else changes."""
    acl = _read_acl(path)
    if acl is None:
        mode = os.stat(path).st_mode
        acl = [(_USER_OBJ, mode >> 6 & 7, _UNDEFINED_ID), (_GROUP_OBJ, mode >> 3 & 7, _UNDEFINED_ID),
               (_MASK, mode >> 3 & 7, _UNDEFINED_ID), (_OTHER, mode & 7, _UNDEFINED_ID)]
    entries = {(tag, ident): perm for tag, perm, ident in acl}
    entries[(_USER, uid)] = entries.get((_USER, uid), 0) | _X
    entries[(_MASK, _UNDEFINED_ID)] = entries.get((_MASK, _UNDEFINED_ID), entries[(_GROUP_OBJ, _UNDEFINED_ID)]) | _X
    ordered = sorted(entries.items(), key=lambda item: (item[0][0], item[0][1]))
    raw = _ACL_HEAD.pack(_ACL_VERSION) + b"".join(_ACL_ENTRY.pack(tag, perm, ident)
                                                  for (tag, ident), perm in ordered)
    os.setxattr(path, _ACL_XATTR, raw)


def chain(path: str) -> list[str]:
    """``path`` and each of its parents up to ``/``, outermost first."""
    out = [path]
    while out[-1] != "/":
        out.append(os.path.dirname(out[-1]))
    return out[::-1]
