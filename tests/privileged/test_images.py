"""Images: the built-in busybox, importing tarballs, refusing hostile ones, removing."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from nsrun import Paths
from nsrun._images import Images


def _tar(path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> str:
    with tarfile.open(path, "w") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return str(path)


def _file(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def _busybox_tar(nsrun, nsrun_root, path) -> str:
    nsrun("run", "--rm", "busybox", "true", check=True)
    with tarfile.open(path, "w") as tf:
        tf.add(Images(Paths.from_root(nsrun_root)).rootfs("busybox"), arcname=".")
    return str(path)


def test_import_run_list_remove(nsrun, nsrun_root, tmp_path):
    tar = _busybox_tar(nsrun, nsrun_root, tmp_path / "bb.tar")
    out = nsrun("image", "import", tar, "mybox:1.0", check=True).stdout
    assert out.startswith("sha256:")
    assert ["mybox", "1.0"] in [line.split()[:2] for line in nsrun("image", "ls", check=True).stdout.splitlines()]
    assert nsrun("run", "--rm", "mybox:1.0", "echo", "imported", check=True).stdout == "imported\n"
    nsrun("run", "--name", "user-of-image", "mybox:1.0", "true", check=True)
    refused = nsrun("image", "rm", "mybox:1.0")
    assert refused.returncode != 0 and "in use" in refused.stderr
    nsrun("rm", "user-of-image", check=True)
    nsrun("image", "rm", "mybox:1.0", check=True)
    assert "mybox" not in nsrun("image", "ls", check=True).stdout


@pytest.mark.parametrize("members, words", [
    ([(_file("/etc/abs"), b"x")], "leaves the image"),
    ([(_file("../escape"), b"x")], "leaves the image"),
    ([(_file("a/../../escape"), b"x")], "leaves the image"),
])
def test_hostile_paths_are_refused(nsrun, nsrun_root, tmp_path, members, words):
    tar = _tar(tmp_path / "evil.tar", members)
    result = nsrun("image", "import", tar, "evil")
    assert result.returncode == 125 and words in result.stderr
    assert not os.path.exists("/etc/abs") and not (tmp_path.parent / "escape").exists()
    assert "evil" not in nsrun("image", "ls").stdout


def test_writes_through_a_symlink_out_of_the_tree_are_refused(nsrun, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tarfile.TarInfo("etc")
    link.type, link.linkname = tarfile.SYMTYPE, str(outside)
    tar = _tar(tmp_path / "evil.tar", [(link, None), (_file("etc/passwd"), b"pwned")])
    result = nsrun("image", "import", tar, "evil")
    assert result.returncode == 125 and "through a link" in result.stderr
    assert list(outside.iterdir()) == []


def test_hard_links_out_of_the_tree_are_refused(nsrun, tmp_path):
    hard = tarfile.TarInfo("shadow")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../../../etc/shadow"
    result = nsrun("image", "import", _tar(tmp_path / "evil.tar", [(hard, None)]), "evil")
    assert result.returncode == 125


def test_device_nodes_are_dropped_and_setuid_kept_inside(nsrun, nsrun_root, tmp_path):
    dev = tarfile.TarInfo("dev/sda")
    dev.type, dev.devmajor, dev.devminor = tarfile.BLKTYPE, 8, 0
    tar = _tar(tmp_path / "dev.tar", [(_file("ok", 0o755), b"fine"), (dev, None)])
    nsrun("image", "import", tar, "devimg", check=True)
    rootfs = Images(Paths.from_root(nsrun_root)).rootfs("devimg")
    assert open(os.path.join(rootfs, "ok")).read() == "fine"
    assert not os.path.exists(os.path.join(rootfs, "dev/sda"))
    nsrun("image", "rm", "devimg", check=True)


def test_garbage_is_not_an_image(nsrun, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00not a tar" * 100)
    result = nsrun("image", "import", str(junk), "junk")
    assert result.returncode == 125 and "not a valid tar" in result.stderr
