"""New layers and images made from a directory of changes: ``nsrun commit`` and the builder's steps.

``new_layer(images, changes_dir, parent)`` turns an overlayfs upper directory (a container's writes) into a
layer of the store exactly like a pulled one: the OCI layer tar of it (``layertar``: overlay whiteouts become
``.wh.NAME``, opaque directories ``.wh..wh..opq``) is streamed gzip-compressed into the content store (its
digest and diff id computed on the way), then unpacked from that blob into the layer directory of its chain
id, and ``layer.json`` remembers the blob, so a push sends these very bytes. A layer already in the store (the
same parent and diff id) is not unpacked again.

``child_config(base, ...)`` is the image config of a new image over ``base``: ``created``, ``author``, a
``history`` entry (``empty_layer`` when no layer was added), ``rootfs.diff_ids``, and ``config`` changes.
``commit_container`` is ``docker commit``. Callers hold the content lease (``Images._lease``) while a new
layer has no image record yet.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

from ..errors import ConfigError, NotFoundError

__all__ = ["new_layer", "child_config", "commit_container", "container_changes", "base_config", "now_rfc3339"]


def now_rfc3339(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def new_layer(images: Any, changes_dir: str, parent: str | None, *, skip: Any = (),
              owner: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """The layer (its ``layer.json``, with ``blob``) of the changes in ``changes_dir`` on top of the layer
    whose chain id is ``parent`` (None: a base layer)."""
    import gzip
    from .content import Content
    from .layerblob import LAYER_GZIP, _Hashing
    from .layers import chain_id
    from .layertar import write_layer
    content = Content(images.paths.root)
    with content.writer() as w:
        sink = _Hashing(w)
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=1, mtime=0) as gz:
            plain = _Hashing(gz)
            write_layer(changes_dir, plain, skip=skip, owner=owner)
    blob = {"digest": w.digest, "size": w.size, "diff_id": "sha256:" + plain.hash.hexdigest(),
            "mediaType": LAYER_GZIP}
    chain = chain_id(parent, blob["diff_id"])
    layers = images.layers
    if not layers.has(chain):
        with content.open(blob["digest"]) as f:
            layers.unpack(f, blob["diff_id"], parent=parent)
    known = layers.meta(chain).get("blob")
    if not known or not content.has(known["digest"]):
        return layers.set_meta(chain, blob=blob)
    if known["digest"] != blob["digest"]:
        content.delete(blob["digest"])  # the layer had a blob already (pulled): keep one copy
    return layers.meta(chain)


def base_config(record: dict[str, Any] | None) -> dict[str, Any]:
    """A deep copy of an image record's whole OCI config (a fresh one for ``scratch``: None)."""
    if record is None:
        return {"architecture": "amd64", "os": "linux", "config": {},
                "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
    full = json.loads(json.dumps(record.get("config") or {}))
    full.setdefault("architecture", "amd64")
    full.setdefault("os", "linux")
    full.setdefault("config", {})
    full.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    history = list(full.get("history") or [])
    missing = len(full["rootfs"].get("diff_ids") or []) - sum(1 for h in history if not h.get("empty_layer"))
    if missing > 0:  # an image made without history (import, busybox): one entry per layer, as the spec wants
        history = [{"created": full.get("created") or now_rfc3339(record.get("created")), "created_by": ""}
                   for _ in range(missing)] + history
    full["history"] = history
    return full


def child_config(base: dict[str, Any], *, diff_id: str | None, created_by: str, comment: str | None = None,
                 author: str | None = None, config: dict[str, Any] | None = None,
                 created: float | None = None) -> dict[str, Any]:
    """The OCI config of an image that adds the layer ``diff_id`` (None: none) to ``base`` (a whole config, as
    ``base_config`` gives), with ``config`` (the runtime part: Cmd, Env...) replacing base's when given."""
    full = json.loads(json.dumps(base))
    stamp = now_rfc3339(created)
    full["created"] = stamp
    if author:
        full["author"] = author
    else:
        full.pop("author", None)
    if config is not None:
        full["config"] = config
    entry: dict[str, Any] = {"created": stamp, "created_by": created_by}
    if comment:
        entry["comment"] = comment
    if author:
        entry["author"] = author
    if diff_id is None:
        entry["empty_layer"] = True
    else:
        full["rootfs"] = {"type": "layers", "diff_ids": [*full["rootfs"].get("diff_ids", []), diff_id]}
    full["history"] = [*(full.get("history") or []), entry]
    return full


def container_changes(engine: Any, rec: Any) -> dict[str, Any]:
    """What the ``container_changes`` hook of the container's own plugins says (``upper``, ``skip``,
    ``owner``); ConfigError when none made its root."""
    from .._plugins import load_plugins
    found = load_plugins(list(rec.spec.plugins)).call("container_changes", container_dir=rec.dir,
                                                        options=dict(rec.spec.options))
    if not found:
        raise ConfigError(f"container {rec.id[:12]}: none of its plugins made its root file system "
                          f"(no file system changes to commit)")
    return found


def _chains(rec: Any) -> list[str]:
    """The chain ids (bottom-most first) of the layers a container runs on."""
    out = []
    for path in reversed(rec.spec.layers or []):
        hexpart = os.path.basename(os.path.dirname(path))
        out.append("sha256:" + hexpart)
    return out


def _base_record(images: Any, rec: Any, chains: list[str]) -> dict[str, Any] | None:
    """The image the container was made from (by its name if it still names the same layers, else any image
    with exactly these layers)."""
    try:
        meta = images.get(rec.spec.image)
        if meta["layers"] == chains:
            return meta
    except NotFoundError:
        pass
    for meta in images.list():
        if meta["layers"] == chains:
            return meta
    return None


def commit_container(engine: Any, ref: str, repo: str | None, *, changes: tuple[str, ...] = (),
                     message: str | None = None, author: str | None = None) -> dict[str, Any]:
    """``docker commit``: an image of the container ``ref``'s image plus its file system changes (one new
    layer), tagged ``repo`` when given; ``changes`` as ``--change`` (CMD, ENV, ...). The record."""
    from .._imageconfig import parse_changes
    from .store import normalize
    name = normalize(repo) if repo else None
    rec = engine.find(ref)
    if not rec.spec.image:
        raise ConfigError(f"container {rec.id[:12]} runs on --rootfs, not an image: nothing to commit onto")
    images = engine.images
    chains = _chains(rec)
    base = _base_record(images, rec, chains)
    full = base_config(base)
    config = parse_changes(changes, full.get("config") or {})
    found = container_changes(engine, rec)
    argv = " ".join(rec.spec.argv)
    with images.lease():
        meta = new_layer(images, found["upper"], chains[-1] if chains else None, skip=found.get("skip") or (),
                         owner=tuple(found.get("owner") or (0, 0)))
        made = [meta["chain_id"]] if meta["chain_id"] not in chains else []
        try:
            new = child_config(full, diff_id=meta["diff_id"], created_by=argv, comment=message, author=author,
                               config=config)
            return images.add(config=new, layers=[*chains, meta["chain_id"]], tags=[name] if name else [],
                              parent=base["id"] if base else None)
        except BaseException:
            images.free_layers(made)
            raise
