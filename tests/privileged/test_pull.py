"""``nsrun pull``, ``push``, ``run --pull`` and the image commands, as a user runs them, against Debian's real
``docker-registry`` on 127.0.0.1 and with ``skopeo`` as the independent client that pushes the images the tests
make (busybox plus layers with a whiteout, an opaque directory and a setuid file) and reads back what nsrun
pushes."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import registryenv as R  # noqa: E402

from nsrun import Paths  # noqa: E402
from nsrun._images import Images  # noqa: E402

pytestmark = pytest.mark.privileged


def _tar(members: list[tuple[str, str, bytes | None, int]]) -> bytes:
    """A layer tar: (name, kind: file|dir, data, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 1700000000
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
    return buf.getvalue()


def _add_image(lay: R.OciLayout, tars: list[bytes], tag: str, cmd: list[str], arch: str = "amd64") -> dict:
    descs, diff_ids = [], []
    for raw in tars:
        descs.append(lay.blob(gzip.compress(raw, mtime=0), R.OCI_LAYER))
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    config = {"architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
              "config": {"Cmd": cmd, "Env": ["PATH=/bin:/usr/bin", "FROM_IMAGE=yes"], "WorkingDir": "/srv",
                         "Labels": {"made.by": "test_pull"}},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = lay.blob(json.dumps(config).encode(), R.OCI_CONFIG)
    desc = lay.blob(json.dumps({"schemaVersion": 2, "mediaType": R.OCI_MANIFEST, "config": cdesc,
                                "layers": descs}).encode(), R.OCI_MANIFEST)
    lay.tag(desc, tag)
    return desc


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry holding ``app:v1`` (busybox + 2 layers: a whiteout, an opaque dir, a setuid file)."""
    from nsrun import Paths as P
    scratch = tmp_path_factory.mktemp("pullimg")
    root = str(scratch / "root")
    os.makedirs(root, mode=0o700)
    busybox_dir = Images(P.from_root(root)).rootfs("busybox")  # the built-in image, made here
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(busybox_dir, arcname=".")
    base = buf.getvalue()
    Images(P.from_root(root)).remove("busybox", [])
    mid = _tar([("srv", "dir", None, 0o755), ("srv/gone", "file", b"deleted above\n", 0o644),
                ("srv/keep", "file", b"kept\n", 0o644), ("opq", "dir", None, 0o755),
                ("opq/old", "file", b"hidden by the opaque dir\n", 0o644)])
    top = _tar([("srv/.wh.gone", "file", b"", 0o644), ("opq", "dir", None, 0o755),
                ("opq/.wh..wh..opq", "file", b"", 0o644), ("opq/new", "file", b"new\n", 0o644),
                ("bin/suid", "file", b"#!/bin/sh\n", 0o4755)])
    lay = R.OciLayout(str(scratch / "oci"))
    _add_image(lay, [base, mid, top], "v1", ["sh", "-c", "echo default command"])
    fat = _tar([("fat", "file", os.urandom(12 << 20), 0o644)])  # 12 MB that gzip cannot shrink
    _add_image(lay, [base, fat], "fat", ["true"])
    _add_image(lay, [mid], "arm", ["true"], arch="arm64")  # a single manifest for another platform
    reg = R.RegistryServer(str(scratch / "registry"))
    try:
        R.skopeo("copy", "--dest-tls-verify=false", f"oci:{lay.dir}:v1", f"docker://{reg.host}/app:v1")
        R.skopeo("copy", "--dest-tls-verify=false", f"oci:{lay.dir}:v1", f"docker://{reg.host}/twin:v1")
        R.skopeo("copy", "--dest-tls-verify=false", f"oci:{lay.dir}:fat", f"docker://{reg.host}/fat:v1")
        R.skopeo("copy", "--dest-tls-verify=false", f"oci:{lay.dir}:arm", f"docker://{reg.host}/arm:v1")
        yield reg
    finally:
        reg.stop()


def _ids(nsrun, *refs):
    return [json.loads(nsrun("image", "inspect", r, check=True).stdout)[0]["Id"] for r in refs]


def test_pull_then_run_sees_the_layers_whiteouts_and_config(nsrun, nsrun_root, registry):
    ref = f"{registry.host}/app:v1"
    out = nsrun("pull", ref, check=True).stdout
    assert "Pulling fs layer" in out and "Digest: sha256:" in out and out.strip().endswith(ref)
    r = nsrun("run", "--rm", ref, "sh", "-c", "ls /srv; ls /opq; stat -c %a /bin/suid; pwd; echo $FROM_IMAGE",
              check=True)
    assert r.stdout.split() == ["keep", "new", "4755", "/srv", "yes"]
    assert nsrun("run", "--rm", ref, check=True).stdout == "default command\n"  # the image's Cmd
    [info] = json.loads(nsrun("image", "inspect", ref, check=True).stdout)
    assert info["RepoTags"] == [ref]
    assert info["RepoDigests"][0].startswith(f"{registry.host}/app@sha256:")
    assert info["Config"]["Labels"] == {"made.by": "test_pull"} and len(info["RootFS"]["Layers"]) == 3
    ls = nsrun("image", "ls", check=True).stdout.splitlines()
    assert any(line.split()[:2] == [f"{registry.host}/app", "v1"] for line in ls), ls
    again = nsrun("pull", ref, check=True).stdout
    assert again.count("Already exists") == 3


def test_run_pulls_a_missing_image_and_never_does_not(nsrun, registry):
    ref = f"{registry.host}/app:v1"
    r = nsrun("run", "--rm", "--pull", "never", ref, "true")
    assert r.returncode == 125 and r.stderr.strip().splitlines() == [f"nsrun: Unable to find image '{ref}' locally"]
    r = nsrun("run", "--rm", ref, "cat", "/srv/keep", check=True)
    assert r.stdout == "kept\n" and f"Unable to find image '{ref}' locally" in r.stderr
    assert nsrun("run", "--rm", "--pull", "always", ref, "true", check=True).returncode == 0
    r = nsrun("run", "--rm", "--pull", "sometimes", ref, "true")
    assert r.returncode == 125 and "invalid pull option" in r.stderr


def test_an_image_for_another_platform_only_is_one_line_and_no_layer(nsrun, nsrun_root, registry):
    ref = f"{registry.host}/arm:v1"
    for argv in (("pull", ref), ("run", "--rm", ref, "true")):
        r = nsrun(*argv)
        assert r.returncode == 125, r
        assert r.stderr.strip().splitlines()[-1] == \
            f"nsrun: {ref}: no matching manifest for linux/amd64: the image is for linux/arm64 only", r.stderr
    layers = os.path.join(nsrun_root, "layers")
    assert [n for n in (os.listdir(layers) if os.path.isdir(layers) else []) if not n.endswith(".lock")] == []
    assert "arm" not in nsrun("image", "ls", check=True).stdout
    out = nsrun("pull", "-q", "--platform", "linux/arm64", ref, check=True).stdout  # asked for: taken
    assert out.strip() == ref


def test_push_is_read_back_by_skopeo(nsrun, registry, tmp_path):
    src, dst = f"{registry.host}/app:v1", f"{registry.host}/copy:v2"
    nsrun("pull", src, check=True)
    nsrun("image", "tag", src, dst, check=True)
    out = nsrun("push", dst, check=True).stdout
    assert "digest: sha256:" in out
    R.skopeo("copy", "--src-tls-verify=false", f"docker://{dst}", f"oci:{tmp_path}/back:v2")
    a = json.loads(R.skopeo("inspect", "--tls-verify=false", f"docker://{src}"))
    b = json.loads(R.skopeo("inspect", f"oci:{tmp_path}/back:v2"))
    assert a["Layers"] == b["Layers"] and a["Digest"] == b["Digest"]  # the very same blobs and manifest


@pytest.mark.parametrize("case", ["unknown tag", "registry down", "bad reference"])
def test_bad_pulls_fail_with_one_line_and_leave_nothing(nsrun, nsrun_root, registry, case):
    ref = {"unknown tag": f"{registry.host}/app:nope", "registry down": f"127.0.0.1:{R.free_port()}/app:v1",
           "bad reference": "UPPER/Case::x"}[case]
    r = nsrun("pull", ref)
    assert r.returncode == 125, r
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for sub in ("layers", os.path.join("content", "ingest")):
        d = os.path.join(nsrun_root, sub)
        assert not [n for n in (os.listdir(d) if os.path.isdir(d) else []) if not n.endswith(".lock")], sub
    assert not [m for m in json.loads(nsrun("image", "inspect", ref).stdout or "[]")]


def test_image_rm_frees_layers_and_blobs_no_other_image_uses(nsrun, nsrun_root, registry):
    ref = f"{registry.host}/app:v1"
    nsrun("pull", ref, check=True)
    nsrun("run", "-d", "--name", "user1", ref, "sleep", "30", check=True)
    try:
        r = nsrun("image", "rm", ref)
        assert r.returncode == 1 and "in use by container" in r.stderr
    finally:
        nsrun("rm", "-f", "user1", check=True)
    nsrun("image", "rm", ref, check=True)
    blobs = os.path.join(nsrun_root, "content", "blobs", "sha256")
    assert not os.listdir(blobs) if os.path.isdir(blobs) else True
    layers = [n for n in os.listdir(os.path.join(nsrun_root, "layers")) if not n.startswith(".")]
    assert layers == []


def test_a_pull_killed_at_any_point_leaves_nothing_after_gc(nsrun, nsrun_root, registry):
    import signal
    import subprocess
    import time
    ref = f"{registry.host}/app:v1"
    for delay in (0.0, 0.03, 0.06, 0.1, 0.15, 0.25):
        proc = nsrun.popen("pull", ref, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        nsrun("gc", check=True)
        done = nsrun("image", "inspect", ref).returncode == 0
        if done:  # it finished before the kill: a whole image; take it away again
            nsrun("image", "rm", ref, check=True)
        leftovers = {sub: [n for n in (os.listdir(os.path.join(nsrun_root, sub))
                                      if os.path.isdir(os.path.join(nsrun_root, sub)) else [])
                           if not n.endswith(".lock")]
                     for sub in ("layers", os.path.join("content", "ingest"), os.path.join("content", "blobs", "sha256"),
                                 os.path.join("images", "sha256"))}
        assert leftovers == {k: [] for k in leftovers}, (delay, leftovers)


def test_concurrent_pulls_of_images_sharing_layers(nsrun, nsrun_root, registry):
    import subprocess
    refs = [f"{registry.host}/app:v1", f"{registry.host}/twin:v1"] * 2
    procs = [nsrun.popen("pull", "-q", r, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in refs]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    layers = [n for n in os.listdir(os.path.join(nsrun_root, "layers")) if len(n) == 64]
    assert len(layers) == 3  # one directory per layer, shared by both images
    for r in refs[:2]:
        assert nsrun("run", "--rm", r, "cat", "/srv/keep", check=True).stdout == "kept\n"


def test_a_full_disk_fails_the_pull_with_one_line_and_leaves_nothing(nsrun, registry, tmp_path):
    import subprocess
    Runner = type(nsrun)  # the suite's CLI runner, for a root of our own
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m,mode=0700", "nsrtest-full", str(small)], check=True)
    try:
        nsrun = Runner(str(small))  # noqa: N806
        r = nsrun("pull", f"{registry.host}/fat:v1")
        assert r.returncode == 125, r
        assert len(r.stderr.strip().splitlines()) == 1 and "No space left on device" in r.stderr, r.stderr
        nsrun("gc", check=True)
        for sub in ("layers", os.path.join("content", "ingest"), os.path.join("images", "sha256")):
            d = small / sub
            assert not [n for n in (os.listdir(d) if d.is_dir() else []) if not n.endswith(".lock")], sub
        assert nsrun("run", "--rm", f"{registry.host}/app:v1", "true", check=True).returncode == 0  # still usable
        nsrun("system", "reset", check=True)
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
