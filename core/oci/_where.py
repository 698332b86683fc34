"""Where an nsrun-oci root keeps its containers, with os calls only: ``_entry`` looks there for the containerd
shim's second ``delete --force`` of every container (the first one removed it) before it imports ``_light``.
"""
from __future__ import annotations

import os

__all__ = ["DEFAULT_ROOT", "root_of", "containers_of"]

DEFAULT_ROOT = "/run/nsrun-oci"


def root_of(root: str | None) -> str:
    """The root a command works in: ``--root``, else ``$NSRUN_OCI_ROOT``, else runc's place for it."""
    return root or os.environ.get("NSRUN_OCI_ROOT") or DEFAULT_ROOT


def containers_of(root: str | None) -> str:
    """The containers directory of an nsrun-oci root (``Paths.from_root(root).containers``)."""
    return os.path.join(os.path.abspath(root_of(root)), "containers")

