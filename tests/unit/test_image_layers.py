"""Pure pieces of the layer store: chain ids, stream detection, tar number and PAX parsing, path checks, and an
unpack of a harmless layer into a temporary directory (as the calling user: no root needed)."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

import pytest

from nsrun.errors import ConfigError
from nsrun.image import layers, layerstream, unpack
from nsrun.image.store import normalize

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def test_chain_ids_follow_the_oci_formula():
    assert layers.chain_ids([]) == []
    assert layers.chain_ids([D1]) == [D1]
    second = "sha256:" + hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()
    assert layers.chain_ids([D1, D2]) == [D1, second]
    third = "sha256:" + hashlib.sha256(f"{second} {D1}".encode()).hexdigest()
    assert layers.chain_ids([D1, D2, D1])[2] == third


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "a" * 64, "sha256:" + "A" * 64, "", None])
def test_digests_are_checked(bad):
    with pytest.raises(ConfigError):
        layers.chain_ids([bad])


def test_streams_are_told_apart_by_magic():
    assert layerstream.detect(b"\x1f\x8b\x08\x00") == "gzip"
    assert layerstream.detect(b"\x28\xb5\x2f\xfd") == "zstd"
    assert layerstream.detect(b"etc/") == "tar"


def test_tar_numbers_octal_and_base256():
    assert unpack._num(b"0000644\x00") == 0o644
    assert unpack._num(b"   \x00\x00") == 0
    assert unpack._num(bytes([0x80]) + (10 ** 12).to_bytes(11, "big")) == 10 ** 12
    with pytest.raises(ConfigError):
        unpack._num(b"zz\x00")


def test_pax_records_keep_xattrs_as_bytes():
    cap = b"\x01\x00\x00\x02\xff\n="
    body = b"".join(_record(k, v) for k, v in ((b"path", "dir/ünï".encode()), (b"SCHILY.xattr.security.capability", cap)))
    pax = unpack._pax(body)
    assert pax["path"] == "dir/ünï" and pax["SCHILY.xattr.security.capability"] == cap
    assert unpack._ns("1600000000.5") == 1_600_000_000_500_000_000


def _record(key: bytes, value: bytes) -> bytes:
    rec = b" " + key + b"=" + value + b"\n"
    n = len(rec) + 1
    while len(str(n)) + len(rec) != n:
        n = len(str(n)) + len(rec)
    return str(n).encode() + rec


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a/.."])
def test_paths_that_leave_the_layer_are_refused(name):
    with pytest.raises(ConfigError, match="leaves the image"):
        unpack.safe_parts(name)


def test_normalize():
    assert normalize("busybox:latest") == "busybox" and normalize("a/b:1") == "a/b:1"
    with pytest.raises(ConfigError):
        normalize("Bad Name")


def test_unpack_gzip_layer_and_diff_id(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("d/f", b"hello"), ("d/big", os.urandom(3 << 20))):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o640, os.getuid(), os.getgid(), 1234.5
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("d/l")
        link.type, link.linkname, link.uid, link.gid = tarfile.SYMTYPE, "f", os.getuid(), os.getgid()
        tf.addfile(link)
    tar = raw.getvalue()
    want = "sha256:" + hashlib.sha256(tar).hexdigest()
    dest = tmp_path / "diff"
    dest.mkdir()
    done = unpack.unpack(io.BytesIO(gzip.compress(tar)), str(dest), want)
    assert done.diff_id == want and done.size == 5 + (3 << 20)
    assert (dest / "d/f").read_bytes() == b"hello" and os.readlink(dest / "d/l") == "f"
    st = os.stat(dest / "d/f")
    assert st.st_mode & 0o7777 == 0o640 and st.st_mtime_ns == 1_234_500_000_000
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ConfigError, match="does not match"):
        unpack.unpack(io.BytesIO(tar), str(other), D1)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
def test_every_mode_is_kept_whichever_umask_and_whether_open_or_fchmod_sets_it(tmp_path, umask):
    """Files the umask would not change get their mode from open (no fchmod); the rest, and setuid, setgid and
    sticky bits, from fchmod: either way the mode is the tar's, exactly."""
    modes = (0o644, 0o755, 0o664, 0o777, 0o600, 0o400, 0o000, 0o4755, 0o2755, 0o1777, 0o6711)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for mode in modes:
            info = tarfile.TarInfo(f"f{mode:o}")
            info.size, info.mode, info.uid, info.gid = 1, mode, os.getuid(), os.getgid()
            tf.addfile(info, io.BytesIO(b"x"))
    dest = tmp_path / "diff"
    dest.mkdir()
    old = os.umask(umask)
    try:
        unpack.unpack(io.BytesIO(raw.getvalue()), str(dest))
    finally:
        os.umask(old)
    got = {mode: os.stat(dest / f"f{mode:o}").st_mode & 0o7777 for mode in modes}
    assert got == {mode: mode for mode in modes}
    assert (dest / "f0").read_bytes() == b"x"  # a 0000 file was still written


