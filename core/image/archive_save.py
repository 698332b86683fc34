"""``docker save``: images of the store as one tar, in the layout Docker 25 writes, which both kinds of readers
take — Docker's (``manifest.json``: ``Config``, ``RepoTags``, ``Layers``; ``repositories``) and OCI's
(``oci-layout``, ``index.json`` with one entry per tag, ``blobs/sha256/``: each layer as an uncompressed tar
named by its diff_id, the config, an OCI manifest).

Layer tars are the image's own when the store kept its blobs (pulled or loaded images): the saved config is
then byte for byte the image's, and a load gives back the same image id. A layer without a kept blob is made
from its directory (``layer_blob_info``); when that tar hashes differently from the config's diff_id, the
saved config names the new diff_ids (a new image id; said in the module of the caller, not hidden).

Nothing is held in memory but JSON: each layer is decompressed into an anonymous temporary file (it needs its
size before its tar header), which disappears with the process whatever happens.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from typing import IO, Any

from ..errors import ConfigError
from .layerblob import LAYER_TAR, layer_blob_info
from .content import Content
from .store import normalize

__all__ = ["save", "docker_tag"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_MTIME = 0


def docker_tag(name: str) -> str:
    """A stored name as Docker's ``RepoTags`` show it (``busybox`` -> ``busybox:latest``)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _config_bytes(content: Content, rec: dict[str, Any]) -> bytes:
    if content.has(rec["id"]):
        return content.read_bytes(rec["id"])
    return json.dumps(rec["config"], sort_keys=True, separators=(",", ":")).encode()


def _kept_layers(content: Content, rec: dict[str, Any]) -> list[str] | None:
    """The layer blob digests of the image's own manifest, when the store has all of them."""
    digest = rec.get("manifest")
    if not digest or not content.has(digest):
        return None
    manifest = json.loads(content.read_bytes(digest))
    layers = [d["digest"] for d in manifest.get("layers") or []]
    if len(layers) != len(rec["layers"]) or not all(content.has(d) for d in layers):
        return None
    return layers


def _uncompressed(content: Content, digest: str) -> tuple[Any, str, int]:
    """The blob ``digest`` decompressed into an anonymous temporary file: (file at 0, sha256, size)."""
    from .layerstream import decompressed
    tmp = tempfile.TemporaryFile(dir=content.dir)
    h, size = hashlib.sha256(), 0
    try:
        with content.open(digest) as f:
            for chunk in decompressed(f):
                h.update(chunk)
                tmp.write(chunk)
                size += len(chunk)
        tmp.seek(0)
    except BaseException:
        tmp.close()
        raise
    return tmp, "sha256:" + h.hexdigest(), size


def _add(tf: tarfile.TarFile, name: str, data: bytes | None = None, fileobj: Any = None, size: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = _MTIME
    info.uname = info.gname = ""
    if name.endswith("/"):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(info)
        return
    info.mode = 0o644
    if data is not None:
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        info.size = size
        tf.addfile(info, fileobj)


def save(paths: Any, images: Any, refs: list[str], out: IO[bytes]) -> list[str]:
    """Write the images ``refs`` (names or ids) as one archive to ``out``; the references as written."""
    content = Content(paths.root)
    if not refs:
        raise ConfigError("image save: name at least one image")
    wanted: list[tuple[dict[str, Any], list[str]]] = []
    for ref in refs:
        rec = images.get(ref)  # NotFoundError before a byte is written
        tags = [] if rec["id"].endswith(ref) or ref.startswith("sha256:") or "@" in ref else [normalize(ref)]
        for prev, prev_tags in wanted:
            if prev["id"] == rec["id"]:
                prev_tags.extend(t for t in tags if t not in prev_tags)
                break
        else:
            wanted.append((rec, tags))
    manifest_json, index, repositories, written = [], [], {}, set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tf:
        _add(tf, "blobs/")
        _add(tf, "blobs/sha256/")
        for rec, tags in wanted:
            kept = _kept_layers(content, rec)
            diff_ids, layer_names = [], []
            for i, chain in enumerate(rec["layers"]):
                digest = kept[i] if kept else layer_blob_info(images.layers.path(chain), content)["digest"]
                tmp, diff_id, size = _uncompressed(content, digest)
                with tmp:
                    name = f"blobs/sha256/{diff_id[7:]}"
                    if name not in written:
                        _add(tf, name, fileobj=tmp, size=size)
                        written.add(name)
                diff_ids.append((diff_id, size))
                layer_names.append(name)
            raw = _config_bytes(content, rec)
            if [d for d, _ in diff_ids] != (json.loads(raw).get("rootfs") or {}).get("diff_ids"):
                config = json.loads(raw)
                config["rootfs"] = {"type": "layers", "diff_ids": [d for d, _ in diff_ids]}
                raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
            config_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            if f"blobs/sha256/{config_digest[7:]}" not in written:
                _add(tf, f"blobs/sha256/{config_digest[7:]}", raw)
                written.add(f"blobs/sha256/{config_digest[7:]}")
            oci = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                              "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(raw)},
                              "layers": [{"mediaType": LAYER_TAR, "digest": d, "size": s} for d, s in diff_ids]},
                             separators=(",", ":")).encode()
            oci_digest = "sha256:" + hashlib.sha256(oci).hexdigest()
            if f"blobs/sha256/{oci_digest[7:]}" not in written:
                _add(tf, f"blobs/sha256/{oci_digest[7:]}", oci)
                written.add(f"blobs/sha256/{oci_digest[7:]}")
            repo_tags = [docker_tag(t) for t in tags]
            desc = {"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": len(oci)}
            for tag in repo_tags or [None]:
                if tag is None:
                    index.append(desc)
                    continue
                from .reference import parse
                full = parse(tag)
                index.append({**desc, "annotations": {"io.containerd.image.name": str(full),
                                                      "org.opencontainers.image.ref.name": full.tag or "latest"}})
                repo, _, t = tag.rpartition(":")
                repositories.setdefault(repo, {})[t] = layer_names[-1][13:] if layer_names else ""
            manifest_json.append({"Config": f"blobs/sha256/{config_digest[7:]}", "RepoTags": repo_tags or None,
                                  "Layers": layer_names})
        _add(tf, "index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index},
                                          separators=(",", ":")).encode())
        _add(tf, "manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode())
        _add(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if repositories:
            _add(tf, "repositories", json.dumps(repositories, separators=(",", ":")).encode())
    return [t for _, tags in wanted for t in tags]
