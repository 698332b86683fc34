"""[helper] A stopped container's root, mounted again for ``cp`` and ``export`` (the ``container_mount`` hook).

The overlay is stacked as ``in_child`` stacks it (the image's layers, the container's upper and work
directories), or ``--rootfs`` bound as it is for ``rootfs_as_is``; each bind or volume mount of the container's
goes on its destination resolved inside that root (``rootfs.resolve``: a symlink in the image cannot send it
out). The caller's mount namespace is its own; everything here goes away with it.
"""
from __future__ import annotations

import os
from typing import Any

from nsrun import ContainerSpec, syscalls as sc

from .overlay import mount_overlay
from .rootfs import _bind_tree

__all__ = ["mount_stopped"]


def mount_stopped(container_dir: str, spec: ContainerSpec, mounts: list[dict[str, Any]], target: str) -> bool:
    if spec.options.get("rootfs_as_is"):  # the container wrote into --rootfs itself
        if not spec.rootfs:
            return False
        sc.mount(spec.rootfs, target, None, sc.MS_BIND)
        return _binds(target, mounts, bool(spec.options.get("read_only")))
    lowers = list(spec.layers) or ([spec.rootfs] if spec.rootfs else [])
    upper, work = os.path.join(container_dir, "upper"), os.path.join(container_dir, "work")
    if not lowers:
        return False
    for path in (upper, work):  # a container created and never started has none yet (pre_clone makes them)
        os.makedirs(path, exist_ok=True)
    mount_overlay(target, lowers, upper, work)
    return _binds(target, mounts, bool(spec.options.get("read_only")))


def _binds(target: str, mounts: list[dict[str, Any]], read_only: bool) -> bool:
    """Its volumes and binds (``:ro`` ones read-only), then the root itself read-only for ``--read-only``:
    a copy into it fails as it would while it runs."""
    root_fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in mounts:
            if m.get("Type") in ("bind", "volume") and m.get("Source") and m.get("Destination"):
                _bind_tree(root_fd, m["Source"], m["Destination"], readonly=not m.get("RW", True))
        if read_only:
            sc.set_mount_attrs(root_fd, sc.MOUNT_ATTR_RDONLY, recursive=False)
    finally:
        os.close(root_fd)
    return True