def test_truncated_and_garbage_streams_are_refused(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("f")
        data = os.urandom(100000)
        info.size, info.uid, info.gid = len(data), os.getuid(), os.getgid()
        tf.addfile(info, io.BytesIO(data))
    for n, blob in enumerate((raw.getvalue()[:50000], gzip.compress(raw.getvalue())[:30000], b"\x01junk" * 200)):
        dest = tmp_path / str(n)
        dest.mkdir()
        with pytest.raises(ConfigError):
            unpack.unpack(io.BytesIO(blob), str(dest))


@pytest.mark.parametrize("use_zlib", [False, True], ids=["isal", "zlib-fallback"])
def test_gzip_inflaters_agree_on_content_members_and_corruption(tmp_path, monkeypatch, use_zlib):
    import zlib
    if use_zlib:
        monkeypatch.setattr(layerstream, "_inflater", lambda: (zlib, (zlib.error,)))
    else:
        assert layerstream._inflater()[0].__name__.endswith("isal_zlib")  # a dependency: the fast path is the one run
    text = b"".join(b"line %d of a text file\n" % i for i in range(200000))
    stream = gzip.compress(text[:1000]) + gzip.compress(text[1000:])  # two members: one stream, as gzip -d reads it
    assert b"".join(layerstream.decompressed(io.BytesIO(stream))) == text
    corrupt = bytearray(gzip.compress(text))
    corrupt[len(corrupt) // 2:len(corrupt) // 2 + 64] = b"\xff" * 64
    with pytest.raises(ConfigError, match="^layer: (cannot decompress|the gzip stream)"):
        b"".join(layerstream.decompressed(io.BytesIO(bytes(corrupt))))
    with pytest.raises(ConfigError, match="truncated"):
        b"".join(layerstream.decompressed(io.BytesIO(gzip.compress(text)[:5000])))


def test_layers_dir_gets_the_topdir_hint_where_the_fs_has_it_and_is_left_alone_elsewhere(tmp_path):
    import fcntl
    import struct
    layers._mark_top(str(tmp_path))  # never raises: tmpfs/overlay/xfs have no such flag
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, layers._FS_IOC_GETFLAGS, b"\0" * 4))[0]
    except OSError:
        return  # no inode flags on this file system: nothing was set, nothing failed
    finally:
        os.close(fd)
    try:  # a file system with inode flags but without TOPDIR (btrfs) refuses it: that is fine too
        assert flags & layers._FS_TOPDIR_FL
    except AssertionError:
        assert os.statvfs(str(tmp_path)) and _fstype(str(tmp_path)) not in ("ext2", "ext3", "ext4")


def _fstype(path: str) -> str:
    best, kind = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype, *_ = line.split()
            if path.startswith(mnt) and len(mnt) > len(best):
                best, kind = mnt, fstype
    return kind
