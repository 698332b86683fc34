"""The user plugin's ACL helpers on a real directory: search for one uid, nothing for anyone else, and entries
already there kept (file-system logic only; the kernel's own verdict is tested in tests/privileged)."""
from __future__ import annotations

import os

from nsrun_ns_ipc_uts_user.acl import can_search, chain, grant_search


def test_grant_gives_one_uid_search_and_nobody_else_anything(tmp_path):
    d = tmp_path / "root"
    d.mkdir(mode=0o700)
    os.chmod(d, 0o700)
    assert not can_search(str(d), 100000, 100000)
    grant_search(str(d), 100000)
    assert can_search(str(d), 100000, 100000)
    assert not can_search(str(d), 200000, 200000) and not can_search(str(d), 65534, 65534)
    assert os.stat(d).st_mode & 0o707 == 0o700  # owner and others as they were (the group bits show the mask)
    grant_search(str(d), 200000)  # a second range: the first keeps its entry
    assert can_search(str(d), 100000, 100000) and can_search(str(d), 200000, 200000)
    grant_search(str(d), 200000)  # idempotent
    assert len(os.getxattr(d, "system.posix_acl_access")) == 4 + 8 * 6  # user_obj, 2 users, group, mask, other


def test_mode_bits_decide_without_an_acl(tmp_path):
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o711)
    assert can_search(str(d), 100000, 100000)
    os.chmod(d, 0o770)
    assert not can_search(str(d), 100000, 100000)
    assert can_search(str(d), os.stat(d).st_uid, 12345)  # the owner's own bits


def test_chain_lists_every_parent_outermost_first():
    assert chain("/a/b/c") == ["/", "/a", "/a/b", "/a/b/c"]
    assert chain("/") == ["/"]
