"""Image archives: layer blobs made from layer directories, ``docker save`` archives and OCI layout tars.

- ``layer_blob(layer_dir, content)``: a gzip layer tar of one layer directory (see ``layertar``) streamed into
  the content store; deterministic, and remembered in the layer's ``layer.json`` (``blob``: digest, size,
  diff_id), so each layer is made into a blob once. Used to push or save images whose original blobs the store
  does not have (imported from root filesystem tars, busybox).
- ``save(paths, images, refs, out)``: Docker's ``docker save`` archive (see ``archive_save``).
- ``load(paths, images, fileobj)``: Docker's archives, old and new, and OCI image layout tars (see
  ``archive_load``).

The three live in their own modules; this one is their public face.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from typing import IO, Any

from .content import Content

__all__ = ["layer_blob", "layer_blob_info", "save", "load", "LAYER_GZIP", "LAYER_TAR"]

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


def save(paths: Any, images: Any, refs: list[str], out: IO[bytes]) -> list[str]:
    """Write the images ``refs`` as one ``docker save`` archive to ``out``; the names written."""
    from .archive_save import save as _save
    return _save(paths, images, refs, out)


def load(paths: Any, images: Any, fileobj: IO[bytes], *, name: str | None = None, progress: Any = None,
         prefer: str = "docker") -> list[dict[str, Any]]:
    """Load every image of the archive ``fileobj`` into the store; their records (each with ``loaded``: the
    name it was loaded as, or None). ``name``: only the image of that reference (docker-archive:PATH:REF,
    oci-archive:PATH:TAG). ``prefer``: ``docker`` or ``oci``, which index reads an archive that has both."""
    from .archive_load import load as _load
    return _load(paths, images, fileobj, name=name, progress=progress, prefer=prefer)
