"""``rootfs.resolve``: paths inside a root are resolved inside it, on a plain directory (no privileges)."""
from __future__ import annotations

import os

import pytest

from nsrun_ns_mnt.rootfs import _walk, resolve


@pytest.fixture
def tree(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    for d in (root / "etc", root / "real", outside):
        d.mkdir(parents=True)
    (root / "abs").symlink_to(str(outside))          # an absolute link naming a host directory
    (root / "up").symlink_to("../../outside")        # a relative one climbing out
    (root / "rel").symlink_to("real")
    (root / "loop").symlink_to("loop")
    (root / "file").write_text("x")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    yield root, outside, fd
    os.close(fd)


def _where(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize("walk", [resolve, _walk], ids=["openat2", "walk"])
def test_links_and_dotdot_stay_inside(tree, walk):
    root, outside, fd = tree
    for path, inside in (("/abs/sub", root / outside.relative_to("/") / "sub"),
                         ("/up/sub", root / "outside" / "sub"),
                         ("/../../etc/x", root / "etc" / "x"),
                         ("/rel/a/../b", root / "real" / "b"),
                         ("etc", root / "etc")):
        got = walk(fd, path, "dir")
        try:
            assert _where(got) == str(inside), path
        finally:
            os.close(got)
    assert os.listdir(outside) == []
    assert (root / outside.relative_to("/") / "sub").is_dir()


@pytest.mark.parametrize("walk", [resolve, _walk], ids=["openat2", "walk"])
def test_the_last_component_is_made_as_asked_and_nothing_without_create(tree, walk):
    root, _outside, fd = tree
    os.close(walk(fd, "/abs/etc/hostname", "file"))
    made = next(root.rglob("hostname"))
    assert made.is_file() and str(made).startswith(str(root))
    with pytest.raises(FileNotFoundError):
        walk(fd, "/nothing/here", None)
    assert not (root / "nothing").exists()
    with pytest.raises(NotADirectoryError):
        walk(fd, "/file/x", "dir")
    with pytest.raises(OSError) as excinfo:
        walk(fd, "/loop/x", "dir")
    assert excinfo.value.errno == 40  # ELOOP
