"""The pure parts of ``docker cp``'s helper (``nsrun._archive``): Go's FileMode bits the docker CLI decodes,
the path stat, and the refusal of tar members that would leave the extraction directory."""
from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import pytest

from nsrun._archive import _check_members, _Fail, header, path_stat


def test_stat_and_go_modes(tmp_path):
    (tmp_path / "f").write_text("abc")
    os.symlink("f", tmp_path / "l")
    st = path_stat(str(tmp_path / "f"))
    assert st["name"] == "f" and st["size"] == 3 and st["mode"] & 0o777 == os.stat(tmp_path / "f").st_mode & 0o777
    assert path_stat(str(tmp_path))["mode"] & (1 << 31)                 # a directory
    link = path_stat(str(tmp_path / "l"))
    assert link["mode"] & (1 << 27) and link["linkTarget"] == "f"       # a symlink, not followed
    assert json.loads(base64.b64decode(header(st))) == st


def _tar(*members: tarfile.TarInfo) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isreg() else None)
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def test_members_that_leave_the_directory_are_refused():
    ok = tarfile.TarInfo("a/b.txt")
    ok.size = 1
    assert [m.name for m in _check_members(_tar(ok))] == ["a/b.txt"]
    for name, kind, link in (("/etc/x", tarfile.REGTYPE, ""), ("a/../../x", tarfile.REGTYPE, ""),
                             ("dev", tarfile.CHRTYPE, ""), ("h", tarfile.LNKTYPE, "../outside")):
        bad = tarfile.TarInfo(name)
        bad.type, bad.linkname = kind, link
        with pytest.raises(_Fail) as err:
            _check_members(_tar(bad))
        assert err.value.status == 400
