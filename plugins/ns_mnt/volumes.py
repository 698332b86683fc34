"""Parsing the mount options, as the docker CLI reads them (pure; no file system access beyond existence
checks): ``-v``, ``--mount``, ``--tmpfs``, ``--volumes-from``, and the Docker API's ``HostConfig.Mounts``.

Every form becomes ``Volume(kind, source, target, readonly, nocopy, data)``:

- ``bind``: ``source`` is an absolute host path (``-v /host:/ctr[:ro]``, ``--mount type=bind,...``);
- ``volume``: ``source`` is a named volume (``-v NAME:/ctr[:ro,nocopy]``, ``--mount type=volume,...``), or
  None for an anonymous one (``-v /ctr``, ``--mount type=volume,target=/ctr``, an image's ``Volumes``);
- ``tmpfs``: ``data`` holds the tmpfs options (``--tmpfs /ctr[:size=64m,mode=1777]``,
  ``--mount type=tmpfs,target=/ctr,tmpfs-size=...,tmpfs-mode=...``).

What nsrun does not support (propagation, SELinux relabelling ``z``/``Z``, volume drivers other than
``local``, ``volume-opt`` on a mount) is refused by name: never accepted and ignored.
"""
from __future__ import annotations

import os
from nsrun import ConfigError, Fields  # not typing.NamedTuple (typing ~4 ms) nor namedtuple (collections ~2.5 ms)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Volume", "VOLUME_NAME", "check_volume_name", "parse_volume", "parse_mount", "parse_tmpfs",
           "mounts_from_docker", "tmpfs_data", "tmpfs_options"]

VOLUME_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"  # what check_volume_name accepts (Docker's rule)
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def _volume_name(name: str) -> bool:
    return len(name) >= 2 and name[0] in _NAME_FIRST and _NAME_REST.issuperset(name)


class Volume(Fields):
    """``source`` (str or None), ``target``, ``readonly``, ``kind`` (bind, volume, tmpfs...), ``nocopy``,
    ``data`` (mount data), ``flags``: further mount flags: MS_NOSUID, MS_NOEXEC (a mode's ``nosuid``/``noexec``),
    MS_STRICTATIME."""

    __slots__ = ("source", "target", "readonly", "kind", "nocopy", "data", "flags")
    _defaults = {"readonly": False, "kind": "bind", "nocopy": False, "data": "", "flags": 0}

    @property
    def nosuid(self) -> bool:
        return bool(self.flags & _MS_NOSUID)

    @property
    def noexec(self) -> bool:
        return bool(self.flags & _MS_NOEXEC)


_MS_NOSUID, _MS_NOEXEC, _MS_STRICTATIME = 2, 8, 1 << 24
# The flags a mode may hold besides ro|rw (comma-separated: ``ro,nosuid``); nodev holds for every volume anyway.
_FLAGS = {"nosuid": _MS_NOSUID, "noexec": _MS_NOEXEC, "nodev": 0}


def check_volume_name(name: str) -> str:
    if not _volume_name(name or ""):
        raise ConfigError(f"invalid volume name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, and at least "
                          f"2 characters")
    return name


def _target(text: str, target: str) -> str:
    if not os.path.isabs(target):
        raise ConfigError(f"invalid volume specification: {text!r}: container path must be absolute")
    if os.path.normpath(target) == "/":
        raise ConfigError(f"invalid volume specification: {text!r}: cannot mount over /")
    return os.path.normpath(target)


def parse_volume(text: str, *, check_exists: bool = True) -> Volume:
    """One ``-v`` value: ``/host:/ctr[:MODE]`` (a bind mount), ``NAME:/ctr[:MODE]`` (a named volume) or
    ``/ctr`` (an anonymous volume). MODE: ``ro``/``rw``, ``nocopy`` for a volume, and ``nosuid``, ``noexec``,
    ``nodev`` (comma-separated)."""
    parts = text.split(":")
    if len(parts) == 1 and parts[0]:
        if not os.path.isabs(parts[0]):
            raise ConfigError(f"invalid volume specification: {text!r} (expected /host/path:/container/path[:ro], "
                              f"NAME:/container/path[:ro] or /container/path)")
        return Volume(None, _target(text, parts[0]), kind="volume")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise ConfigError(f"invalid volume specification: {text!r} (expected /host/path:/container/path[:ro], "
                          f"NAME:/container/path[:ro] or /container/path)")
    source, target = parts[0], parts[1]
    words = parts[2].split(",") if len(parts) == 3 else []
    flags = 0
    for word in words:
        flags |= _FLAGS.get(word, 0)
    modes = [w for w in words if w not in _FLAGS]
    if len([m for m in modes if m in ("ro", "rw")]) > 1:
        raise ConfigError(f"invalid volume specification: {text!r}: mode must be 'ro' or 'rw', not {parts[2]!r}")
    bind = os.path.isabs(source)
    for mode in modes:
        if mode not in ("ro", "rw") and not (mode == "nocopy" and not bind):
            if mode in ("z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate"):
                raise ConfigError(f"invalid volume specification: {text!r}: mode {mode!r} is not supported by nsrun")
            raise ConfigError(f"invalid volume specification: {text!r}: mode must be 'ro' or 'rw'"
                              f"{' (or nocopy for a volume)' if not bind else ''}, not {mode!r}")
    readonly = "ro" in modes
    target = _target(text, target)
    if not bind:
        if not _volume_name(source):
            raise ConfigError(f"invalid volume specification: {text!r}: {source!r} is not a valid volume name "
                              f"([a-zA-Z0-9][a-zA-Z0-9_.-], 2 characters or more); for a host directory use an "
                              f"absolute path")
        return Volume(source, target, readonly, "volume", "nocopy" in modes, flags=flags)
    if check_exists and not os.path.exists(source):
        raise ConfigError(f"invalid volume specification: {text!r}: host path {source} does not exist")
    return Volume(os.path.normpath(source), target, readonly, flags=flags)


