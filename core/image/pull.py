"""Pull and push images at the blob level: manifests, configs and layers between a registry and ``Content``.

``pull_blobs`` resolves a reference to one image manifest (choosing the platform from an index; a single
manifest must be for the platform asked, the host's by default, as its config says), stores the
index, manifest and config, and fetches the layers in parallel, each streamed to disk and verified. With
``on_layer(descriptor, fileobj)`` each layer's compressed bytes are also handed to the caller as they arrive
(to unpack while downloading): ``fileobj`` reads the same bytes that are being written to the blob, in one
pass; reading its end verifies size and digest (BlobError from ``read`` when they are wrong), whatever the
callback leaves unread is drained, and the blob is committed only once the callback returned and the digest
matched. For a layer already in Content, ``fileobj`` reads the stored blob. The callback runs on worker
threads, several at once.

``progress(event)`` receives ``{"id", "status", "current", "total"}`` per layer, as ``docker pull`` shows them
("Pulling fs layer", "Downloading", "Download complete", "Already exists"; push: "Preparing", "Pushing",
"Pushed", "Layer already exists"); calls are serialized, never concurrent.

A failed pull leaves only complete, verified blobs (the next pull reuses them; gc frees unreferenced ones).
"""
from __future__ import annotations

import io
import json
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, BinaryIO, Callable, Iterable

from .auth import Credentials
from .content import Content, Writer
from .reference import Platform, Reference, parse, parse_platform
from .registry import AUTO, CHUNK, INDEX_TYPES, Manifest, Registry, RegistryError, Response, check_platform, \
    parse_manifest, select_platform

__all__ = ["pull_blobs", "push_image", "PullResult", "WORKERS"]

WORKERS = 4
Progress = Callable[[dict[str, Any]], None]
OnLayer = Callable[[dict, BinaryIO], None]


class PullResult(tuple):
    """``(manifest_digest, manifest, config)`` of the image pulled, plus ``ref_digest`` (what the reference
    resolved to: the index's digest for a multi-platform image, else the manifest's; Docker's RepoDigests),
    ``media_type`` and ``index`` (the index's decoded JSON, or None)."""

    def __new__(cls, manifest_digest: str, manifest: dict, config: dict, *, ref_digest: str, media_type: str,
                index: dict | None = None) -> "PullResult":
        self = super().__new__(cls, (manifest_digest, manifest, config))
        self.ref_digest, self.media_type, self.index = ref_digest, media_type, index
        return self

    manifest_digest = property(lambda self: self[0])
    manifest = property(lambda self: self[1])
    config = property(lambda self: self[2])


class _Cancelled(Exception):
    """Another layer failed; this one stops."""


def _client(ref: Reference, registry: Registry | None, credentials: Credentials | str | None,
            insecure: Iterable[str], ca_file: str | None) -> Registry:
    return registry or Registry(ref.registry, credentials=credentials, insecure=insecure, ca_file=ca_file)


def _serialized(progress: Progress | None) -> Callable[..., None]:
    lock = threading.Lock()

    def emit(lid: str, status: str, current: int | None = None, total: int | None = None) -> None:
        if progress is not None:
            with lock:
                progress({"id": lid, "status": status, "current": current, "total": total})
    return emit


def pull_blobs(ref: Reference | str, content: Content, *, platform: Platform | str | None = None,
               registry: Registry | None = None, credentials: Credentials | str | None = AUTO,
               insecure: Iterable[str] = (), ca_file: str | None = None, on_layer: OnLayer | None = None,
               progress: Progress | None = None, workers: int = WORKERS,
               on_config: Callable[[dict, dict], None] | None = None) -> PullResult:
    """Fetch ``ref``'s manifest, config and layers into ``content`` (see the module docstring).
    ``on_config(manifest, config)`` is called once both are known, before any layer is fetched."""
    ref = parse(ref) if isinstance(ref, str) else ref
    want = platform if isinstance(platform, Platform) else parse_platform(platform)
    reg = _client(ref, registry, credentials, insecure, ca_file)
    try:
        return _pull(reg, ref, content, want, on_layer, progress, workers, on_config)
    finally:
        if registry is None:
            reg.transport.close()


def _pull(reg: Registry, ref: Reference, content: Content, want: Platform, on_layer: OnLayer | None,
          progress: Progress | None, workers: int, on_config: Callable[[dict, dict], None] | None) -> PullResult:
    repo, what = ref.path, ref.familiar()
    top = reg.get_manifest(repo, ref.manifest_ref, what=what)
    index = None
    manifest = top
    if top.is_index:
        entry = select_platform(top, want, what)
        manifest = reg.get_manifest(repo, entry["digest"], what=f"{what} ({want})")
        if manifest.is_index:
            raise RegistryError(f"{what}: the index entry for {want} is another index (not supported)")
        index = top.data
    emit = _serialized(progress)
    config_desc = manifest.data["config"]
    if not content.has(config_desc["digest"]):
        reg.fetch_blob(repo, config_desc, content)
    try:
        config = json.loads(content.read_bytes(config_desc["digest"]))
    except ValueError as exc:
        raise RegistryError(f"{what}: the image config is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise RegistryError(f"{what}: the image config is not a JSON object")
    if not top.is_index:
        check_platform(config, want, what)
    layers = manifest.data["layers"]
    if on_config is not None:
        on_config(manifest.data, config)
    for desc in layers:
        emit(_short(desc), "Pulling fs layer")
    _parallel(workers, layers, lambda desc, stop: _pull_layer(reg, repo, desc, content, on_layer, emit, stop))
    content.put_bytes(manifest.raw, manifest.digest)
    if top.is_index:
        content.put_bytes(top.raw, top.digest)
    return PullResult(manifest.digest, manifest.data, config, ref_digest=top.digest,
                      media_type=manifest.media_type, index=index)


def _short(desc: dict) -> str:
    return desc["digest"][7:19]


def _parallel(workers: int, items: list, job: Callable[[Any, threading.Event], None]) -> None:
    """Run ``job(item, stop)`` for every item on a thread pool; on the first failure the others are told to
    stop, and that first failure is raised once all have ended."""
    if not items:
        return
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))), thread_name_prefix="nsrun-blob") as pool:
        futures = [pool.submit(job, item, stop) for item in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() for f in done):
            stop.set()
            for f in pending:
                f.cancel()
            wait(futures)
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    real = [e for e in errors if not isinstance(e, _Cancelled)]
    if real:
        raise real[0]


