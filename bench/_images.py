"""Test images for the pull / unpack / start rows of ``make bench``, as OCI image layouts (stdlib only).

``big_image()``: 6 gzip layers, ~60 MB compressed (busybox; two layers of many small text files; three of
large pseudo-random, incompressible files; the last also deletes a file of a lower layer, a whiteout).
``many_layers_image(20)``: busybox then 19 small layers (a file each), for ``run --rm IMAGE true``.
Both run ``sh`` by default (config ``Cmd``) and hold the host's busybox-static, so ``IMAGE true`` works.

Content is deterministic (seeded), and each layout is cached under ``$NSRUN_BENCH_CACHE`` (default
``/var/cache/nsrun-bench``) keyed by this file's hash and the parameters: only the first bench builds it.
A layout is made in a temporary directory beside the cache entry and renamed into place whole, under a lock.
Push one with ``skopeo copy oci:DIR:latest docker://HOST:PORT/NAME`` (``--dest-tls-verify=false`` on loopback).

``python bench/_images.py [DIR...]``: build (or find) both and print their paths (or copy them to DIRs).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from typing import Iterator

__all__ = ["big_image", "many_layers_image", "build_layout", "cache_dir"]

MTIME = 1700000000
BUSYBOX = ("/bin/busybox", "/usr/bin/busybox")
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A member: (name, kind, payload): kind "file" (bytes), "dir", "symlink" (target), "whiteout" (deletes name).
Member = tuple[str, str, object]


def cache_dir() -> str:
    return os.environ.get("NSRUN_BENCH_CACHE") or "/var/cache/nsrun-bench"


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)


# -- layer contents ---------------------------------------------------------------------------------------
def _busybox_layer() -> list[Member]:
    binary = next((b for b in BUSYBOX if os.path.exists(b)), None)
    if binary is None:
        raise SystemExit("bench images: no busybox binary on the host (apt-get install busybox-static)")
    with open(binary, "rb") as f:
        members: list[Member] = [(d, "dir", None) for d in ("bin", "etc", "tmp", "root", "usr", "usr/bin",
                                                              "sbin", "proc", "sys", "dev")]
        members.append(("bin/busybox", "file", f.read()))
    applets = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout.split()
    members += [(f"bin/{a}", "symlink", "busybox") for a in sorted(applets) if a != "busybox"]
    members.append(("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n"))
    members.append(("etc/group", "file", b"root:x:0:\n"))
    return members


def _text_block(rng: random.Random, size: int) -> bytes:
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(2000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=16)) + b"\n"
    return bytes(out[:size])


def _small_files(seed: int, count: int, prefix: str) -> list[Member]:
    """``count`` text files of 1-16 KB in 100 directories: compressible, each different."""
    rng = random.Random(seed)
    block = _text_block(rng, 1 << 20)
    members: list[Member] = [(prefix, "dir", None)]
    for d in range(100):
        members.append((f"{prefix}/d{d:03}", "dir", None))
    for i in range(count):
        size = rng.randint(1 << 10, 16 << 10)
        start = rng.randrange(0, len(block) - size)
        members.append((f"{prefix}/d{i % 100:03}/f{i:05}.txt", "file", b"%d\n" % i + block[start:start + size]))
    return members


def _random_files(seed: int, sizes_mb: list[int], prefix: str) -> list[Member]:
    rng = random.Random(seed)
    members: list[Member] = [(prefix, "dir", None)]
    for i, mb in enumerate(sizes_mb):
        members.append((f"{prefix}/blob{i}.bin", "file", rng.randbytes(mb << 20)))
    return members


# -- the layout -------------------------------------------------------------------------------------------
def _tar_bytes(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in members:
            if kind == "whiteout":
                head, _, tail = name.rpartition("/")
                name, kind, payload = (f"{head}/" if head else "") + f".wh.{tail}", "file", b""
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
                tf.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, str(payload), 0o777
                tf.addfile(info)
            else:
                data = payload if isinstance(payload, bytes) else b""
                info.size, info.mode = len(data), 0o755 if name == "bin/busybox" else 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_blob(layout: str, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return f"sha256:{digest}", len(data)


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing, mtime 0: reproducible
    return packer.compress(data) + packer.flush()


def build_layout(path: str, layers: list[list[Member]], cmd: list[str], history: list[str]) -> None:
    """Write an OCI image layout at ``path`` (tag ``latest``): one gzip layer per member list."""
    os.makedirs(os.path.join(path, "blobs", "sha256"))
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descriptors, diff_ids = [], []
    for members in layers:
        raw = _tar_bytes(members)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        digest, size = _write_blob(path, _gzip(raw))
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                            "size": size})
    created = "2023-11-14T22:13:20Z"  # MTIME
    config = {"created": created, "architecture": _arch(), "os": "linux",
              "config": {"Env": [PATH], "Cmd": cmd}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": created, "created_by": h} for h in history]}
    cdigest, csize = _write_blob(path, json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest,
                           "size": csize}, "layers": descriptors}
    mdigest, msize = _write_blob(path, json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
                            "size": msize, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(index, f)


@contextlib.contextmanager
def _locked(directory: str) -> Iterator[None]:
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _cached(name: str, params: object, make: object) -> str:
    with open(__file__, "rb") as f:
        key = hashlib.sha256(f.read() + json.dumps(params).encode()).hexdigest()[:16]
    base = cache_dir()
    entry = os.path.join(base, f"{name}-{key}")
    with _locked(base):
        if not os.path.isfile(os.path.join(entry, "index.json")):
            tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=base)
            try:
                layers, cmd, history = make()  # type: ignore[operator]
                build_layout(os.path.join(tmp, "oci"), layers, cmd, history)
                shutil.rmtree(entry, ignore_errors=True)
                os.rename(os.path.join(tmp, "oci"), entry)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return entry


def big_image() -> str:
    """6 layers, ~60 MB compressed: busybox, 2 x 2500 small text files, 3 layers of random files (48 MB)."""
    def make() -> tuple[list[list[Member]], list[str], list[str]]:
        layers = [_busybox_layer(), _small_files(1, 2500, "srv/small-a"), _small_files(2, 2500, "srv/small-b"),
                  _random_files(3, [16], "srv/big-a"), _random_files(4, [8, 8], "srv/big-b"),
                  _random_files(5, [12, 4], "srv/big-c") + [("srv/small-a/d000/f00000.txt", "whiteout", None)]]
        history = ["busybox", "small files a", "small files b", "random 16M", "random 2x8M", "random 16M, rm"]
        return layers, ["sh"], history
    return _cached("big", {"layers": 6}, make)


def many_layers_image(count: int = 20) -> str:
    """``count`` layers: busybox, then one small file each (``/layers/NN``)."""
    def make() -> tuple[list[list[Member]], list[str], list[str]]:
        layers = [_busybox_layer()] + [[("layers", "dir", None), (f"layers/{i:03}", "file", b"%d\n" % i)]
                                       for i in range(1, count)]
        return layers, ["sh"], ["busybox"] + [f"layer {i}" for i in range(1, count)]
    return _cached(f"layers{count}", {"layers": count}, make)


def main(argv: list[str]) -> int:
    paths = [big_image(), many_layers_image(20)]
    for i, path in enumerate(paths):
        if i < len(argv):
            shutil.rmtree(argv[i], ignore_errors=True)
            shutil.copytree(path, argv[i])
            path = argv[i]
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
