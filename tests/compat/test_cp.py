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
        with pytest.raises(docker.errors.APIError) as err:
            c.get_archive("/tmp/hello.txt")
        assert err.value.status_code == 409 and "not running" in str(err.value)
    finally:
        c.remove(force=True)
