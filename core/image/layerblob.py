"""Layer blobs made from layer directories: ``layer_blob(layer_dir, content)`` streams a gzip layer tar of one
layer directory (see ``layertar``) into the content store; deterministic, and remembered in the layer's
``layer.json`` (``blob``: digest, size, diff_id, mediaType), so each layer is made into a blob once."""
from __future__ import annotations

import gzip
import hashlib
import os
from typing import Any

from .content import Content

__all__ = ["layer_blob", "layer_blob_info", "LAYER_GZIP", "LAYER_TAR"]

LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


class _Hashing:
    """A write-only file that hashes and counts what goes through it to ``out``."""

    def __init__(self, out: Any) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        pass


def layer_blob_info(layer_dir: str, content: Content) -> dict[str, Any]:
    """``{"digest", "size", "diff_id", "mediaType"}`` of the gzip blob of ``layer_dir`` (a layer's ``diff``
    directory), made now unless its ``layer.json`` remembers one that is still in ``content``."""
    from .layers import update_meta
    from .layertar import write_layer
    home = os.path.dirname(os.path.abspath(layer_dir))
    meta_path = os.path.join(home, "layer.json")
    known = None
    if os.path.isfile(meta_path):
        import json
        with open(meta_path) as f:
            known = json.load(f).get("blob")
    if known and content.has(known["digest"]):
        return known
    with content.writer() as w:
        sink = _Hashing(w)
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=6, mtime=0) as gz:
            plain = _Hashing(gz)
            write_layer(layer_dir, plain)
    info = {"digest": w.digest, "size": w.size, "diff_id": "sha256:" + plain.hash.hexdigest(),
            "mediaType": LAYER_GZIP}
    if os.path.isfile(meta_path):
        update_meta(home, blob=info)
    return info


def layer_blob(layer_dir: str, content: Content) -> tuple[str, int]:
    """The (digest, size) of the gzip layer blob of ``layer_dir`` in ``content`` (made once; see above)."""
    info = layer_blob_info(layer_dir, content)
    return info["digest"], info["size"]
