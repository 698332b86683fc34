"""``docker diff``: what a container changed, read from its overlayfs upper directory and the layers below.

``list_changes(upper, lowers, skip)`` gives ``[(kind, path)]`` sorted by path, ``kind`` being Docker's ``A``
(added), ``C`` (changed: it exists below too, or a directory something under which changed) or ``D`` (deleted:
a whiteout). An opaque directory is ``C`` and what it hid is not listed one by one (as Docker's overlay driver
reports it). ``skip`` as for ``layertar.write_layer``: a runtime's empty mount points are left out.
"""
from __future__ import annotations

import os
import stat

__all__ = ["list_changes"]


def _below(lowers: list[str], rel: str) -> bool:
    from .store import visible_root
    return visible_root(lowers, rel) is not None


def list_changes(upper: str, lowers: list[str], skip: tuple[str, ...] | list[str] = ()) -> list[tuple[str, str]]:
    from .layertar import _placeholder, _walk
    out: list[tuple[str, str]] = []
    skipped = frozenset(skip)
    for rel, full in _walk(upper):
        st = os.lstat(full)
        if rel in skipped and _placeholder(st, full):
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            out.append(("D", "/" + rel))
        else:
            out.append(("C" if _below(lowers, rel) else "A", "/" + rel))
    # A directory in the upper dir only because a skipped mount point was made in it (``/etc`` for
    # ``/etc/hosts``) is not a change of the container's.
    above = {"/" + "/".join(p.split("/")[:k]) for p in skipped for k in range(1, p.count("/") + 1)}
    paths = [p for _, p in out]
    out = [(kind, p) for kind, p in out
           if not (kind == "C" and p in above and not any(q.startswith(p + "/") for q in paths))]
    return sorted(out, key=lambda item: item[1])