def _pull_layer(reg: Registry, repo: str, desc: dict, content: Content, on_layer: OnLayer | None,
                emit: Callable[..., None], stop: threading.Event) -> None:
    lid, digest, size = _short(desc), desc["digest"], desc["size"]
    if content.has(digest):
        emit(lid, "Already exists")
        if on_layer is not None:
            with content.open(digest) as f:
                on_layer(desc, f)
        return
    with reg.open_blob(repo, digest) as resp, content.writer(digest, size) as w:
        reader = _Tee(resp, w, lambda n: emit(lid, "Downloading", n, size), stop)
        if on_layer is not None:
            on_layer(desc, reader)
        reader.drain()
    emit(lid, "Download complete", size, size)


class _Tee(io.RawIOBase):
    """A layer's bytes as they arrive: each chunk read is written to the blob first; the end checks it."""

    def __init__(self, resp: Response, writer: Writer, tick: Callable[[int], None], stop: threading.Event) -> None:
        super().__init__()
        self.resp, self.writer, self.tick, self.stop = resp, writer, tick, stop
        self._last = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.stop.is_set():
            raise _Cancelled()
        n = self.resp.readinto(buf)
        if n:
            self.writer.write(memoryview(buf)[:n])
            if self.writer.size - self._last >= CHUNK or self.writer.size == self.writer.expected_size:
                self._last = self.writer.size
                self.tick(self.writer.size)
        elif not self._checked:
            self.writer.check()  # BlobError reaches whoever reads the end: the unpacker stops there
            self._checked = True
        return n

    def drain(self) -> None:
        buf = memoryview(bytearray(CHUNK))
        while self.readinto(buf):
            pass


# -- push -----------------------------------------------------------------------------------------------------
def push_image(ref: Reference | str, content: Content, manifest_digest: str, *, registry: Registry | None = None,
               credentials: Credentials | str | None = AUTO, insecure: Iterable[str] = (),
               ca_file: str | None = None, progress: Progress | None = None, workers: int = WORKERS) -> str:
    """Push the manifest (or index) ``manifest_digest`` and every blob it names from ``content`` to ``ref``
    (its tag, or by digest when it has none); the digest stored."""
    ref = parse(ref) if isinstance(ref, str) else ref
    reg = _client(ref, registry, credentials, insecure, ca_file)
    emit = _serialized(progress)
    try:
        top = _stored_manifest(content, manifest_digest)
        if top.is_index:
            for entry in top.data["manifests"]:
                child = _stored_manifest(content, entry["digest"])
                _push_one(reg, ref.path, content, child, child.digest, emit, workers)
            return _put(reg, ref, top)
        return _push_one(reg, ref.path, content, top, ref.tag or top.digest, emit, workers)
    finally:
        if registry is None:
            reg.transport.close()


def _stored_manifest(content: Content, digest: str) -> Manifest:
    raw = content.read_bytes(digest)
    manifest = parse_manifest(raw, what=f"manifest {digest}")
    if manifest.media_type in INDEX_TYPES and "layers" in manifest.data:
        raise RegistryError(f"manifest {digest}: both an index and a manifest")
    return manifest


def _put(reg: Registry, ref: Reference, manifest: Manifest) -> str:
    return reg.put_manifest(ref.path, ref.tag or manifest.digest, manifest.media_type, manifest.raw)


def _push_one(reg: Registry, repo: str, content: Content, manifest: Manifest, reference: str,
              emit: Callable[..., None], workers: int) -> str:
    blobs = [*manifest.data["layers"], manifest.data["config"]]
    for desc in blobs:
        emit(_short(desc), "Preparing")

    def push(desc: dict, stop: threading.Event) -> None:
        lid, digest = _short(desc), desc["digest"]
        if stop.is_set():
            raise _Cancelled()
        if reg.has_blob(repo, digest):
            emit(lid, "Layer already exists")
            return
        size = content.size(digest)
        with content.open(digest) as f:
            reg.upload_blob(repo, digest, size, _Counting(f, lambda n: emit(lid, "Pushing", n, size)))
        emit(lid, "Pushed", size, size)
    _parallel(workers, blobs, push)
    return reg.put_manifest(repo, reference, manifest.media_type, manifest.raw)


class _Counting:
    """A file whose reads report how far they got (http.client reads a body by ``read(blocksize)``)."""

    def __init__(self, f: BinaryIO, tick: Callable[[int], None]) -> None:
        self.f, self.tick, self.pos = f, tick, 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.pos += len(data)
        if data:
            self.tick(self.pos)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = self.f.seek(pos, whence)
        return self.pos

