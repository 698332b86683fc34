"""``docker load``: images from a tar stream — Docker's archive (the old layout, ``<id>/layer.tar`` and
``<hex>.json``, and Docker 25's, with ``blobs/sha256/``) and OCI image layout tars (``index.json``; an index
inside picks the host's platform), plain or compressed (gzip, bzip2, xz: told apart by their magic).

The archive is read once, front to back, as a stream (stdin works): each file member goes straight into the
content store as a blob, hashed as it streams (a ``blobs/sha256/<hex>`` member must hash to its name), and only
the small index files (``manifest.json``, ``index.json``, ``repositories``, ``oci-layout``) are held in memory;
nothing is extracted by name, so a member's path cannot write anywhere. Once the stream has ended the images are
planned from those files, and each layer is unpacked from its blob into its layer directory, its diff_id checked
against the config while it unpacks. Records are written only when every image of the archive is complete.

Any failure — a stream that is not a tar, bad JSON, a path leaving the archive, a missing blob, a digest or
diff_id mismatch — is one ``ConfigError`` line, and nothing is left: the layers this load made are freed and
the blobs it stored removed. On success the blobs the loaded images use are kept (``save`` and ``push`` then
send the very bytes loaded); the others (Docker's old ``json``/``VERSION`` files) are removed.
"""
from __future__ import annotations

import json
import posixpath
import tarfile
from typing import IO, Any

from ..errors import ConfigError, NsrunError
from .layerblob import LAYER_GZIP, LAYER_TAR
from .content import Content, sha256_digest

__all__ = ["load", "read_archive", "Archive"]

_META = ("manifest.json", "index.json", "repositories", "oci-layout")
_META_MAX = 16 << 20
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


class Archive:
    """What the stream held: ``meta`` (name -> bytes of the index files), ``files`` (name -> blob digest),
    ``stored`` (digests this read added to the content store, to remove again)."""

    def __init__(self) -> None:
        self.meta: dict[str, bytes] = {}
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.stored: set[str] = set()

    def blob(self, name: str, what: str) -> str:
        """The digest of the member ``name`` (links followed)."""
        seen = 0
        while name in self.links and seen < 40:
            name, seen = self.links[name], seen + 1
        if name not in self.files:
            raise ConfigError(f"image archive: {what} {name!r} is missing from the archive")
        return self.files[name]

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.meta[name])
        except ValueError as exc:
            raise ConfigError(f"image archive: {name} is not valid JSON ({exc})") from None


def _clean(name: str) -> str:
    from .unpack import safe_parts
    try:
        return "/".join(safe_parts(name))
    except ConfigError:
        raise ConfigError(f"image archive: refusing member {name!r}: its path leaves the archive") from None


def read_archive(content: Content, fileobj: IO[bytes]) -> Archive:
    """Read the whole tar stream into ``content`` (see the module docstring); the members it held."""
    import lzma
    import zlib
    arc = Archive()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*", bufsize=1 << 20) as tf:
            for m in tf:
                name = _clean(m.name)
                if m.isdir() or not name:
                    continue
                if m.issym() or m.islnk():
                    base = posixpath.dirname(name) if m.issym() else ""
                    target = posixpath.normpath(posixpath.join(base, m.linkname))
                    if m.linkname.startswith("/") or target.startswith("../") or target == "..":
                        raise ConfigError(f"image archive: refusing link {name!r} -> {m.linkname!r}: it points "
                                          f"outside the archive")
                    arc.links[name] = target
                    continue
                if not m.isfile():
                    raise ConfigError(f"image archive: refusing member {name!r}: not a file, directory or link")
                f = tf.extractfile(m)
                if name in _META:
                    if m.size > _META_MAX:
                        raise ConfigError(f"image archive: {name} is too large ({m.size} bytes)")
                    arc.meta[name] = f.read()
                    continue
                expected = None
                parts = name.split("/")
                if len(parts) == 3 and parts[0] == "blobs":
                    if parts[1] != "sha256":
                        raise ConfigError(f"image archive: unsupported digest algorithm in {name!r}")
                    expected = "sha256:" + parts[2]
                    from .content import check_digest
                    check_digest(expected)
                arc.files[name] = _store(content, arc, f, expected, m.size)
    except NsrunError:
        _forget(content, arc)
        raise
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, UnicodeError) as exc:
        _forget(content, arc)
        raise ConfigError(f"image archive: not a valid tar archive ({exc or type(exc).__name__})") from None
    except BaseException:
        _forget(content, arc)
        raise
    if not arc.meta and not arc.files:
        raise ConfigError("image archive: the archive is empty")
    return arc


