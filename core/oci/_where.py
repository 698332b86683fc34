"""Where an nsrun-oci root keeps its containers, with os calls only: ``_entry`` answers the containerd shim's
second ``delete --force`` of every container (the first one removed it) from here, before it imports the rest.
"""
from __future__ import annotations

import os

__all__ = ["DEFAULT_ROOT", "root_of", "containers_of", "unheld"]

DEFAULT_ROOT = "/run/nsrun-oci"


def root_of(root: str | None) -> str:
    """The root a command works in: ``--root``, else ``$NSRUN_OCI_ROOT``, else runc's place for it."""
    return root or os.environ.get("NSRUN_OCI_ROOT") or DEFAULT_ROOT


def containers_of(root: str | None) -> str:
    """The containers directory of an nsrun-oci root (``Paths.from_root(root).containers``)."""
    return os.path.join(os.path.abspath(root_of(root)), "containers")


def unheld(root: str | None, name: str) -> bool:
    """True when no record holds the container name ``name`` (its ``.names`` link is missing or names no
    directory), which ``_light.find`` reports as None too. False when one may: ``find`` decides then. A name
    that is not a plain file name is never answered here."""
    if not name or "/" in name or name in (".", ".."):
        return False
    containers = containers_of(root)
    try:
        cid = os.readlink(os.path.join(containers, ".names", name))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return "/" not in cid and not os.path.isdir(os.path.join(containers, cid))
