"""The mnt plugin as an attacker meets it: device nodes made inside never open, paths inside a hostile image
never resolve on the host, ``:ro`` holds for submounts. Decoys only: a loop device over a scratch file,
scratch directories, images the tests build; each test is run from a default container and with the user
plugin where the attack applies to both."""
from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

from nsrun import Paths
from nsrun._images import Images

DEFAULT = ()
WITH_USER = ("--plugins", "user,pid,mnt,ipc,uts,sec")
MODES = pytest.mark.parametrize("plugins", [DEFAULT, WITH_USER], ids=["default", "user"])
PATTERN = b"DECOY-SECTOR-" * 40  # what the scratch file behind the loop device holds


@pytest.fixture
def scratch():
    """A scratch directory the mapped root of the user plugin can traverse (0755 up to /tmp)."""
    path = tempfile.mkdtemp(prefix="nsrscratch-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def loopdev(scratch):
    """(device path, major, minor, backing scratch file) of a loop device over a 1 MiB scratch file."""
    backing = os.path.join(scratch, "disk.img")
    with open(backing, "wb") as f:
        f.write(PATTERN.ljust(1 << 20, b"\0"))
    dev = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        rdev = os.stat(dev).st_rdev
        yield dev, os.major(rdev), os.minor(rdev), backing
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def _backing(backing: str) -> bytes:
    with open(backing, "rb") as f:
        return f.read(len(PATTERN))


# --- 1. devices -------------------------------------------------------------------------------------------------

@MODES
def test_a_block_node_made_inside_for_a_host_disk_cannot_be_read_or_written(nsrun, loopdev, plugins):
    _dev, major, minor, backing = loopdev
    out = nsrun(*plugins, "run", "--rm", "busybox", "sh", "-c",
                f"mknod /tmp/x b {major} {minor} 2>&1 || exit 0; echo made; "
                "dd if=/tmp/x of=/dev/null bs=512 count=1 2>&1; echo read=$?; "
                "echo pwned | dd of=/tmp/x conv=notrunc,fsync 2>&1; echo write=$?", check=True).stdout
    if plugins == DEFAULT:  # CAP_MKNOD: the node is made, and it is the open that is refused
        assert "made" in out and "read=1" in out and "write=1" in out, out
        assert out.count("Permission denied") == 2, out
    else:  # no mknod in a user namespace
        assert "Operation not permitted" in out and "made" not in out, out
    assert _backing(backing) == PATTERN


@MODES
def test_char_nodes_made_anywhere_writable_cannot_be_opened(nsrun, nsrun_root, scratch, plugins):
    vol = os.path.join(scratch, "vol")
    os.mkdir(vol)
    os.chmod(vol, 0o777)
    script = "".join(
        f"if mknod {d}/{name} c {num} 2>/dev/null; then echo made:{d}/{name}; "
        f"( exec 3<>{d}/{name} ) 2>/dev/null && echo OPENED:{d}/{name}; "
        f"( exec 3<>{d}/{name} ) 2>&1 | grep -q 'Permission denied' && echo eacces:{d}/{name}; "
        f"else echo nomknod:{d}/{name}; fi; "
        for d in ("/tmp", "/dev", "/dev/shm", "/vol")
        for name, num in (("tun", "10 200"), ("fuse", "10 229"), ("kvm", "10 232")))
    out = nsrun(*plugins, "run", "--rm", "-v", f"{vol}:/vol", "busybox", "sh", "-c", script, check=True).stdout
    assert "OPENED" not in out, out
    if plugins == DEFAULT:  # every node was made, and every open failed for nodev (not ENODEV/ENXIO)
        assert out.count("made:") == 12 and out.count("eacces:") == 12, out
    else:  # no mknod in a user namespace
        assert out.count("nomknod:") == 12, out


@MODES
def test_a_device_given_with_the_device_option_is_usable_and_only_that(nsrun, loopdev, plugins):
    dev, major, minor, backing = loopdev
    if plugins == WITH_USER:  # the host node is root's, 0660: an unmapped owner inside, as with Docker
        os.chmod(dev, 0o666)
    try:
        out = nsrun(*plugins, "run", "--rm", "--device", f"{dev}:/dev/xdisk", "busybox", "sh", "-c",
                    "head -c 13 /dev/xdisk; echo; printf MARKER-FROM-INSIDE | dd of=/dev/xdisk conv=fsync 2>&1; "
                    "echo write=$?; ls /dev", check=True).stdout
    finally:
        os.chmod(dev, 0o660)
    assert out.startswith("DECOY-SECTOR-\n") and "write=0" in out, out
    assert _backing(backing).startswith(b"MARKER-FROM-INSIDE")
    assert "xdisk" in out.split() and os.path.basename(dev) not in out.split()


@pytest.mark.parametrize("device, words", [
    ("/nonexistent", "No such file or directory"),
    ("/etc/hostname", "not a device node"),
    ("/dev/null:/dev/x:r", "only 'rw'"),
    ("/dev/null:/dev/x:w", "only 'rw'"),
])
def test_a_bad_device_is_refused_with_one_line_and_nothing_made(nsrun, nsrun_root, device, words):
    nsrun("run", "--rm", "busybox", "true", check=True)  # the busybox image exists before
    before = sorted((d, sorted(fs)) for d, _, fs in os.walk(nsrun_root) if "/images/" not in d)
    result = nsrun("run", "--rm", "--device", device, "busybox", "true")
    assert result.returncode == 125, result
    assert result.stderr.count("\n") == 1 and words in result.stderr and "Traceback" not in result.stderr
    assert sorted((d, sorted(fs)) for d, _, fs in os.walk(nsrun_root) if "/images/" not in d) == before
    assert nsrun("ps", "-aq", check=True).stdout == ""


# --- 2. paths inside a hostile image -----------------------------------------------------------------------------

def _image(nsrun, nsrun_root, tmp_path, name: str, extra: list[tarfile.TarInfo], drop: str | None = None) -> str:
    """Import busybox's rootfs (without the top-level ``drop``) plus ``extra`` members as image ``name``."""
    nsrun("run", "--rm", "busybox", "true", check=True)
    rootfs = Images(Paths.from_root(nsrun_root)).rootfs("busybox")
    tar = str(tmp_path / f"{name}.tar")
    with tarfile.open(tar, "w") as tf:
        tf.add(rootfs, arcname=".", filter=lambda m: None if drop and m.name in (f"./{drop}", drop)
               or drop and m.name.startswith(f"./{drop}/") else m)
        for info in extra:
            tf.addfile(info, io.BytesIO(b"inside\n") if info.isreg() else None)
    nsrun("image", "import", tar, name, check=True)
    return name


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@MODES
def test_a_volume_target_under_an_image_symlink_lands_inside_the_root(nsrun, nsrun_root, tmp_path, scratch,
                                                                       unique, plugins):
    decoy = os.path.join(scratch, "decoy")
    src = os.path.join(scratch, "src")
    os.mkdir(decoy)
    os.chmod(decoy, 0o777)  # writable by the user plugin's mapped root too: only the resolution protects it
    os.mkdir(src)
    with open(os.path.join(src, "marker"), "w") as f:
        f.write("from-volume\n")
    image = _image(nsrun, nsrun_root, tmp_path, f"evil{unique}", [_symlink("data", decoy)])
    result = nsrun(*plugins, "run", "--rm", "-v", f"{src}:/data/sub", image, "sh", "-c",
                   f"cat /data/sub/marker; cat {decoy}/sub/marker")
    assert os.listdir(decoy) == []  # nothing made on the host through the image's link
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from-volume\nfrom-volume\n"  # /data/sub = the image's {decoy}/sub, as in Docker
    nsrun("image", "rm", image, check=True)


@MODES
def test_an_image_whose_etc_is_a_link_to_a_host_dir_gets_its_files_inside(nsrun, nsrun_root, tmp_path, scratch,
                                                                         unique, plugins):
    decoy = os.path.join(scratch, "etc")
    os.mkdir(decoy)
    os.chmod(decoy, 0o777)  # writable by the user plugin's mapped root too: only the resolution protects it
    image = _image(nsrun, nsrun_root, tmp_path, f"evil{unique}", [_symlink("etc", decoy)], drop="etc")
    result = nsrun(*plugins, "run", "--rm", "--hostname", f"h{unique}", image, "sh", "-c",
                   f"cat /etc/hostname /etc/hosts /etc/resolv.conf; ls {decoy}")
    assert os.listdir(decoy) == []  # nothing written on the host through the image's /etc
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"h{unique}\n") and "localhost" in out and "nameserver" in out, out
    assert out.split()[-3:] == ["hostname", "hosts", "resolv.conf"]  # inside the image's view of {decoy}
    nsrun("image", "rm", image, check=True)


