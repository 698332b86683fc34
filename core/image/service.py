"""Pull and push whole images: the registry side (``pull``, ``registry``) feeding the layer store (``store``).

``pull_image`` fetches a reference's manifest and config, then its layers in parallel, each unpacked into its
layer directory **while it downloads** (the bytes go to the verified blob and to the unpacker in one pass),
and records the image with its tag and repo digest. Layers already unpacked are not fetched again. A failed
pull leaves no image record, no layer directory and no partial blob (complete, verified blobs stay for the
next pull; ``nsrun gc`` frees those no image uses).

``push_image`` pushes an image of the store: blobs the content store lacks (images imported from tars, or
pulled before their blobs were kept) are made from the layer directories first (gzip tars, OCI whiteouts),
the manifest is written as an OCI image manifest, then everything goes to the registry.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from .._context import Paths
from ..errors import ConfigError
from .content import Content
from .reference import Reference, parse

__all__ = ["pull_image", "push_image", "ensure_image", "PULL_POLICIES", "RegistryOptions", "ANONYMOUS",
           "image_users", "manifest_size"]

PULL_POLICIES = ("missing", "always", "never")
ANONYMOUS = "anonymous"  # RegistryOptions(credentials=ANONYMOUS): no credentials at all (the daemon's default)
Progress = Callable[[dict[str, Any]], None]


class RegistryOptions:
    """How to reach registries: hosts allowed over plain HTTP or with an unverified certificate
    (``--insecure-registry``; loopback hosts always are), a CA file, credentials (a ``Credentials``; None or
    AUTO: what ``docker login`` stored in ~/.docker/config.json; ANONYMOUS: none)."""

    def __init__(self, insecure: Iterable[str] = (), ca_file: str | None = None, credentials: Any = None) -> None:
        from .registry import AUTO
        self.insecure = tuple(insecure)
        self.ca_file = ca_file
        self.credentials = AUTO if credentials is None else None if credentials == ANONYMOUS else credentials


def _content(paths: Paths) -> Content:
    return Content(paths.root)


def pull_image(paths: Paths, text: str, *, platform: str | None = None, progress: Progress | None = None,
               options: RegistryOptions | None = None, images: Any = None) -> dict[str, Any]:
    """Pull ``text`` (a Docker reference) into the store under ``paths``; its image record."""
    from .layers import chain_ids
    from .pull import pull_blobs
    from .store import Images
    options = options or RegistryOptions()
    ref = parse(text)
    images = images or Images(paths)
    content = _content(paths)
    plan: dict[str, str] = {}  # layer digest -> chain id, filled once the config is known

    def on_config(manifest: dict, config: dict) -> None:
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = manifest.get("layers") or []
        if len(diff_ids) != len(layers):
            raise ConfigError(f"{ref.familiar()}: the config lists {len(diff_ids)} layers, the manifest "
                              f"{len(layers)}")
        for desc, diff_id, chain in zip(layers, diff_ids, chain_ids(diff_ids)):
            plan[desc["digest"]] = (diff_id, chain)

    made: list[str] = []

    def on_layer(desc: dict, f: Any) -> None:
        diff_id, chain = plan[desc["digest"]]
        if images.layers.has(chain):
            return  # unpacked before: the tee drains the bytes into the blob
        images.layers.unpack(f, diff_id, chain)
        made.append(chain)

    lease = content.lease()
    lease.__enter__()  # until the record names the blobs: blob gc must not take them meanwhile
    try:
        result = pull_blobs(ref, content, platform=platform, insecure=options.insecure, ca_file=options.ca_file,
                            credentials=options.credentials, on_config=on_config, on_layer=on_layer,
                            progress=progress)
        diff_ids = result.config["rootfs"]["diff_ids"]
        tag = [_tag_name(ref)] if ref.tag else []
        digest = f"{ref.familiar_name}@{result.ref_digest}"
        rec = images.add(config=result.config, layers=chain_ids(diff_ids), image_id=result.manifest["config"]["digest"],
                         tags=tag, repo_digests=[digest], manifest=result.manifest_digest)
    except BaseException:
        images.free_layers(made)
        raise
    finally:
        lease.__exit__()
    _record(paths, "pull", ref)
    return rec


def _record(paths: Paths, action: str, ref: Reference) -> None:
    """dockerd's pull/push event: Actor.ID the familiar reference, ``name`` its repository."""
    from .events import record
    record(paths.root, action, ref.familiar(), ref.familiar_name)


