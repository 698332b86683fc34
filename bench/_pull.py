"""Section "images": pulling from a local registry, unpacking a layer, starting a many-layer image.

A private ``docker-registry`` on 127.0.0.1 (free port, storage in the bench's work dir) holds the two images
of ``bench/_images.py`` (pushed by skopeo): ``big`` (6 gzip layers, ~68 MB) and ``l20`` (20 small layers).
- pull: ``nsrun pull`` into an empty root against ``skopeo copy docker://... oci:DIR`` of the same image in
  the same rounds (skopeo only stores the blobs; nsrun also verifies and unpacks every layer);
- unpack: nsrun's unpacker (``nsrun.image.unpack``, in its own interpreter) against ``tar -xzf`` of the
  largest layer of ``big``, each into an empty directory;
- start: ``run --rm l20 true`` against ``run --rm busybox true`` (both in the store already);
- the floor (a note): what any pull that also unpacks costs beyond skopeo's copy, in CPU (``_unpack_floor``),
  added to skopeo's and divided by the CPUs: the least time such a pull can take on this machine.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from _common import Bench, NotRun, Section, Target
from _measure import Case, measure, paired_ratio

__all__ = ["section_images"]

PULL, SKOPEO = "nsrun pull (6 layers, 68 MB gzip)", "skopeo copy docker:// -> oci: (same image)"
DOCKER_PULL = "docker pull (dockerd, FULL=1; image removed after each)"
UNPACK, TAR = "nsrun unpack of the largest layer", "tar -xzf of the same layer"
L20, BUSYBOX = "nsrun run --rm <20-layer image> true", "nsrun run --rm busybox true (same run)"


def _registry(b: Bench) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = os.path.join(b.workdir, "registry")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.yml"), "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {d}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n")
    if not shutil.which("docker-registry"):
        raise NotRun("docker-registry is not installed (Debian: docker-registry)")
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(["docker-registry", "serve", os.path.join(d, "config.yml")], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    b.cleanups.append(lambda: (proc.kill(), proc.wait(), log.close(), None)[-1])
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return f"127.0.0.1:{port}"
        time.sleep(0.05)
    raise NotRun("docker-registry did not start")


def _gigabyte_layout(d: str) -> str:
    """An OCI layout of one layer holding a 1 GiB file of zeros (gzip: ~5 MB), for the pull's RSS bound."""
    import gzip
    import hashlib
    import tarfile
    out = os.path.join(d, "gb")
    if os.path.exists(os.path.join(out, "index.json")):
        return out
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    raw = hashlib.sha256()
    tmp = os.path.join(out, "layer.tmp")

    class Hashing:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            raw.update(b)
            return self.f.write(b)

    class Zeros:
        left = 1 << 30

        def read(self, n):
            n = min(n, self.left)
            self.left -= n
            return bytes(n)
    with open(tmp, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=1) as gz:
        with tarfile.open(fileobj=Hashing(gz), mode="w|") as tar:
            info = tarfile.TarInfo("zeros.bin")
            info.size, info.mode = 1 << 30, 0o644
            tar.addfile(info, Zeros())

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return "sha256:" + digest
    with open(tmp, "rb") as f:
        layer = f.read()
    os.unlink(tmp)
    ldesc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(layer), "size": len(layer)}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + raw.hexdigest()]}}).encode()
    cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config), "size": len(config)}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": cdesc, "layers": [ldesc]}).encode()
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": blob(manifest), "size": len(manifest),
                   "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    return out


def _max_rss_kb(argv: list[str]) -> int | None:
    """The peak RSS of a command (its own, from wait4's rusage)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss if proc.returncode == 0 else None


def _docker_pull(b: Bench, ref: str):
    """``docker pull`` through the bench's private dockerd; the image is removed again after each (not timed)."""
    def fn() -> float:
        docker = b.shared["dockerd"]
        t0 = time.perf_counter()
        res = subprocess.run(docker.cli("pull", "-q", ref), capture_output=True, timeout=300, env=docker.full_env)
        dt = time.perf_counter() - t0
        subprocess.run(docker.cli("rmi", "-f", ref), capture_output=True, timeout=120, env=docker.full_env)
        if res.returncode != 0:
            from _measure import CmdFailed
            raise CmdFailed(res.stderr.decode(errors="replace").strip()[-200:])
        return dt
    return fn


def _timed(argv: list[str], before=None, after=None, cpu: list | None = None):
    """A case function timing ``argv`` (wall seconds); with ``cpu``, each run's (user, system) CPU seconds of the
    command and its children are appended to it."""
    import resource

    def fn() -> float:
        ctx = before() if before else None
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(argv(ctx) if callable(argv) else argv, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, timeout=300)
        dt = time.perf_counter() - t0
        if cpu is not None:
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
        if after:
            after(ctx)
        if res.returncode != 0:
            from _measure import CmdFailed
            raise CmdFailed(res.stderr.decode(errors="replace").strip()[-200:])
        return dt
    return fn


