"""Parsing ``--device HOST[:CTR[:PERMS]]`` (Docker's syntax) and checking that HOST is a device node.

PERMS is a combination of ``rwm`` (default ``rw``). nsrun binds the host node in, which honours ``rw``; ``m``
(Docker's default spelling is ``rwm``) adds only that the container may mknod the node itself, which it may
(CAP_MKNOD), though such a copy never opens: every writable mount is nodev, so the bound node is the one
that works. What it cannot honour is refused by name: ``r`` or ``w`` without the other, since a read-only
bind mount does not stop writes to a device node (the kernel checks a mount's read-only flag for files and
directories, not for device nodes) — that needs the devices cgroup, which comes with the cgroup plugin.
"""
from __future__ import annotations

import os
import stat
from typing import NamedTuple

from nsrun import ConfigError

__all__ = ["Device", "parse_device", "check_device", "from_docker", "to_docker"]


class Device(NamedTuple):
    host: str
    target: str


def parse_device(text: str) -> Device:
    """One ``--device`` value, without looking at the host (pure)."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise ConfigError(f"invalid --device {text!r}: expected HOST[:CONTAINER[:PERMISSIONS]]")
    host = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else host
    perms = parts[2] if len(parts) > 2 else "rw"
    if len(parts) == 2 and parts[1] and not parts[1].startswith("/") and set(parts[1]) <= set("rwm"):
        target, perms = host, parts[1]  # Docker's HOST:PERMS shorthand
    if not os.path.isabs(host):
        raise ConfigError(f"invalid --device {text!r}: host path must be absolute")
    if not os.path.isabs(target):
        raise ConfigError(f"invalid --device {text!r}: container path must be absolute")
    if os.path.normpath(target) in ("/", "/dev"):
        raise ConfigError(f"invalid --device {text!r}: cannot bind a device over {os.path.normpath(target)}")
    if not perms or not set(perms) <= set("rwm") or len(set(perms)) != len(perms):
        raise ConfigError(f"invalid --device {text!r}: permissions must be a combination of r, w and m")
    if set(perms) - {"m"} != {"r", "w"}:
        raise ConfigError(f"--device {text!r}: permissions {perms!r} are not supported: only 'rw' (a read-only "
                          f"mount does not stop writes to a device node; that needs the devices cgroup)")
    return Device(os.path.normpath(host), os.path.normpath(target))


def check_device(dev: Device) -> Device:
    """The host node must exist and be a character or block device (a symlink to one is followed, as Docker
    does); returns the device with its host path resolved."""
    try:
        st = os.stat(dev.host)
    except OSError as exc:
        raise ConfigError(f"error gathering device information while adding device {dev.host!r}: "
                          f"{exc.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise ConfigError(f"error gathering device information while adding device {dev.host!r}: "
                          f"not a device node")
    return dev._replace(host=os.path.realpath(dev.host))


def from_docker(entry: object) -> str:
    """``HostConfig.Devices[i]`` (``{PathOnHost, PathInContainer, CgroupPermissions}``) -> ``--device`` text."""
    if not isinstance(entry, dict) or not isinstance(entry.get("PathOnHost"), str) or not entry["PathOnHost"]:
        raise ConfigError("HostConfig.Devices: each entry needs PathOnHost")
    target = entry.get("PathInContainer") or entry["PathOnHost"]
    return f"{entry['PathOnHost']}:{target}:{entry.get('CgroupPermissions') or 'rwm'}"


def to_docker(text: str) -> dict:
    """``--device`` text -> Docker's ``HostConfig.Devices`` entry (for inspect)."""
    parts = text.split(":")
    host = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    perms = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rw"
    return {"PathOnHost": host, "PathInContainer": target, "CgroupPermissions": perms}


# What --privileged does not copy from the host's /dev: mnt makes these itself (or they are not devices).
_OWN = {"pts", "shm", "mqueue", "fd", "console", "ptmx", "null", "zero", "full", "random", "urandom", "tty"}


def host_devices(dev: str = "/dev") -> tuple[tuple[str, str], ...]:
    """Every character and block device node of the host's ``dev`` (subdirectories too, symlinks not
    followed), as ``(host node, target)`` pairs for ``--privileged``: bound in like ``--device`` nodes, as
    Docker gives a privileged container every host device. The nodes mnt makes itself are left out."""
    out = []
    for top, dirs, files in os.walk(dev):
        if top == dev:
            dirs[:] = [d for d in dirs if d not in _OWN]
        for name in sorted(files):
            path = os.path.join(top, name)
            if top == dev and name in _OWN:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append((path, path))
    return tuple(out)