@pytest.mark.parametrize("with_file", [False, True], ids=["dir-entry", "dir-entry-then-file"])
def test_import_never_follows_a_symlink_named_again_as_a_directory(nsrun, nsrun_root, tmp_path, scratch,
                                                                    unique, with_file):
    decoy = os.path.join(scratch, "decoy")
    os.mkdir(decoy, 0o700)
    os.chmod(decoy, 0o700)
    again = tarfile.TarInfo("link")
    again.type, again.mode = tarfile.DIRTYPE, 0o777
    members = [_symlink("link", decoy), again]
    if with_file:
        members.append(tarfile.TarInfo("link/x"))
    tar = str(tmp_path / "evil.tar")
    with tarfile.open(tar, "w") as tf:
        for info in members:
            tf.addfile(info, io.BytesIO(b"") if info.isreg() else None)
    name = f"evil{unique}"
    result = nsrun("image", "import", tar, name)
    assert stat.S_IMODE(os.stat(decoy).st_mode) == 0o700 and os.listdir(decoy) == []
    assert result.returncode == 0, result.stderr  # handled inside the image: the link became a directory
    link = os.path.join(Images(Paths.from_root(nsrun_root)).rootfs(name), "link")
    assert not os.path.islink(link) and stat.S_IMODE(os.stat(link).st_mode) == 0o777
    assert os.path.isfile(os.path.join(link, "x")) == with_file
    nsrun("image", "rm", name, check=True)


# --- 3. :ro with a submount ----------------------------------------------------------------------------------------

@MODES
def test_a_read_only_volume_is_read_only_in_its_submounts_too(nsrun, scratch, plugins):
    top = os.path.join(scratch, "top")
    sub = os.path.join(top, "sub")
    os.makedirs(sub)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", f"nsrtest-{os.getpid()}", sub], check=True)
    try:
        out = nsrun(*plugins, "run", "--rm", "-v", f"{top}:/x:ro", "busybox", "sh", "-c",
                    "touch /x/sub/file 2>&1; touch /x/file 2>&1; grep ' /x' /proc/self/mountinfo", check=True).stdout
        assert out.count("Read-only file system") == 2, out
        assert os.listdir(sub) == [] and os.listdir(top) == ["sub"]
        options = [line.split()[5].split(",") for line in out.splitlines() if line[:1].isdigit()]
        assert len(options) == 2 and all("ro" in o for o in options), out
    finally:
        subprocess.run(["umount", sub], check=True)