def _store(content: Content, arc: Archive, f: IO[bytes], expected: str | None, size: int) -> str:
    from .content import BlobError
    try:
        with content.writer(expected, size) as w:
            while chunk := f.read(1 << 20):
                w.write(chunk)
            digest = w.check()
            fresh = not content.has(digest)
    except BlobError as exc:
        raise ConfigError(f"image archive: {exc.message}") from None
    if fresh:
        arc.stored.add(digest)
    return digest


def _forget(content: Content, arc: Archive, keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for digest in arc.stored - keep:
        content.delete(digest)


# -- planning: which images, which blobs ---------------------------------------------------------------------
class _Image:
    __slots__ = ("config_digest", "config", "layers", "tags", "manifest")

    def __init__(self, config_digest: str, config: dict, layers: list[str], tags: list[str],
                 manifest: str | None) -> None:
        self.config_digest, self.config, self.layers, self.tags, self.manifest = (config_digest, config, layers,
                                                                                  tags, manifest)


def _config(content: Content, digest: str, what: str) -> dict:
    try:
        config = json.loads(content.read_bytes(digest))
    except ValueError as exc:
        raise ConfigError(f"image archive: the config of {what} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"image archive: the config of {what} is not a JSON object")
    return config


def _docker_images(content: Content, arc: Archive, name: str | None) -> list[_Image]:
    from .archive_save import docker_tag
    from .store import normalize
    entries = arc.json("manifest.json")
    if not isinstance(entries, list):
        raise ConfigError("image archive: manifest.json is not a list")
    want = docker_tag(normalize(name)) if name else None
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or \
                not isinstance(entry.get("Layers"), list):
            raise ConfigError("image archive: malformed manifest.json entry (Config and Layers wanted)")
        tags = [docker_tag(normalize(t)) for t in entry.get("RepoTags") or []]
        if want and want not in tags:
            continue
        cpath = _clean(entry["Config"])
        config_digest = arc.blob(cpath, "config")
        stem = posixpath.basename(cpath).removesuffix(".json")
        if len(stem) == 64 and posixpath.dirname(cpath) in ("", "blobs/sha256") and stem != config_digest[7:]:
            raise ConfigError(f"image archive: config {cpath!r} hashes to {config_digest}")
        layers = [arc.blob(_clean(p), "layer") for p in entry["Layers"]]
        out.append(_Image(config_digest, _config(content, config_digest, cpath), layers,
                          [want] if want else tags, None))
    if want and not out:
        raise ConfigError(f"image archive: no image named {name}")
    return out


def _oci_images(content: Content, arc: Archive, name: str | None) -> list[_Image]:
    from .reference import host_platform, parse
    index = arc.json("index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ConfigError("image archive: index.json has no manifests list")
    out = []
    for desc in index["manifests"]:
        if not isinstance(desc, dict):
            raise ConfigError("image archive: malformed index.json entry")
        notes = desc.get("annotations") or {}
        ref_name, full = notes.get("org.opencontainers.image.ref.name"), notes.get("io.containerd.image.name")
        if name and name not in (ref_name, full) and (not full or str(parse(name)) != full):
            continue
        tags = [full] if full else [ref_name] if ref_name and ("/" in ref_name or ":" in ref_name) else []
        digest = _digest_of(arc, desc)
        raw = _manifest(content, digest)
        if raw.get("mediaType") in _INDEX_TYPES or desc.get("mediaType") in _INDEX_TYPES or "manifests" in raw:
            from .registry import Manifest, select_platform
            index_doc = Manifest(digest=digest, media_type=raw.get("mediaType", ""), raw=b"", data=raw)
            entry = select_platform(index_doc,
                                    host_platform(), "image archive")
            digest = _digest_of(arc, entry)
            raw = _manifest(content, digest)
        cdesc = raw.get("config")
        if not isinstance(cdesc, dict) or not isinstance(raw.get("layers"), list):
            raise ConfigError(f"image archive: manifest {digest} has no config or layers")
        config_digest = _digest_of(arc, cdesc)
        layers = [_digest_of(arc, d) for d in raw["layers"]]
        out.append(_Image(config_digest, _config(content, config_digest, config_digest), layers,
                          [name] if name and (":" in name or "/" in name) else tags, digest))
    if not out:
        raise ConfigError(f"image archive: no image named {name}" if name else "image archive: index.json "
                                                                                 "lists no image")
    return out


def _digest_of(arc: Archive, desc: Any) -> str:
    from .content import check_digest
    digest = desc.get("digest") if isinstance(desc, dict) else None
    try:
        hexpart = check_digest(digest)
    except ConfigError:
        raise ConfigError(f"image archive: bad descriptor {desc!r}") from None
    got = arc.blob(f"blobs/sha256/{hexpart}", "blob")
    if got != digest:
        raise ConfigError(f"image archive: blob {digest} failed verification")
    return digest


def _manifest(content: Content, digest: str) -> dict:
    try:
        raw = json.loads(content.read_bytes(digest))
    except ValueError as exc:
        raise ConfigError(f"image archive: manifest {digest} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"image archive: manifest {digest} is not a JSON object")
    return raw


def _media_type(content: Content, digest: str) -> str:
    from .layerstream import detect
    with content.open(digest) as f:
        kind = detect(f.read(4))
    return {"gzip": LAYER_GZIP, "zstd": LAYER_ZSTD}.get(kind, LAYER_TAR)


# -- loading --------------------------------------------------------------------------------------------------
def load(paths: Any, images: Any, fileobj: IO[bytes], *, name: str | None = None, progress: Any = None,
         prefer: str = "docker") -> list[dict[str, Any]]:
    """Load the archive ``fileobj`` (see the module docstring); the records of the images loaded, each with
    ``loaded`` (the name it was loaded as, or None)."""
    from .layers import chain_ids
    content = Content(paths.root)
    arc = read_archive(content, fileobj)
    made: list[str] = []
    keep: set[str] = set()
    try:
        try:
            if "manifest.json" in arc.meta and not (prefer == "oci" and "index.json" in arc.meta):
                plan = _docker_images(content, arc, name)
            elif "index.json" in arc.meta:
                plan = _oci_images(content, arc, name)
            else:
                raise ConfigError("image archive: neither manifest.json nor index.json: not an image archive")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"image archive: malformed index ({type(exc).__name__}: {exc})") from None
        from .store import normalize
        for img in plan:
            for tag in img.tags:
                normalize(tag)  # an invalid name fails here, before any record is written
            diff_ids = (img.config.get("rootfs") or {}).get("diff_ids")
            if not isinstance(diff_ids, list) or len(diff_ids) != len(img.layers):
                raise ConfigError(f"image archive: the config {img.config_digest[7:19]} lists "
                                  f"{len(diff_ids or [])} diff_ids for {len(img.layers)} layers")
            for n, (digest, diff_id, chain) in enumerate(zip(img.layers, diff_ids, chain_ids(diff_ids))):
                if progress:
                    progress({"id": digest[7:19], "status": "Loading layer", "current": n + 1,
                              "total": len(img.layers)})
                if not images.layers.has(chain):
                    with content.open(digest) as f:
                        images.layers.unpack(f, diff_id, chain)
                    made.append(chain)
            if img.manifest is None:  # Docker's archive: an OCI manifest of the blobs loaded, for push and save
                doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": img.config_digest, "size": content.size(img.config_digest)},
                       "layers": [{"mediaType": _media_type(content, d), "digest": d, "size": content.size(d)}
                                  for d in img.layers]}
                raw = json.dumps(doc, separators=(",", ":")).encode()
                fresh = not content.has(sha256_digest(raw))
                img.manifest = content.put_bytes(raw)
                if fresh:
                    arc.stored.add(img.manifest)
            keep |= {img.config_digest, img.manifest, *img.layers}
        out = []
        for img in plan:
            rec = images.add(config=img.config, layers=chain_ids(img.config["rootfs"]["diff_ids"]),
                             image_id=img.config_digest, tags=img.tags, manifest=img.manifest)
            out.append({**rec, "loaded": img.tags})
        _forget(content, arc, keep)
        return out
    except BaseException:
        images.free_layers(made)
        _forget(content, arc)
        raise
