"""``docker cp`` both ways through ``/containers/{id}/archive`` (HEAD, GET, PUT), and docker-py's
``get_archive``/``put_archive``: paths resolve inside the container (a symlink to ``/`` or ``..`` never reaches
the host); bad input is refused with Docker's words and nothing is written."""
from __future__ import annotations

import io
import os
import tarfile

NONE = ("--network", "none")


def test_docker_cp_both_ways(daemon, tmp_path):
    d = daemon
    d.docker("run", "-d", "--name", "dmnh-cp", *NONE, "busybox", "sh", "-c",
             "mkdir -p /data/sub && echo inside > /data/sub/f && ln -s / /data/up && sleep 60", check=True)
    try:
        out = tmp_path / "out"
        out.mkdir()
        d.docker("cp", "dmnh-cp:/data/sub/f", str(out / "f"), check=True)
        assert (out / "f").read_text() == "inside\n"
        d.docker("cp", "dmnh-cp:/data", str(out / "data"), check=True)
        assert (out / "data" / "sub" / "f").read_text() == "inside\n" and os.readlink(out / "data" / "up") == "/"
        src = tmp_path / "in.txt"
        src.write_text("from the host\n")
        d.docker("cp", str(src), "dmnh-cp:/data/sub/", check=True)
        d.docker("cp", str(src), "dmnh-cp:/data/renamed.txt", check=True)
        got = d.docker("exec", "dmnh-cp", "cat", "/data/sub/in.txt", "/data/renamed.txt", check=True).stdout
        assert got == "from the host\nfrom the host\n"
        # through a symlink to / inside the container: the container's /etc, never the host's
        d.docker("cp", "dmnh-cp:/data/up/etc/hostname", str(out / "hostname"), check=True)
        host_name = d.docker("exec", "dmnh-cp", "cat", "/etc/hostname", check=True).stdout
        assert (out / "hostname").read_text() == host_name
        d.docker("cp", str(src), "dmnh-cp:/data/up/../../../tmp/", check=True)   # lands in the container's /tmp
        assert d.docker("exec", "dmnh-cp", "cat", "/tmp/in.txt", check=True).stdout == "from the host\n"
        res = d.docker("cp", "dmnh-cp:/nosuch", str(out / "x"))
        assert res.returncode == 1 and "Could not find the file /nosuch" in res.stderr
    finally:
        d.docker("rm", "-f", "dmnh-cp", check=True)


def test_docker_py_archive_and_refusals(daemon, docker_client):
    import docker.errors
    import pytest
    c = docker_client.containers.run("busybox", "sleep 60", detach=True, network_mode="none", name="dmnh-cpy")
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            data = b"py\n"
            info = tarfile.TarInfo("hello.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        assert c.put_archive("/tmp", buf.getvalue())
        stream, stat = c.get_archive("/tmp/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 3
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            assert tf.extractfile("hello.txt").read() == b"py\n"
        bad = io.BytesIO()
        with tarfile.open(fileobj=bad, mode="w") as tf:
            info = tarfile.TarInfo("../../escape.txt")
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
        with pytest.raises(docker.errors.APIError) as err:
            c.put_archive("/tmp", bad.getvalue())
        assert err.value.status_code == 400 and ".." in str(err.value)
        assert c.exec_run("ls /escape.txt /tmp/escape.txt").exit_code != 0
        with pytest.raises(docker.errors.NotFound):
            c.put_archive("/nosuch", buf.getvalue())
        c.stop(timeout=1)
        stream, stat = c.get_archive("/tmp/hello.txt")   # a stopped container's files, as Docker's
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            assert tf.extractfile("hello.txt").read() == b"py\n"
    finally:
        c.remove(force=True)


def test_docker_cp_and_export_of_a_stopped_container(daemon, tmp_path):
    """A stopped container's root is mounted again (its image, its writes, its volumes) in a mount namespace
    of the helper's own: ``docker cp`` both ways and ``docker export`` work on it as on a running one; paths
    still resolve inside it; nothing stays mounted (the leak check)."""
    d = daemon
    d.docker("volume", "create", "dmnh-cpvol", check=True)
    d.docker("run", "--name", "dmnh-cps", *NONE, "-v", "dmnh-cpvol:/vol", "busybox", "sh", "-c",
             "echo written > /root/w && echo invol > /vol/f && { [ -e /root/up ] || ln -s / /root/up; }", check=True)
    try:
        out = tmp_path / "out"
        out.mkdir()
        d.docker("cp", "dmnh-cps:/root/w", str(out / "w"), check=True)
        d.docker("cp", "dmnh-cps:/vol/f", str(out / "f"), check=True)           # its volume too
        assert (out / "w").read_text() == "written\n" and (out / "f").read_text() == "invol\n"
        d.docker("cp", "dmnh-cps:/root/up/etc/hostname", str(out / "hn"), check=True)  # the container's /etc
        assert (out / "hn").read_text() != open("/etc/hostname").read()
        src = tmp_path / "in.txt"
        src.write_text("while stopped\n")
        d.docker("cp", str(src), "dmnh-cps:/root/", check=True)
        d.docker("cp", str(src), "dmnh-cps:/vol/", check=True)
        exported = tmp_path / "exp.tar"
        d.docker("export", "-o", str(exported), "dmnh-cps", check=True)
        with tarfile.open(exported) as tf:
            names = set(tf.getnames())
        assert {"root/w", "root/in.txt", "bin/busybox"} <= names and "vol/f" not in names  # volumes left out
        d.docker("start", "-a", "dmnh-cps", check=True)  # it still starts, with what was copied in
        res = d.docker("run", "--rm", *NONE, "-v", "dmnh-cpvol:/vol", "busybox", "cat", "/vol/in.txt", check=True)
        assert res.stdout == "while stopped\n"
    finally:
        d.docker("rm", "-f", "dmnh-cps", check=True)
        d.docker("volume", "rm", "dmnh-cpvol", check=True)
