"""The record store's pure parts: removing a container's directory, and the names it makes up."""
from __future__ import annotations

import os

from nsrun import Paths
from nsrun._parse import SIGNALS, parse_signal
from nsrun._state import Store, _rmtree


def test_rmtree_removes_nested_files_and_never_follows_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    top = tmp_path / "ctr"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("y")
    (top / "g").write_text("z")
    os.symlink(outside, top / "link-to-dir")
    os.symlink(outside / "keep", top / "a" / "link-to-file")
    _rmtree(str(top))
    assert not top.exists()
    assert (outside / "keep").read_text() == "x"  # what the links pointed at is untouched
    _rmtree(str(top))  # already gone: nothing to do, no error


def test_made_up_names_are_docker_like_and_unique(tmp_path):
    store = Store(Paths.from_root(str(tmp_path)))
    names = {store._random_name() for _ in range(50)}
    assert all("_" in n and n.replace("_", "").isalnum() for n in names)
    assert len(names) > 40


def test_signal_names_without_the_signal_module():
    assert SIGNALS["TERM"] == 15 and SIGNALS["KILL"] == 9 and SIGNALS["HUP"] == 1
    assert parse_signal("SIGUSR1") == SIGNALS["USR1"] and parse_signal("9") == 9


def test_deferred_close_hands_descriptors_to_a_child_that_closes_them_after_we_exit():
    import json
    import select
    import subprocess
    import sys
    r, w = os.pipe()
    # The process reports what its holder child has open (the pipe yes, stdio no), then exits.
    code = (f"import os, json; from nsrun import defer_close; from nsrun._deferred import hand_over\n"
            f"defer_close({w}); hand_over()\n"
            f"pid = os.getpid()\n"
            f"[child] = open(f'/proc/{{pid}}/task/{{pid}}/children').read().split()\n"
            f"mine = os.readlink('/proc/self/fd/{w}')\n"
            f"import time; deadline = time.time() + 5\n"
            f"def fds():\n"
            f"    out = {{}}\n"
            f"    for fd in os.listdir(f'/proc/{{child}}/fd'):\n"
            f"        try: out[int(fd)] = os.readlink(f'/proc/{{child}}/fd/{{fd}}')\n"
            f"        except OSError: pass  # closed while we looked\n"
            f"    return out\n"
            f"while True:  # the child closes what it must not keep right after the fork\n"
            f"    held = fds()\n"
            f"    if not set(held) & {{0, 1, 2}} or time.time() > deadline: break\n"
            f"print(json.dumps({{'pipe': mine in held.values(), 'stdio': sorted(set(held) & {{0, 1, 2}})}}))\n"
            f"os.write({w}, b'x'); os._exit(0)")
    # capture_output returns at EOF of the process's stdout/stderr: the holder must not keep them open
    proc = subprocess.run([sys.executable, "-c", code], pass_fds=(w,), capture_output=True, timeout=10)
    os.close(w)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"pipe": True, "stdio": []}  # the child holds the pipe, not stdio
    data = b""
    while select.select([r], [], [], 5)[0]:  # the holder closes its copy once the process is gone: EOF
        chunk = os.read(r, 10)
        if not chunk:
            break
        data += chunk
    else:
        raise AssertionError("the deferred descriptor was never closed")
    os.close(r)
    assert data == b"x"


def test_nothing_registered_means_no_child():
    from nsrun._deferred import _FDS, hand_over
    _FDS.clear()
    def children() -> set[str]:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return set(f.read().split())
    before = children()
    hand_over()  # must not fork
    assert children() == before
