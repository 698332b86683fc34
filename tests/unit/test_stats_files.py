"""cgroupfs.Files, the reader ``stats`` keeps for all its samples: each file opened once, reread with pread, within a
descriptor budget; fake trees, no root."""
from __future__ import annotations

import os

import pytest

from nsrun.stats import cgroupfs

GIB = 1 << 30


def _tree(base, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def test_files_reader_opens_each_file_once_and_rereads_it(tmp_path):
    _tree(tmp_path, {"m/memory.usage_in_bytes": "100\n", "m/memory.limit_in_bytes": "max\n", "p/pids.current": "2\n"})
    cg = {"version": 1, "paths": {"memory": str(tmp_path / "m"), "pids": str(tmp_path / "p")}}
    files = cgroupfs.Files()
    try:
        assert cgroupfs.read(cg, GIB, files) == cgroupfs.read(cg, GIB)
        kept = dict(files._fds)
        assert len(kept) == 4 - 1  # memory.max_usage_in_bytes, memory.stat and pids.max are missing: not kept
        with open(tmp_path / "m/memory.usage_in_bytes", "w") as f:   # same inode, new content (as the kernel's)
            f.write("123456\n")
        assert cgroupfs.read(cg, GIB, files)["memory_stats"]["usage"] == 123456
        assert files._fds == kept                                      # nothing opened again
        big = "x" * (3 << 16) + "\n"                                  # longer than one pread
        _tree(tmp_path, {"m/memory.stat": big})
        assert files(str(tmp_path / "m/memory.stat")) == big
    finally:
        files.close()
    assert files._fds == {}
    for fd in kept.values():
        with pytest.raises(OSError):
            os.fstat(fd)


def test_files_reader_stays_within_its_descriptor_budget(tmp_path):
    _tree(tmp_path, {f"f{i}": f"{i}\n" for i in range(5)})
    files = cgroupfs.Files(keep=2)
    try:
        assert [files(str(tmp_path / f"f{i}")) for i in range(5)] * 2 == [f"{i}\n" for i in range(5)] * 2
        assert len(files._fds) == 2
    finally:
        files.close()
    assert cgroupfs.Files().keep > 0


def test_a_cgroup_made_anew_at_the_same_path_is_read_not_the_removed_one(tmp_path):
    path = tmp_path / "pids.current"
    path.write_text("1\n")
    files = cgroupfs.Files()
    try:
        assert files(str(path)) == "1\n"
        os.close(files._fds[str(path)])    # a removed cgroup's descriptor fails every read (ENODEV); a
        files._fds[str(path)] = os.open(tmp_path, os.O_RDONLY)  # directory's does too (EISDIR)
        path.unlink()
        path.write_text("7\n")             # the container started again: a new file at the same path
        assert files(str(path)) == "7\n"
        files._fds[str(path)], kept = os.open(tmp_path, os.O_RDONLY), files._fds[str(path)]
        os.close(kept)
        path.unlink()                      # gone for good: fails as a missing file, nothing kept
        with pytest.raises(OSError):
            files(str(path))
        assert str(path) not in files._fds
    finally:
        files.close()
