"""Image archives against the real tools: images made here (several layers, a whiteout, an opaque directory, a
setuid file, a file capability, a hard link), written by skopeo as ``docker-archive:`` and ``oci-archive:`` and
loaded and run by nsrun; ``nsrun image save`` read back by skopeo; save -> rm -> load keeps the image id; an
imported image pushed to a real registry and copied back by skopeo; hostile archives refused leaving nothing."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registryenv as R  # noqa: E402

pytestmark = pytest.mark.privileged

# VFS_CAP_REVISION_2 with the effective bit; cap_net_raw (13) permitted
CAP = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)
BUSYBOX = next(p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p))


def _tar(entries: list[tuple]) -> tuple[bytes, str]:
    """A gzip layer of (name, kind, extra) entries; its blob and diff id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, *rest in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            data = b""
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "link":
                info.type, info.linkname, info.mode = tarfile.LNKTYPE, rest[0], 0o644
            elif kind == "sym":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, rest[0], 0o777
            else:
                data, info.mode = rest[0], rest[1] if len(rest) > 1 else 0o644
                if len(rest) > 2:
                    info.pax_headers = rest[2]
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


def _layers() -> list[list[tuple]]:
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    return [
        [("bin", "dir"), ("bin/busybox", "file", bb, 0o755), ("bin/sh", "sym", "/bin/busybox"),
         ("etc", "dir"), ("etc/gone", "file", b"deleted above\n"), ("opq", "dir"), ("opq/lower", "file", b"low\n")],
        [("etc", "dir"), ("etc/.wh.gone", "file", b""), ("usr", "dir"),
         ("usr/su", "file", b"setuid\n", 0o4755), ("usr/ping", "file", b"cap\n", 0o755,
                                                     {"SCHILY.xattr.security.capability": CAP.decode("latin-1")}),
         ("usr/hard", "link", "usr/su")],
        [("opq", "dir"), ("opq/.wh..wh..opq", "file", b""), ("opq/upper", "file", b"up\n"),
         ("etc", "dir"), ("etc/motd", "file", b"hello from layer 3\n")],
    ]


@pytest.fixture(scope="module")
def oci(tmp_path_factory):
    """An OCI layout (``oci:DIR:v1``) of the three-layer image."""
    lay = R.OciLayout(str(tmp_path_factory.mktemp("oci")))
    descs, diff_ids = [], []
    for entries in _layers():
        gz, diff_id = _tar(entries)
        descs.append(lay.blob(gz, R.OCI_LAYER))
        diff_ids.append(diff_id)
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"], "Env": ["A=1"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = lay.blob(json.dumps(config).encode(), R.OCI_CONFIG)
    manifest = lay.blob(json.dumps({"schemaVersion": 2, "mediaType": R.OCI_MANIFEST, "config": cdesc,
                                    "layers": descs}).encode(), R.OCI_MANIFEST)
    lay.tag(manifest, "v1")
    lay.config_digest = cdesc["digest"]
    return lay


def _check_runs(nsrun, image: str) -> None:
    out = nsrun("run", "--rm", image, "/bin/busybox", "sh", "-c",
                "cat /etc/motd; ls /opq; stat -c '%a %h' /usr/su; ls /etc/gone 2>&1 || true", check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "hello from layer 3"
    assert lines[1:2] == ["upper"], out  # the opaque directory hides the lower layer's file
    assert lines[2] == "4755 2", out      # setuid kept, hard link kept
    assert "No such file" in lines[3], out  # the whiteout deleted it


def _capability(nsrun_root: str, image: str) -> bytes:
    from nsrun._context import Paths
    from nsrun.image.store import Images, visible_root
    lowers, _ = Images(Paths.from_root(nsrun_root)).resolve(image)
    return os.getxattr(os.path.join(visible_root(lowers, "usr/ping"), "usr/ping"), "security.capability")


def test_skopeo_docker_archive_and_oci_archive_load_and_run(oci, nsrun, nsrun_root, tmp_path):
    docker_tar, oci_tar = str(tmp_path / "d.tar"), str(tmp_path / "o.tar")
    R.skopeo("copy", f"oci:{oci.dir}:v1", f"docker-archive:{docker_tar}:app:v1")
    R.skopeo("copy", f"oci:{oci.dir}:v1", f"oci-archive:{oci_tar}:v1")
    out = nsrun("image", "load", "-i", docker_tar, check=True).stdout
    assert out.strip() == "Loaded image: app:v1"
    _check_runs(nsrun, "app:v1")
    assert _capability(nsrun_root, "app:v1") == CAP
    assert nsrun("image", "inspect", "app:v1", check=True).stdout.count(oci.config_digest) >= 1
    # the OCI archive through the transport hook, by its ref.name
    out = nsrun("pull", f"oci-archive:{oci_tar}:v1", check=True).stdout
    assert out.strip() == f"Loaded image ID: {oci.config_digest}"
    nsrun("image", "tag", oci.config_digest, "fromoci", check=True)
    _check_runs(nsrun, "fromoci")
    # gzip-compressed archive on stdin
    with open(docker_tar, "rb") as f:
        gz = gzip.compress(f.read(), compresslevel=1)
    res = subprocess.run([*_argv(nsrun), "image", "load"], input=gz, capture_output=True, timeout=60)
    assert res.returncode == 0 and b"Loaded image: app:v1" in res.stdout, res.stderr


def _argv(nsrun) -> list[str]:
    from conftest import NSRUN
    return [NSRUN, "--root", nsrun.root]


def _layer_files(tar_bytes_or_path) -> dict[str, tuple]:
    f = open(tar_bytes_or_path, "rb") if isinstance(tar_bytes_or_path, str) else io.BytesIO(tar_bytes_or_path)
    out = {}
    with tarfile.open(fileobj=f, mode="r:*") as tf:
        for m in tf:
            data = tf.extractfile(m).read() if m.isfile() else b""
            xattrs = {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            out[m.name.rstrip("/")] = (m.type, m.mode, m.uid, m.gid, m.linkname, hashlib.sha256(data).hexdigest(),
                                       xattrs)
    return out


def _oci_layers(d: str, tag: str | None = None) -> list[dict]:
    with open(os.path.join(d, "index.json")) as f:
        index = json.load(f)
    entry = index["manifests"][0]
    with open(os.path.join(d, "blobs", "sha256", entry["digest"][7:])) as f:
        manifest = json.load(f)
    return [_layer_files(os.path.join(d, "blobs", "sha256", desc["digest"][7:])) for desc in manifest["layers"]]


def test_save_is_read_by_skopeo_and_round_trips(oci, nsrun, tmp_path):
    docker_tar = str(tmp_path / "d.tar")
    R.skopeo("copy", f"oci:{oci.dir}:v1", f"docker-archive:{docker_tar}:app:v1")
    nsrun("image", "load", "-i", docker_tar, check=True)
    image_id = json.loads(nsrun("image", "inspect", "app:v1", check=True).stdout)[0]["Id"]
    saved = str(tmp_path / "saved.tar")
    nsrun("image", "save", "-o", saved, "app:v1", check=True)
    info = json.loads(R.skopeo("inspect", f"docker-archive:{saved}"))
    assert len(info["Layers"]) == 3
    out = str(tmp_path / "back")
    R.skopeo("copy", f"docker-archive:{saved}", f"oci:{out}:v1")
    assert _oci_layers(out) == _oci_layers(oci.dir)  # every entry: type, mode, owner, link, content, xattrs
    R.skopeo("inspect", f"oci-archive:{saved}")  # the OCI layout in the same tar reads too
    nsrun("image", "rm", "app:v1", check=True)
    assert nsrun("image", "load", "-i", saved, check=True).stdout.strip() == "Loaded image: app:v1"
    assert json.loads(nsrun("image", "inspect", "app:v1", check=True).stdout)[0]["Id"] == image_id
    _check_runs(nsrun, "app:v1")


def test_imported_image_is_pushed_and_skopeo_reads_it_back(nsrun, nsrun_root, tmp_path):
    plain = b"".join(gzip.decompress(_tar(e)[0]) for e in [_layers()[1]])
    rootfs = tmp_path / "root.tar"
    rootfs.write_bytes(plain)
    reg = R.RegistryServer(str(tmp_path / "reg"))
    try:
        nsrun("image", "import", str(rootfs), f"{reg.host}/imported:v1", check=True)
        # the whiteout became an overlay whiteout in the layer directory; the blob turns it back
        nsrun("push", "-q", f"{reg.host}/imported:v1", check=True)
        out = str(tmp_path / "back")
        R.skopeo("copy", "--src-tls-verify=false", f"docker://{reg.host}/imported:v1", f"oci:{out}:v1")
        files = _oci_layers(out)[0]
        assert files["usr/hard"][1] == 0o4755  # sorted entries: the first name is the file, the next links to it
        assert files["usr/su"][0] == tarfile.LNKTYPE and files["usr/su"][4] == "usr/hard"
        assert files["usr/ping"][6]["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == CAP
        assert files["etc/.wh.gone"][0] == tarfile.REGTYPE
        first = hashlib.sha256(open(os.path.join(out, "index.json"), "rb").read()).hexdigest()
        nsrun("push", "-q", f"{reg.host}/imported:v1", check=True)  # the same blob again: made once
        shutil.rmtree(out)
        R.skopeo("copy", "--src-tls-verify=false", f"docker://{reg.host}/imported:v1", f"oci:{out}:v1")
        assert hashlib.sha256(open(os.path.join(out, "index.json"), "rb").read()).hexdigest() == first
        nsrun("image", "rm", f"{reg.host}/imported:v1", check=True)
        nsrun("pull", "-q", f"{reg.host}/imported:v1", check=True)  # nsrun reads back what it pushed
    finally:
        reg.stop()


# -- hostile archives -----------------------------------------------------------------------------------------
def _archive(members: list[tuple[str, bytes]], links: list[tuple[str, str]] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


def _good_members() -> list[tuple[str, bytes]]:
    gz, diff_id = _tar([("f", "file", b"x\n")])
    raw = gzip.decompress(gz)
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    ch = hashlib.sha256(config).hexdigest()
    return [(f"{ch}.json", config), ("l1/layer.tar", raw),
            ("manifest.json", json.dumps([{"Config": f"{ch}.json", "RepoTags": ["bad:1"],
                                          "Layers": ["l1/layer.tar"]}]).encode())]


def _hostile_cases() -> dict[str, tuple[bytes, str]]:
    good = _good_members()
    wrong_diff = [(n, d if n != "l1/layer.tar" else gzip.decompress(_tar([("g", "file", b"y")])[0]))
                  for n, d in good]
    bad_blob = [("blobs/sha256/" + "0" * 64, b"not that"), *good]
    return {
        "json": (_archive([("manifest.json", b"[{not json")]), "not valid JSON"),
        "outside": (_archive([("../evil", b"x"), *good]), "leaves the archive"),
        "link-outside": (_archive(good, [("l2/layer.tar", "../../etc/passwd")]), "outside the archive"),
        "missing": (_archive(good[:1] + good[2:]), "missing from the archive"),
        "digest": (_archive(bad_blob), "failed verification"),
        "diff_id": (_archive(wrong_diff), "does not match its diff_id"),
        "not-a-tar": (b"\x1f\x8b" + b"garbage" * 100, "not a valid tar"),
    }


@pytest.mark.parametrize("case", sorted(_hostile_cases()))
def test_hostile_archive_is_one_line_and_leaves_nothing(case, nsrun, nsrun_root, tmp_path):
    nsrun("image", "inspect", "busybox", check=True)  # the store exists, with one image
    data, message = _hostile_cases()[case]
    path = tmp_path / "bad.tar"
    path.write_bytes(data)

    def state() -> tuple:
        blobs = os.path.join(nsrun_root, "content", "blobs", "sha256")
        ingest = os.path.join(nsrun_root, "content", "ingest")
        return (sorted(os.listdir(blobs)) if os.path.isdir(blobs) else [],
                sorted(os.listdir(ingest)) if os.path.isdir(ingest) else [],
                sorted(os.listdir(os.path.join(nsrun_root, "layers"))), nsrun("image", "ls", "-q").stdout)
    before = state()
    res = nsrun("image", "load", "-i", str(path))
    assert res.returncode == 125, res
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert state() == before
