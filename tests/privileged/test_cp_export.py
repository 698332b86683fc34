"""``nsrun cp`` and ``nsrun export`` on the embedded engine, for running and stopped containers: Docker's
copy rules (into a directory, as a new name, ``SRC/.``, ``-`` for a tar stream), files copied out owned by
the caller, volumes in ``cp`` and out of ``export``; and as an attacker would try it from inside: a symlink
planted in the container (to ``/``, to a host-looking path) and a tar member with ``..`` never reach a
host file. Decoys only: scratch directories of this test."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

pytestmark = pytest.mark.privileged

NONE = ("--network", "none")


def test_cp_out_and_in_of_a_stopped_container(nsrun, tmp_path):
    nsrun("run", "--name", "cpx", *NONE, "-v", "cpxvol:/vol", "busybox", "sh", "-c",
          "mkdir -p /root/d && echo a > /root/d/a && echo v > /vol/v && chown 1234:1234 /root/d/a "
          "&& ln -s / /root/up && ln -s /etc /root/etc-link", check=True)
    try:
        out = tmp_path / "out"
        out.mkdir()
        nsrun("cp", "cpx:/root/d", str(out), check=True)               # into an existing directory
        nsrun("cp", "cpx:/root/d", str(out / "renamed"), check=True)   # as a new name
        nsrun("cp", "cpx:/root/d/.", str(out / "content"), check=True)  # a directory's content
        nsrun("cp", "cpx:/vol/v", str(out / "v"), check=True)          # from its volume
        assert (out / "d" / "a").read_text() == (out / "renamed" / "a").read_text() == "a\n"
        assert (out / "content" / "a").read_text() == "a\n" and (out / "v").read_text() == "v\n"
        assert os.stat(out / "d" / "a").st_uid == os.getuid()           # the caller's, as Docker's
        nsrun("cp", "cpx:/root/up/etc/hostname", str(out / "hn"), check=True)
        assert (out / "hn").read_text().strip() != open("/etc/hostname").read().strip()
        raw = subprocess.run([*_cmd(nsrun), "cp", "cpx:/root/d", "-"], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
            assert sorted(tf.getnames()) == ["d", "d/a"]
        src = tmp_path / "in.txt"
        src.write_text("in\n")
        nsrun("cp", str(src), "cpx:/root/", check=True)
        nsrun("cp", str(src), "cpx:/root/new-name.txt", check=True)
        # the container's own symlink /root/etc-link -> /etc: the copy lands in the container's /etc
        nsrun("cp", str(src), "cpx:/root/etc-link/", check=True)
        assert not os.path.exists("/etc/in.txt")
        res = nsrun("run", "--rm", *NONE, "--volumes-from", "cpx", "busybox", "ls", "/vol")
        assert res.returncode == 0 and res.stdout.split() == ["v"]
        exported = subprocess.run([*_cmd(nsrun), "export", "cpx"], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
            names = set(tf.getnames())
        assert {"root/in.txt", "root/new-name.txt", "etc/in.txt", "root/d/a", "bin/busybox"} <= names
        assert "vol/v" not in names                                     # volumes are left out
    finally:
        nsrun("rm", "-f", "cpx")
        nsrun("volume", "rm", "cpxvol")


def test_cp_and_export_of_a_running_container(nsrun, tmp_path):
    nsrun("run", "-d", "--name", "cpr", *NONE, "busybox", "sh", "-c", "echo live > /root/live && sleep 60",
          check=True)
    try:
        for _ in range(50):
            if nsrun("cp", "cpr:/root/live", str(tmp_path / "live")).returncode == 0:
                break
        assert (tmp_path / "live").read_text() == "live\n"
        res = nsrun("export", "-o", str(tmp_path / "e.tar"), "cpr", check=True)
        assert res.stdout == ""
        with tarfile.open(tmp_path / "e.tar") as tf:
            names = set(tf.getnames())
        # the root file system alone: nothing of what is mounted on it (/proc's processes, /dev's nodes)
        assert "root/live" in names and "proc" in names and not any(n.startswith(("proc/", "sys/")) for n in names)
    finally:
        nsrun("rm", "-f", "cpr")


def test_cp_refusals(nsrun, tmp_path):
    nsrun("run", "--name", "cpbad", *NONE, "busybox", "true", check=True)
    try:
        res = nsrun("cp", "cpbad:/nosuch", str(tmp_path / "x"))
        assert res.returncode == 125 and "Could not find the file /nosuch" in res.stderr and not (tmp_path / "x").exists()
        res = nsrun("cp", str(tmp_path / "missing"), "cpbad:/tmp/")
        assert res.returncode == 125 and "no such file or directory" in res.stderr
        res = nsrun("cp", "cpbad:/etc/hostname", "cpbad:/tmp/")
        assert res.returncode == 125 and "one of SOURCE and DESTINATION" in res.stderr
        res = nsrun("cp", "nosuchctr:/etc", str(tmp_path))
        assert res.returncode == 125 and "No such container" in res.stderr
        bad = io.BytesIO()
        with tarfile.open(fileobj=bad, mode="w") as tf:
            info = tarfile.TarInfo("../../escape.txt")
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
        res = subprocess.run([*_cmd(nsrun), "cp", "-", "cpbad:/tmp"], input=bad.getvalue(), capture_output=True)
        assert res.returncode == 125 and b".." in res.stderr
        res = subprocess.run([*_cmd(nsrun), "export", "cpbad"], capture_output=True)  # a pipe: allowed
        assert res.returncode == 0 and tarfile.open(fileobj=io.BytesIO(res.stdout)).getmember("bin/busybox")
    finally:
        nsrun("rm", "-f", "cpbad")


def _cmd(nsrun) -> list[str]:
    """The runner's command line, for bytes in and out (``Runner`` speaks text)."""
    return [os.path.join(os.path.dirname(sys.executable), "nsrun"), "--root", nsrun.root]
