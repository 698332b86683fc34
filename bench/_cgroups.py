"""Cgroups for the anchor engines: every engine the bench starts (dockerd, podman, containerd's runc) is given
a cgroup parent *beneath the cgroup this harness runs in*, so nothing lands at the top of the host's
hierarchies (ENVIRONMENT.md: never outside our own subtree), and the parent is removed at the end."""
from __future__ import annotations

import os
import uuid

__all__ = ["own_parent", "remove_parent"]


def own_parent(prefix: str) -> str | None:
    """A fresh cgroup path ``<our cgroup>/<prefix>-<hex>`` valid for every v1 controller and v2 (our longest
    own path, when every other is a prefix of it); None when there is none."""
    with open("/proc/self/cgroup") as f:
        own = [line.rstrip("\n").split(":", 2)[2] for line in f if line.strip()]
    longest = max(own, key=len)
    if not all(longest == p or longest.startswith(p.rstrip("/") + "/") or p == "/" for p in own):
        return None
    return f"{longest.rstrip('/')}/{prefix}-{uuid.uuid4().hex[:6]}"


def remove_parent(parent: str) -> None:
    """Remove ``parent`` and every cgroup beneath it, in every hierarchy (what is still in use stays)."""
    for hier in os.listdir("/sys/fs/cgroup"):
        d = f"/sys/fs/cgroup/{hier}{parent}"
        if os.path.isdir(d):
            for sub in sorted((os.path.join(r, n) for r, ds, _ in os.walk(d) for n in ds), key=len, reverse=True):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass
