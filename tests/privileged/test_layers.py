"""Layered images with real mounts: layer tars built here (gzip, zstd, plain), unpacked by the store, stacked
by overlayfs, checked from inside a container; sharing, removal, hostile layers, gc of a killed unpack."""
from __future__ import annotations

import gzip
import io
import os
import signal
import struct
import subprocess
import tarfile
import time

import pytest
import zstandard

from nsrun import Paths
from nsrun._images import Images

ALL_BUT_USER = "pid,mnt,ipc,uts,sec"
CAP_NET_BIND_SERVICE = 10


def _vfs_cap(bit: int) -> bytes:
    """A VFS_CAP_REVISION_2 ``security.capability`` value: the capability permitted and effective."""
    return struct.pack("<IIIII", 0x02000000 | 1, 1 << bit, 0, 0, 0)


class Layer:
    """A layer tar built in memory (PAX format, as registries' layers are)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
            link: str = "", xattrs: dict[str, bytes] | None = None, uid: int = 0) -> "Layer":
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.linkname, info.uid, info.gid = kind, mode, link, uid, uid
        info.mtime = 1_600_000_000
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        self.tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        return self

    def dir(self, name: str, mode: int = 0o755) -> "Layer":
        return self.add(name, tarfile.DIRTYPE, mode=mode)

    def write(self, path, compression: str = "tar") -> str:
        self.tf.close()
        data = self.buf.getvalue()
        if compression == "gzip":
            data = gzip.compress(data)
        elif compression == "zstd":
            data = zstandard.ZstdCompressor().compress(data)
        with open(path, "wb") as f:
            f.write(data)
        return str(path)


def _busybox_layer(nsrun, nsrun_root, path) -> str:
    """The built-in busybox image's layer, as a tar: the base of the images made here."""
    nsrun("run", "--rm", "busybox", "true", check=True)
    with tarfile.open(path, "w") as tf:
        tf.add(Images(Paths.from_root(nsrun_root)).rootfs("busybox"), arcname=".")
    return str(path)


def _store(nsrun_root: str) -> tuple[set[str], set[str]]:
    """(layer directories, image records) of the root."""
    layers = os.path.join(nsrun_root, "layers")
    records = os.path.join(nsrun_root, "images", "sha256")
    ls = lambda d: set(os.listdir(d)) - {".lock"} if os.path.isdir(d) else set()  # noqa: E731
    return ls(layers), ls(records)


@pytest.fixture
def layered(nsrun, nsrun_root, tmp_path):
    """An image of busybox + three layers: deletions, an opaque dir, setuid, a capability, links."""
    base = _busybox_layer(nsrun, nsrun_root, tmp_path / "base.tar")
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    l1 = (Layer().dir("data").add("data/keep", data=b"kept\n").add("data/gone", data=b"deleted later\n")
          .add("data/hard", tarfile.LNKTYPE, link="data/keep").add("data/sym", tarfile.SYMTYPE, link="keep")
          .dir("opq").add("opq/lower1", data=b"1").add("opq/lower2", data=b"2")
          .add("bin/suid", data=b"#!/bin/sh\n", mode=0o4755)
          .add("bin/busybox-cap", data=busybox, mode=0o755,
               xattrs={"security.capability": _vfs_cap(CAP_NET_BIND_SERVICE)})
          .write(tmp_path / "l1.tar.gz", "gzip"))
    l2 = (Layer().add("data/.wh.gone").add("opq/.wh..wh..opq").add("opq/upper", data=b"u")
          .write(tmp_path / "l2.tar.zst", "zstd"))
    l3 = Layer().add("data/new", data=b"new\n", uid=1000).write(tmp_path / "l3.tar")
    nsrun("image", "import", base, l1, l2, l3, "layered:1", check=True)
    yield "layered:1"
    nsrun("image", "rm", "layered:1")


@pytest.mark.parametrize("plugins", [ALL_BUT_USER, "user," + ALL_BUT_USER])
def test_a_layered_image_shows_its_top_layers_view(nsrun, layered, plugins):
    script = ("ls /data | tr '\\n' ' '; echo; ls /opq | tr '\\n' ' '; echo; "
              "stat -c '%a %u %g %h %n' /bin/suid /data/keep /data/new /bin/busybox /etc; readlink /data/sym; "
              "cat /data/hard")
    out = nsrun("--plugins", plugins, "run", "--rm", layered, "sh", "-c", script, check=True).stdout.splitlines()
    assert out[0].split() == ["hard", "keep", "new", "sym"]  # gone: whited out by l2
    assert out[1].split() == ["upper"]                       # opaque: l1's files hidden
    assert out[2] == "4755 0 0 1 /bin/suid"
    assert out[3] == "644 0 0 2 /data/keep"                  # the hard link
    assert out[4] == "644 1000 1000 1 /data/new"
    assert out[5].split()[1:3] == ["0", "0"] and out[6].split()[1:3] == ["0", "0"]
    assert out[7:] == ["keep", "kept"]
    # The file capability: an unprivileged user running the binary gains exactly that capability (without sec,
    # which sets no_new_privs: then file capabilities are never gained, as setuid bits are not).
    caps = nsrun("--plugins", plugins.replace(",sec", ""), "run", "--rm", "-u", "1000", layered, "/bin/busybox-cap", "grep", "CapEff",
                 "/proc/self/status", check=True).stdout.split()
    assert int(caps[1], 16) == 1 << CAP_NET_BIND_SERVICE


def test_the_store_keeps_owners_modes_xattrs_and_whiteouts_on_disk(nsrun, nsrun_root, layered):
    lowers = Images(Paths.from_root(nsrun_root)).lowerdirs(layered)
    assert len(lowers) == 4
    top2 = lowers[1]  # l2
    st = os.lstat(os.path.join(top2, "data/gone"))
    assert (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0
    assert os.getxattr(os.path.join(top2, "opq"), "trusted.overlay.opaque") == b"y"
    l1 = lowers[2]
    assert os.getxattr(os.path.join(l1, "bin/busybox-cap"), "security.capability") == _vfs_cap(CAP_NET_BIND_SERVICE)
    assert os.stat(os.path.join(l1, "data/keep")).st_mtime == 1_600_000_000


def test_128_layers_run(nsrun, nsrun_root, tmp_path):
    base = _busybox_layer(nsrun, nsrun_root, tmp_path / "base.tar")
    tars = [base] + [Layer().add(f"layers/{i:03d}", data=str(i).encode()).write(tmp_path / f"l{i}.tar")
                     for i in range(127)]
    nsrun("image", "import", *tars, "tall", check=True, timeout=300)
    assert len(Images(Paths.from_root(nsrun_root)).lowerdirs("tall")) == 128
    for plugins in (ALL_BUT_USER, "user," + ALL_BUT_USER):
        out = nsrun("--plugins", plugins, "run", "--rm", "tall", "sh", "-c", "ls /layers | wc -l; cat /layers/126",
                    check=True).stdout.split()
        assert out == ["127", "126"]
    nsrun("image", "rm", "tall", check=True)


def test_images_share_layers_and_rm_frees_only_unshared_ones(nsrun, nsrun_root, tmp_path):
    base = _busybox_layer(nsrun, nsrun_root, tmp_path / "base.tar")
    common = Layer().add("common", data=b"c").write(tmp_path / "common.tar")
    a = Layer().add("only-a", data=b"a").write(tmp_path / "a.tar")
    b = Layer().add("only-b", data=b"b").write(tmp_path / "b.tar")
    layers0, _ = _store(nsrun_root)  # busybox's
    nsrun("image", "import", base, common, a, "img-a", check=True)
    layers_a, _ = _store(nsrun_root)
    nsrun("image", "import", base, common, b, "img-b", check=True)
    layers_ab, records = _store(nsrun_root)
    assert len(layers_a) == len(layers0) + 3  # a tar of busybox (not its own tar: another diff_id), common, a
    assert len(layers_ab) == len(layers_a) + 1 and len(records) == 3
    nsrun("run", "--name", "user-of-a", "img-a", "true", check=True)
    refused = nsrun("image", "rm", "img-a")
    assert refused.returncode != 0 and "in use" in refused.stderr and len(refused.stderr.splitlines()) == 1
    nsrun("rm", "user-of-a", check=True)
    top_a = Images(Paths.from_root(nsrun_root)).get("img-a")["layers"][-1][7:]
    nsrun("image", "rm", "img-a", check=True)
    assert _store(nsrun_root)[0] == layers_ab - {top_a}  # only img-a's own top layer went
    assert nsrun("run", "--rm", "img-b", "cat", "/common", "/only-b", check=True).stdout == "cb"
    nsrun("image", "rm", "img-b", check=True)
    assert _store(nsrun_root)[0] == layers0


HOSTILE = [
    pytest.param(lambda decoy: Layer().add("/abs", data=b"x"), "leaves the image", id="absolute"),
    pytest.param(lambda decoy: Layer().add("../escape", data=b"x"), "leaves the image", id="dotdot"),
    pytest.param(lambda decoy: Layer().dir("a").add("a/../../escape", data=b"x"), "leaves the image",
                 id="inner-dotdot"),
    pytest.param(lambda decoy: Layer().add("etc", tarfile.SYMTYPE, link=str(decoy)).add("etc/pwned", data=b"x"),
                 "through a link", id="symlink-out-then-write"),
    pytest.param(lambda decoy: Layer().add("shadow", tarfile.LNKTYPE, link="../../../etc/shadow"),
                 "leaves the image", id="hardlink-out"),
    pytest.param(lambda decoy: Layer().add("passwd", tarfile.LNKTYPE, link="etc/passwd"), "refusing hard link",
                 id="hardlink-to-a-lower-layer"),
    pytest.param(lambda decoy: Layer().dir("d").add("d/.wh.."), "refusing whiteout", id="whiteout-dotdot"),
]


@pytest.mark.parametrize("make, words", HOSTILE)
def test_hostile_layers_are_refused_and_leave_nothing(nsrun, nsrun_root, tmp_path, make, words):
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    layer = make(decoy)
    base = Layer().add("etc/passwd", data=b"root:x:0:0::/:/bin/sh\n").write(tmp_path / "base.tar.gz", "gzip")
    evil = layer.write(tmp_path / "evil.tar")
    result = nsrun("image", "import", base, evil, "evil")
    assert result.returncode == 125, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr, result.stderr
    assert list(decoy.iterdir()) == [] and not (tmp_path.parent / "escape").exists() and not os.path.exists("/abs")
    assert _store(nsrun_root) == (set(), set())  # the base layer made by this import was freed again


def test_gc_removes_a_killed_unpack(nsrun, nsrun_root, tmp_path):
    big = Layer()
    for i in range(400):
        big.add(f"f{i}", data=os.urandom(256 << 10))
    tar = big.write(tmp_path / "big.tar.gz", "gzip")
    layers = os.path.join(nsrun_root, "layers")
    for _ in range(20):
        proc = nsrun.popen("image", "import", tar, "big", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.isdir(layers) and any(".tmp" in n for n in os.listdir(layers)):
                break
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if any(".tmp" in n for n in os.listdir(layers)):
            break
        nsrun("image", "rm", "big")
    staged = {n for n in os.listdir(layers) if ".tmp" in n}
    assert staged, "never caught the import while it unpacked"
    nsrun("gc", check=True)
    assert not {n for n in os.listdir(layers) if ".tmp" in n}
    assert "big" not in nsrun("image", "ls", check=True).stdout
    nsrun("image", "rm", "big")
