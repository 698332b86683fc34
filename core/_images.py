"""Where the core finds the image store: ``nsrun.image.store`` (records and tags) over ``nsrun.image.layers``
(layer directories keyed by chain id). Kept as the core's one import point for images."""
from __future__ import annotations

from .image.store import BUSYBOX, Images, normalize, visible_root

__all__ = ["Images", "BUSYBOX", "normalize", "visible_root"]
