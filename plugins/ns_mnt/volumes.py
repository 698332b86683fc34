"""Parsing ``-v SRC:DST[:ro|rw]`` (pure; no file system access beyond existence checks)."""
from __future__ import annotations

import os
from typing import NamedTuple

from nsrun import ConfigError

__all__ = ["Volume", "parse_volume"]


class Volume(NamedTuple):
    source: str
    target: str
    readonly: bool = False
    nosuid: bool = False
    noexec: bool = False


# The flags a mode may hold besides ro|rw (comma-separated: ``ro,nosuid``); nodev holds for every volume anyway.
_FLAGS = ("nosuid", "noexec", "nodev")


def parse_volume(text: str, *, check_exists: bool = True) -> Volume:
    """One ``-v`` value. Only bind mounts of absolute host paths (named volumes are not supported). The mode
    is ``ro`` or ``rw``, optionally with ``nosuid``, ``noexec``, ``nodev`` (comma-separated)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise ConfigError(f"invalid volume specification: {text!r} (expected /host/path:/container/path[:ro])")
    source, target = parts[0], parts[1]
    words = (parts[2] if len(parts) == 3 else "rw").split(",")
    modes = [w for w in words if w not in _FLAGS]
    mode = modes[0] if len(modes) == 1 else ",".join(modes)
    if mode not in ("ro", "rw"):
        raise ConfigError(f"invalid volume specification: {text!r}: mode must be 'ro' or 'rw', not {mode!r}")
    if not os.path.isabs(source):
        raise ConfigError(f"invalid volume specification: {text!r}: host path must be absolute "
                          f"(named volumes are not supported)")
    if not os.path.isabs(target):
        raise ConfigError(f"invalid volume specification: {text!r}: container path must be absolute")
    if os.path.normpath(target) == "/":
        raise ConfigError(f"invalid volume specification: {text!r}: cannot mount over /")
    if check_exists and not os.path.exists(source):
        raise ConfigError(f"invalid volume specification: {text!r}: host path {source} does not exist")
    return Volume(os.path.normpath(source), os.path.normpath(target), mode == "ro", "nosuid" in words,
                  "noexec" in words)


# ``--tmpfs`` options: flags, and the tmpfs data options passed through (sizes, mode, owner)
_TMPFS_FLAGS = {"ro": 1, "rw": 0, "nosuid": 2, "nodev": 0, "noexec": 8, "strictatime": 1 << 24, "relatime": 0,
                "suid": 0, "dev": 0, "exec": 0}
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")


def parse_tmpfs(text: str) -> tuple[str, int, str]:
    """``--tmpfs PATH[:OPTIONS]`` (Docker's) -> (target, mount flags, tmpfs data). Every tmpfs is nodev
    (``dev`` is accepted and ignored only in that direction: nodes never open on it)."""
    target, _, opts = text.partition(":")
    if not os.path.isabs(target) or os.path.normpath(target) == "/":
        raise ConfigError(f"invalid --tmpfs {text!r}: an absolute path other than / is required")
    flags, data = 0, []
    for opt in filter(None, opts.split(",")):
        key, eq, value = opt.partition("=")
        if eq and key in _TMPFS_DATA and value:
            data.append(opt)
        elif not eq and opt in _TMPFS_FLAGS:
            flags |= _TMPFS_FLAGS[opt]
        else:
            raise ConfigError(f"invalid --tmpfs {text!r}: option {opt!r} is not supported")
    return os.path.normpath(target), flags, ",".join(data)