_INFLATE_PY = ("import hashlib, sys\nfrom isal import isal_zlib\nbuf = bytearray(1 << 20)\nfor path in sys.argv[1:]:\n"
               "    h, r = hashlib.sha256(), isal_zlib._GzipReader(open(path, 'rb'), 1 << 20)\n"
               "    while (n := r.readinto(buf)):\n        h.update(memoryview(buf)[:n])\n")


def _cpu_ms(run) -> float:
    """The CPU time (user + system, ms) of the children ``run()`` starts and waits for."""
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    run()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1000 * (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)


def _unpack_floor(b: Bench, python: str, blobs: list[str], rounds: int) -> tuple[float, float] | None:
    """The CPU (ms, the least of ``rounds``: a floor) that any puller which also unpacks spends beyond skopeo's
    copy: creating the layers' files (GNU tar of the uncompressed layers, already on disk, all at once, into a
    directory with the ext4 top-directory hint that nsrun's layer store has) and inflating and hashing them for
    the diff_ids (ISA-L and sha256, in one interpreter, its start taken off). None when a tar fails."""
    import gzip
    top = os.path.join(b.workdir, "floor")
    os.makedirs(top, exist_ok=True)
    subprocess.run(["chattr", "+T", top], capture_output=True)  # where the fs has no such flag: placement differs
    plain = os.path.join(b.workdir, "uncompressed")
    os.makedirs(plain, exist_ok=True)
    tars = []
    for blob in blobs:
        tars.append(os.path.join(plain, os.path.basename(blob) + ".tar"))
        with gzip.open(blob) as src, open(tars[-1], "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    files, inflate = [], []
    for _ in range(rounds):
        d = tempfile.mkdtemp(dir=top)
        for t in tars:
            os.mkdir(os.path.join(d, os.path.basename(t)))

        procs: list[subprocess.Popen] = []

        def untar() -> None:
            procs.extend(subprocess.Popen(["tar", "-xf", t, "-C", os.path.join(d, os.path.basename(t))]) for t in tars)
            for p in procs:
                p.wait()
        files.append(_cpu_ms(untar))
        if any(p.returncode for p in procs):
            files.clear()
            break
        shutil.rmtree(d, ignore_errors=True)
        start = _cpu_ms(lambda: subprocess.run([python, "-c", "pass"], check=True))
        inflate.append(_cpu_ms(lambda: subprocess.run([python, "-c", _INFLATE_PY, *blobs], check=True)) - start)
    shutil.rmtree(plain, ignore_errors=True)
    shutil.rmtree(top, ignore_errors=True)
    return (min(files), min(inflate)) if files else None


def section_images(b: Bench) -> Section:
    sec = Section("images", "6. images: pull, unpack, many-layer start (ms)")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _images
    if not shutil.which("skopeo"):
        raise NotRun("skopeo is not installed (Debian: skopeo)")
    big, l20 = _images.big_image(), _images.many_layers_image(20)
    reg = _registry(b)
    for layout, name in ((big, "big"), (l20, "l20")):
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:latest",
                        f"docker://{reg}/{name}:latest"], check=True, capture_output=True, timeout=300)
    nsrun = b.nsrun.cmd()[0]
    scratch = os.path.join(b.workdir, "pulls")
    os.makedirs(scratch, exist_ok=True)

    def fresh() -> str:
        return tempfile.mkdtemp(dir=scratch)

    def drop(d: str) -> None:
        subprocess.run([nsrun, "--root", d, "system", "reset"], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)

    index = json.load(open(os.path.join(big, "index.json")))
    manifest = json.load(open(os.path.join(big, "blobs", "sha256", index["manifests"][0]["digest"][7:])))
    largest = max(manifest["layers"], key=lambda d: d["size"])
    layer = os.path.join(big, "blobs", "sha256", largest["digest"][7:])
    unpack_py = ("import sys; from nsrun.image.unpack import unpack; unpack(open(sys.argv[1], 'rb'), sys.argv[2])")
    python = os.path.join(os.path.dirname(nsrun), "python")
    # the 20-layer image and busybox, in the bench's own root
    subprocess.run(b.nsrun.cmd("pull", "-q", f"{reg}/l20"), check=True, capture_output=True, timeout=300)
    cpu: dict[str, list] = {PULL: [], SKOPEO: []}
    cases = [
        Case(PULL, fn=_timed(lambda d: [nsrun, "--root", d, "pull", "-q", f"{reg}/big"], fresh, drop, cpu[PULL]),
             role="subject", timeout=600),
        Case(SKOPEO, fn=_timed(lambda d: ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                                          f"docker://{reg}/big:latest", f"oci:{d}/oci:latest"], fresh,
                               lambda d: shutil.rmtree(d, ignore_errors=True), cpu[SKOPEO]), timeout=600),
        Case(DOCKER_PULL, fn=_docker_pull(b, f"{reg}/big:latest"), timeout=600,
             not_run=None if b.shared.get("dockerd") else (b.shared.get("dockerd_error") or "needs FULL=1")),
        Case(UNPACK, fn=_timed(lambda d: [python, "-c", unpack_py, layer, d], fresh,
                               lambda d: shutil.rmtree(d, ignore_errors=True)), role="subject"),
        Case(TAR, fn=_timed(lambda d: ["tar", "-xzf", layer, "-C", d], fresh,
                            lambda d: shutil.rmtree(d, ignore_errors=True))),
        Case(L20, b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "--rm", f"{reg}/l20", "true"), role="subject"),
        Case(BUSYBOX, b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "--rm", "busybox", "true")),
    ]
    runs = max(5, b.runs // 2)
    sec.figures = measure(cases, runs, 1, b.log)
    sec.ratios = False
    pull, skopeo = sec.figure(PULL), sec.figure(SKOPEO)
    r = paired_ratio(pull, skopeo) if pull and skopeo else None
    sec.targets.append(Target("pull of a 6-layer 68 MB image <= skopeo copy of it (aim 0.7x)",
                              None if r is None else r <= 1.0, "not judged" if r is None else f"{r:.2f}x skopeo"))
    if cpu[PULL] and cpu[SKOPEO]:
        import statistics

        def ms(runs: list, i: int | None) -> float:
            return 1000 * statistics.median(sum(r) if i is None else r[i] for r in runs)
        sec.notes.append(f"CPU per pull (user+system, median): nsrun {ms(cpu[PULL], None):.0f} ms (system "
                         f"{ms(cpu[PULL], 1):.0f}: creating the layers' files), skopeo {ms(cpu[SKOPEO], None):.0f} ms "
                         f"(system {ms(cpu[SKOPEO], 1):.0f}); with {os.cpu_count()} CPUs no pull is faster than its "
                         f"CPU / {os.cpu_count()}")
    blobs = [os.path.join(big, "blobs", "sha256", d["digest"][7:]) for d in manifest["layers"]]
    measured = _unpack_floor(b, python, blobs, 5) if cpu[SKOPEO] and skopeo and skopeo.samples else None
    if measured:
        import statistics
        files, inflate = measured
        copy = 1000 * statistics.median(sum(r) for r in cpu[SKOPEO])
        floor = (copy + files + inflate) / (os.cpu_count() or 1)
        sec.notes.append(f"the floor under any pull that also unpacks, from this run: skopeo's copy {copy:.0f} ms CPU "
                         f"+ creating the files {files:.0f} (GNU tar of the uncompressed layers, all at once; "
                         f"best of 5) + inflating and hashing them {inflate:.0f} (ISA-L, sha256) = {copy + files + inflate:.0f} ms "
                         f"of CPU, over {os.cpu_count()} CPUs at least {floor:.0f} ms: "
                         f"{floor / statistics.median(skopeo.samples):.2f}x "
                         f"skopeo's time, even perfectly overlapped and with no other cost")
    dpull = sec.figure(DOCKER_PULL)
    if dpull and dpull.samples and pull:
        r = paired_ratio(pull, dpull)
        sec.notes.append(f"nsrun pull / docker pull of the same image from the same registry: {r:.2f}x")
    up, tar = sec.figure(UNPACK), sec.figure(TAR)
    r = paired_ratio(tar, up) if up and tar else None  # throughput ratio = tar's time / nsrun's time
    sec.targets.append(Target("unpacking >= 0.9x the throughput of tar -xzf", None if r is None else r >= 0.9,
                              "not judged" if r is None else f"{r:.2f}x tar's throughput"))
    l20, bb = sec.figure(L20), sec.figure(BUSYBOX)
    if l20 and bb and l20.rounds and bb.rounds:
        import statistics
        diffs = [x - y for x, y in zip(l20.rounds, bb.rounds) if x == x and y == y]
        d = statistics.median(diffs) if diffs else None
        sec.targets.append(Target("run --rm of a 20-layer image within +3 ms of busybox",
                                  None if d is None else d <= 3.0, "not judged" if d is None else f"{d:+.1f} ms"))
    gb = _gigabyte_layout(b.workdir)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{gb}:latest",
                    f"docker://{reg}/gb:latest"], check=True, capture_output=True, timeout=600)
    d = fresh()
    rss = _max_rss_kb([nsrun, "--root", d, "pull", "-q", f"{reg}/gb"])
    drop(d)
    sec.targets.append(Target("pulling a 1 GB layer keeps nsrun's RSS under 64 MB", None if rss is None else
                              rss < 64 * 1024, "not judged: the pull failed" if rss is None else
                              f"{rss / 1024:.1f} MB peak RSS"))
    sec.notes.append(f"the layer unpacked: {largest['size'] / 1e6:.1f} MB gzip; pull and skopeo each start from an "
                     "empty store; the 1 GB layer is one file of zeros (gzip ~5 MB): what stays bounded is memory")
    return sec