def _tag_name(ref: Reference) -> str:
    return f"{ref.familiar_name}:{ref.tag}"


def ensure_image(paths: Paths, images: Any, text: str, policy: str, *, progress: Progress | None = None,
                 options: RegistryOptions | None = None) -> None:
    """``run --pull``: ``missing`` pulls an image not in the store, ``always`` pulls first, ``never`` never."""
    from ..errors import NotFoundError
    if policy not in PULL_POLICIES:
        raise ConfigError(f"invalid pull option: {policy!r}: must be one of \"missing\", \"always\", \"never\"")
    if policy == "never":
        return
    if policy == "missing":
        try:
            images.get(text)
            return
        except NotFoundError:
            pass
    pull_image(paths, text, progress=progress, options=options, images=images)


def push_image(paths: Paths, text: str, *, progress: Progress | None = None,
               options: RegistryOptions | None = None, images: Any = None) -> str:
    """Push the store's image ``text`` to the registry its name points at; the manifest digest pushed."""
    from .store import Images
    options = options or RegistryOptions()
    images = images or Images(paths)
    ref = parse(text)
    rec = images.get(text)
    content = _content(paths)
    with content.lease():
        digest = _push(images, rec, content, ref, options, progress)
    _record(paths, "push", ref)
    return digest


def _push(images: Any, rec: dict[str, Any], content: Content, ref: Reference, options: "RegistryOptions",
          progress: Progress | None) -> str:
    from .pull import push_image as push_blobs
    manifest = rec.get("manifest")
    if not manifest or not content.has(manifest) or not _blobs_present(content, manifest):
        manifest = _make_manifest(images, rec, content)
    return push_blobs(ref, content, manifest, insecure=options.insecure, ca_file=options.ca_file,
                      credentials=options.credentials, progress=progress)


def _blobs_present(content: Content, manifest_digest: str) -> bool:
    data = json.loads(content.read_bytes(manifest_digest))
    return all(content.has(d["digest"]) for d in [data.get("config", {}), *data.get("layers", [])] if d)


def _make_manifest(images: Any, rec: dict[str, Any], content: Content) -> str:
    """An OCI image manifest for ``rec``, made from its layer directories; stored, and its digest. A layer tar
    made again from a directory need not hash to the diff_id the image was made with (an imported tar's own
    order and padding are gone): the config pushed then names the diff_ids of the tars actually pushed."""
    from .archive import layer_blob_info
    layers, diff_ids = [], []
    for chain in rec["layers"]:
        info = layer_blob_info(images.layers.path(chain), content)
        layers.append({"mediaType": info["mediaType"], "digest": info["digest"], "size": info["size"]})
        diff_ids.append(info["diff_id"])
    config = rec["config"]
    if (config.get("rootfs") or {}).get("diff_ids") != diff_ids:
        config = {**config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    raw_config = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = content.put_bytes(raw_config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": len(raw_config)},
                "layers": layers}
    digest = content.put_bytes(json.dumps(manifest, separators=(",", ":")).encode())
    if config_digest == rec["id"]:  # the manifest describes this very image: keep it for the next push
        images.set_manifest(rec["id"], digest)
    return digest


def manifest_size(paths: Paths, digest: str) -> int:
    """The size of a manifest the content store keeps (what ``docker push`` reports); 0 when it is not kept."""
    content = _content(paths)
    return content.size(digest) if content.has(digest) else 0


def image_users(engine: Any, ref: str, *, running_only: bool = False) -> list[str]:
    """The containers (ids) of ``engine`` whose image is the image ``ref`` names (``running_only``: only
    those running), for ``image rm``; [] when ``ref`` names no image."""
    from ..errors import NsrunError
    try:
        wanted = engine.images.get(ref)["id"]
    except NsrunError:
        return []
    users = []
    for rec in engine.store.list():
        if not rec.spec.image or (running_only and not rec.running):
            continue
        try:
            if engine.images.get(rec.spec.image)["id"] == wanted:
                users.append(rec.id)
        except NsrunError:
            continue
    return users