_MOUNT_KEYS = {"type", "source", "src", "target", "destination", "dst", "readonly", "ro", "volume-nocopy",
               "tmpfs-size", "tmpfs-mode", "bind-propagation", "volume-driver", "volume-opt", "volume-label",
               "consistency", "bind-recursive", "volume-subpath"}


def _flag(key: str, value: str | None, text: str) -> bool:
    if value is None or value.lower() in ("1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise ConfigError(f"invalid --mount {text!r}: {key}={value}: expected true or false")


def parse_mount(text: str, *, check_exists: bool = True) -> Volume:
    """One ``--mount type=bind|volume|tmpfs,source=..,target=..[,readonly][,volume-nocopy]
    [,tmpfs-size=..][,tmpfs-mode=..]`` value."""
    fields: dict[str, str | None] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if key not in _MOUNT_KEYS:
            raise ConfigError(f"invalid --mount {text!r}: unknown field {key!r}")
        fields[key] = value if eq else None
    kind = fields.pop("type", None) or "volume"
    source = fields.pop("source", None) or fields.pop("src", None)
    target = fields.pop("target", None) or fields.pop("destination", None) or fields.pop("dst", None)
    readonly = any(_flag(k, fields.pop(k), text) for k in ("readonly", "ro") if k in fields)
    if not target:
        raise ConfigError(f"invalid --mount {text!r}: target is required")
    for unsupported in ("bind-propagation", "volume-driver", "volume-opt", "volume-label", "bind-recursive",
                        "volume-subpath"):
        if unsupported in fields and not (unsupported == "volume-driver" and fields[unsupported] == "local"):
            raise ConfigError(f"invalid --mount {text!r}: {unsupported} is not supported by nsrun")
    fields.pop("consistency", None)  # macOS only, ignored by dockerd on Linux too
    fields.pop("volume-driver", None)
    nocopy = _flag("volume-nocopy", fields.pop("volume-nocopy"), text) if "volume-nocopy" in fields else False
    if kind == "bind":
        if fields:
            raise ConfigError(f"invalid --mount {text!r}: {sorted(fields)[0]} is not for a bind mount")
        if not source:
            raise ConfigError(f"invalid --mount {text!r}: a bind mount needs a source")
        if not os.path.isabs(source):
            raise ConfigError(f"invalid --mount {text!r}: a bind mount's source must be an absolute path")
        if check_exists and not os.path.exists(source):
            raise ConfigError(f"invalid --mount {text!r}: bind source path does not exist: {source}")
        return Volume(os.path.normpath(source), _target(text, target), readonly)
    if kind == "volume":
        if fields:
            raise ConfigError(f"invalid --mount {text!r}: {sorted(fields)[0]} is not for a volume")
        return Volume(check_volume_name(source) if source else None, _target(text, target), readonly, "volume",
                      nocopy)
    if kind == "tmpfs":
        if source:
            raise ConfigError(f"invalid --mount {text!r}: a tmpfs mount takes no source")
        size, mode = fields.pop("tmpfs-size", None), fields.pop("tmpfs-mode", None)
        if fields:
            raise ConfigError(f"invalid --mount {text!r}: {sorted(fields)[0]} is not for a tmpfs mount")
        opts = []
        if size:
            opts.append(f"size={_size(size, text)}")
        if mode:
            if not (0 < len(mode) <= 4 and set(mode) <= set("01234567")):
                raise ConfigError(f"invalid --mount {text!r}: tmpfs-mode must be octal")
            opts.append(f"mode={mode}")
        return Volume(None, _target(text, target), readonly, "tmpfs", data=",".join(opts))
    raise ConfigError(f"invalid --mount {text!r}: type {kind!r} is not supported (bind, volume, tmpfs)")


def _size(text: str, what: str) -> int:
    from .sizes import parse_size
    try:
        return parse_size(text, "size")
    except ConfigError:
        raise ConfigError(f"invalid {what!r}: bad size {text!r}") from None


# ``--tmpfs`` options: flags, and the tmpfs data options passed through (sizes, mode, owner)
_TMPFS_FLAGS = {"ro": 1, "rw": 0, "nosuid": _MS_NOSUID, "nodev": 0, "noexec": _MS_NOEXEC, "strictatime": _MS_STRICTATIME,
                "relatime": 0, "suid": 0, "dev": 0, "exec": 0}
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")


def tmpfs_options(opts: str, what: str) -> tuple[str, int]:
    """``--tmpfs`` options (``size=64m,mode=1777,noexec``) -> (tmpfs mount data, mount flags; ``ro`` is
    MS_RDONLY). Every tmpfs is nodev (``dev`` is accepted only in that direction: nodes never open on it);
    anything else is refused by name."""
    data, flags = [], 0
    for item in filter(None, opts.split(",")):
        key, eq, value = item.partition("=")
        if not eq and item in _TMPFS_FLAGS:
            flags |= _TMPFS_FLAGS[item]
            continue
        if key not in _TMPFS_DATA or not eq or not value:
            raise ConfigError(f"invalid --tmpfs {what!r}: option {item!r} is not supported")
        data.append(f"size={_size(value, what)}" if key == "size" else f"{key}={value}")
    return ",".join(data), flags


def tmpfs_data(opts: str, what: str) -> tuple[str, bool]:
    """(tmpfs mount data, readonly) of ``--tmpfs``-style options (the local driver's ``o=`` too)."""
    data, flags = tmpfs_options(opts, what)
    return data, bool(flags & 1)


def parse_tmpfs(text: str) -> Volume:
    """One ``--tmpfs /ctr[:OPTIONS]`` value."""
    target, _, opts = text.partition(":")
    if not os.path.isabs(target) or os.path.normpath(target) == "/":
        raise ConfigError(f"invalid --tmpfs {text!r}: an absolute path other than / is required")
    data, flags = tmpfs_options(opts, text)
    return Volume(None, os.path.normpath(target), bool(flags & 1), "tmpfs", data=data, flags=flags & ~1)


def mounts_from_docker(mounts: Any) -> list[str]:
    """``HostConfig.Mounts`` (``[{Type, Source, Target, ReadOnly, VolumeOptions, TmpfsOptions}]``) -> the
    ``--mount`` texts that mean the same. A field nsrun cannot honour is refused by name."""
    from nsrun import FieldError
    if not isinstance(mounts, list):
        raise FieldError("HostConfig.Mounts: expected an array of objects")
    out = []
    for i, m in enumerate(mounts):
        where = f"HostConfig.Mounts[{i}]"
        if not isinstance(m, dict):
            raise FieldError(f"{where}: expected an object")
        m = dict(m)
        kind = str(m.pop("Type", "") or "volume")
        parts = [f"type={kind}"]
        if m.get("Source"):
            parts.append(f"source={m['Source']}")
        m.pop("Source", None)
        if not m.get("Target"):
            raise FieldError(f"{where}.Target: a target is required")
        parts.append(f"target={m.pop('Target')}")
        if m.pop("ReadOnly", False):
            parts.append("readonly")
        m.pop("Consistency", None)
        vol = m.pop("VolumeOptions", None) or {}
        if not isinstance(vol, dict):
            raise FieldError(f"{where}.VolumeOptions: expected an object")
        if vol.pop("NoCopy", False):
            parts.append("volume-nocopy")
        driver = (vol.pop("DriverConfig", None) or {})
        if driver and (driver.get("Name") not in (None, "", "local") or driver.get("Options")):
            raise FieldError(f"{where}.VolumeOptions.DriverConfig is not supported by nsrun (only the local driver, "
                             f"without options: create the volume first)")
        if vol.pop("Labels", None):
            raise FieldError(f"{where}.VolumeOptions.Labels is not supported by nsrun (create the volume first)")
        if vol.get("Subpath"):
            raise FieldError(f"{where}.VolumeOptions.Subpath is not supported by nsrun")
        tmpfs = m.pop("TmpfsOptions", None) or {}
        if not isinstance(tmpfs, dict):
            raise FieldError(f"{where}.TmpfsOptions: expected an object")
        if tmpfs.get("SizeBytes"):
            parts.append(f"tmpfs-size={int(tmpfs.pop('SizeBytes'))}")
        if tmpfs.get("Mode"):
            parts.append(f"tmpfs-mode={int(tmpfs.pop('Mode')):o}")
        bind = m.pop("BindOptions", None) or {}
        if isinstance(bind, dict) and bind.get("Propagation") in ("", None, "rprivate"):
            bind.pop("Propagation", None)
        left = [k for k, v in {**m, **{f"BindOptions.{k}": v for k, v in (bind or {}).items()},
                                **{f"TmpfsOptions.{k}": v for k, v in tmpfs.items()}}.items() if v]
        if left:
            raise FieldError(f"field {where}.{left[0]} is not supported by nsrun")
        out.append(",".join(parts))
    return out
