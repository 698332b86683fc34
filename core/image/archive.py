"""Image archives: layer blobs made from layer directories, ``docker save`` archives and OCI layout tars.

- ``layer_blob(layer_dir, content)``: a gzip layer tar of one layer directory (see ``layertar``) streamed into
  the content store; deterministic, and remembered in the layer's ``layer.json`` (``blob``: digest, size,
  diff_id), so each layer is made into a blob once. Used to push or save images whose original blobs the store
  does not have (imported from root filesystem tars, busybox).
- ``save(paths, images, refs, out)``: Docker's ``docker save`` archive (see ``archive_save``).
- ``load(paths, images, fileobj)``: Docker's archives, old and new, and OCI image layout tars (see
  ``archive_load``).

``save`` and ``load`` record their image events here (``events``), once the archive is written or loaded.

The three live in their own modules (``layerblob``, ``archive_save``, ``archive_load``); this is their face.
"""
from __future__ import annotations

from typing import IO, Any

from .layerblob import LAYER_GZIP, LAYER_TAR, layer_blob, layer_blob_info

__all__ = ["layer_blob", "layer_blob_info", "save", "load", "loaded_lines", "LAYER_GZIP", "LAYER_TAR"]


def save(paths: Any, images: Any, refs: list[str], out: IO[bytes]) -> list[str]:
    """Write the images ``refs`` as one ``docker save`` archive to ``out``; the names written."""
    from .archive_save import save as _save
    from .events import record
    written = _save(paths, images, refs, out)
    for image_id in dict.fromkeys(images.get(ref)["id"] for ref in refs):
        record(paths.root, "save", image_id)
    return written


def load(paths: Any, images: Any, fileobj: IO[bytes], *, name: str | None = None, progress: Any = None,
         prefer: str = "docker") -> list[dict[str, Any]]:
    """Load every image of the archive ``fileobj`` into the store; their records (each with ``loaded``: the
    name it was loaded as, or None). ``name``: only the image of that reference (docker-archive:PATH:REF,
    oci-archive:PATH:TAG). ``prefer``: ``docker`` or ``oci``, which index reads an archive that has both."""
    from .archive_load import load as _load
    from .events import record
    recs = _load(paths, images, fileobj, name=name, progress=progress, prefer=prefer)
    for rec in recs:
        record(paths.root, "load", rec["id"])
    return recs


def loaded_lines(recs: list[dict[str, Any]]) -> list[str]:
    """What ``docker load`` prints: ``Loaded image: NAME`` per name given, ``Loaded image ID: sha256:...`` for
    an image loaded without one."""
    from .archive_save import docker_tag
    from .store import normalize
    out: list[str] = []
    for rec in recs:
        names = rec.get("loaded") or []
        out += [f"Loaded image: {docker_tag(normalize(n))}" for n in names] or [f"Loaded image ID: {rec['id']}"]
    return out
