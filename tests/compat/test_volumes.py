"""Volumes through the real clients: ``docker volume create|ls|inspect|rm|prune``, ``-v NAME:/path`` (made at
start when missing), copy-up of the image's content into an empty volume, anonymous volumes (``-v /path``, an
image's ``VOLUME``) that go with their container, ``--mount`` and ``--tmpfs``, ``--volumes-from``, the local
driver's tmpfs option, a volume in use refused by ``rm``; docker-py's volume API; ``nsrun volume``."""
from __future__ import annotations

import json
import os
import subprocess
import tarfile

import pytest

from conftest import NSRUN

NONE = ("--network", "none")


def _run(d, *args, **kw):
    return d.docker("run", "--rm", *NONE, *args, **kw)


def test_named_volumes_with_the_docker_cli(daemon):
    d = daemon
    assert d.docker("volume", "create", "--label", "app=dmnh", "dmnh-data", check=True).stdout == "dmnh-data\n"
    try:
        shown = json.loads(d.docker("volume", "inspect", "dmnh-data", check=True).stdout)[0]
        assert shown["Driver"] == "local" and shown["Labels"] == {"app": "dmnh"}
        assert shown["Mountpoint"] == os.path.join(d.root, "volumes", "dmnh-data", "_data")
        # an empty volume gets the image's content at its target (copy-up), then keeps what is written
        assert "passwd" in _run(d, "-v", "dmnh-data:/etc", "busybox", "ls", "/etc", check=True).stdout
        _run(d, "-v", "dmnh-data:/etc", "busybox", "sh", "-c", "echo kept > /etc/mine", check=True)
        out = _run(d, "--mount", "type=volume,source=dmnh-data,target=/m,readonly", "busybox", "sh", "-c",
                   "cat /m/mine; touch /m/x")
        assert out.stdout == "kept\n" and "Read-only file system" in out.stderr and out.returncode == 1
        # nocopy: a new volume stays empty
        assert _run(d, "-v", "dmnh-empty:/var:nocopy", "busybox", "ls", "/var", check=True).stdout == ""
        ls = d.docker("volume", "ls", "--format", "{{.Name}}", check=True).stdout.split()
        assert sorted(ls) == ["dmnh-data", "dmnh-empty"]
        assert d.docker("volume", "ls", "-q", "--filter", "label=app=dmnh", check=True).stdout.split() == ["dmnh-data"]
        # in use (by any container, running or not): rm refused, prune keeps it
        d.docker("create", "--name", "dmnh-user", *NONE, "-v", "dmnh-data:/data", "busybox", "true", check=True)
        res = d.docker("volume", "rm", "dmnh-data")
        assert res.returncode == 1 and "volume is in use" in res.stderr
        ps = d.docker("ps", "-a", "--filter", "volume=dmnh-data", "--format", "{{.Names}}", check=True).stdout
        assert ps.split() == ["dmnh-user"]
        pruned = d.docker("volume", "prune", "-f", check=True).stdout
        assert "dmnh-empty" in pruned and "dmnh-data" not in pruned
        mounts = json.loads(d.docker("inspect", "-f", "{{json .Mounts}}", "dmnh-user", check=True).stdout)
        assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", "dmnh-data", "/data")]
        d.docker("rm", "dmnh-user", check=True)
        assert d.docker("volume", "rm", "dmnh-data", check=True).stdout == "dmnh-data\n"
        res = d.docker("volume", "rm", "dmnh-data")
        assert res.returncode == 1 and "no such volume" in res.stderr
    finally:
        d.docker("rm", "-f", "dmnh-user")
        d.docker("volume", "rm", "dmnh-data", "dmnh-empty")


def test_anonymous_tmpfs_volumes_from_and_bad_input(daemon, tmp_path):
    d = daemon
    host = tmp_path / "bind"
    host.mkdir()
    (host / "h").write_text("host\n")
    d.docker("run", "-d", "--name", "dmnh-src", *NONE, "-v", "/anon", "-v", f"{host}:/h:ro", "busybox", "sh", "-c",
             "echo anon > /anon/a; sleep 60", check=True)
    try:
        mounts = json.loads(d.docker("inspect", "-f", "{{json .Mounts}}", "dmnh-src", check=True).stdout)
        kinds = sorted((m["Type"], m["Destination"], m["RW"]) for m in mounts)
        assert kinds == [("bind", "/h", False), ("volume", "/anon", True)]
        anon = next(m for m in mounts if m["Type"] == "volume")
        assert len(anon["Name"]) == 64 and anon["Source"].startswith(os.path.join(d.root, "containers"))
        out = _run(d, "--volumes-from", "dmnh-src:ro", "busybox", "sh", "-c", "sleep 0.3; cat /anon/a /h/h; touch /anon/b")
        assert out.stdout == "anon\nhost\n" and "Read-only" in out.stderr
        out = _run(d, "--tmpfs", "/scratch:size=1m", "--mount", "type=tmpfs,target=/t2,tmpfs-size=65536", "busybox",
                   "sh", "-c", "grep -E ' /(scratch|t2) ' /proc/mounts", check=True).stdout
        assert "size=1024k" in out and "size=64k" in out
        d.docker("volume", "create", "-o", "type=tmpfs", "-o", "o=size=2m", "dmnh-tmp", check=True)
        out = _run(d, "-v", "dmnh-tmp:/x", "busybox", "grep", " /x ", "/proc/mounts", check=True).stdout
        assert out.startswith("tmpfs /x tmpfs") and "size=2048k" in out
        d.docker("volume", "rm", "dmnh-tmp", check=True)
        for args, words in ((("-v", "bad name:/x"), "invalid"), (("-v", "dmnh-a1:/x", "--mount", "type=tmpfs,target=/x"), "Duplicate mount point"),
                            (("--mount", "type=nfs,target=/x"), "type 'nfs'"),
                            (("--volumes-from", "dmnh-nosuch"), "No such container")):
            res = _run(d, *args, "busybox", "true")
            assert res.returncode == 125 and words in res.stderr, (args, res.stderr)
        res = d.docker("volume", "create", "-o", "type=nfs", "dmnh-nfs")
        assert res.returncode == 1 and "not supported" in res.stderr
        assert d.docker("volume", "ls", "-q", check=True).stdout == ""   # nothing half-made
    finally:
        d.docker("rm", "-f", "dmnh-src", check=True)
    assert not os.listdir(os.path.join(d.root, "containers")) or d.leftovers() == []


def test_an_images_volume_is_anonymous_and_filled_from_the_image(daemon, tmp_path):
    from nsrun import Paths
    from nsrun._images import Images
    d = daemon
    _run(d, "busybox", "true", check=True)
    tar = str(tmp_path / "rootfs.tar")
    with tarfile.open(tar, "w") as tf:
        tf.add(Images(Paths.from_root(d.root)).rootfs("busybox"), arcname=".")
    subprocess.run([NSRUN, "--root", d.root, "image", "import", "--change", "VOLUME /etc", tar, "dmnh-vol"], check=True,
                   capture_output=True, timeout=60)
    d.docker("run", "--name", "dmnh-iv", *NONE, "dmnh-vol", "sh", "-c", "ls /etc/passwd && grep ' /etc ' /proc/mounts",
             check=True)
    try:
        view = json.loads(d.docker("inspect", "dmnh-iv", check=True).stdout)[0]
        assert view["Config"]["Volumes"] == {"/etc": {}}
        assert [m["Destination"] for m in view["Mounts"]] == ["/etc"]
        source = view["Mounts"][0]["Source"]
        assert os.path.exists(os.path.join(source, "passwd"))
    finally:
        d.docker("rm", "-v", "dmnh-iv", check=True)
    assert not os.path.exists(source)        # gone with its container
    d.docker("image", "rm", "dmnh-vol", check=True)


def test_docker_py_volumes(daemon, docker_client):
    import docker.errors
    vol = docker_client.volumes.create("dmnh-py", labels={"k": "v"})
    try:
        assert vol.attrs["Labels"] == {"k": "v"}
        out = docker_client.containers.run("busybox", "sh -c 'echo py > /v/f; cat /v/f'", remove=True,
                                           network_mode="none", volumes={"dmnh-py": {"bind": "/v", "mode": "rw"}})
        assert out == b"py\n"
        assert [v.name for v in docker_client.volumes.list(filters={"label": "k=v"})] == ["dmnh-py"]
        with pytest.raises(docker.errors.NotFound):
            docker_client.volumes.get("dmnh-nosuch")
        with pytest.raises(docker.errors.APIError) as err:
            docker_client.volumes.create("x")
        assert err.value.status_code == 400
    finally:
        vol.remove()
    assert docker_client.volumes.prune()["VolumesDeleted"] in (None, [])


def test_nsrun_volume_commands(nsrun):
    assert nsrun("volume", "create", "--label", "a=b", "dmnh-cli", check=True).stdout == "dmnh-cli\n"
    assert "dmnh-cli" in nsrun("volume", "ls", check=True).stdout
    assert json.loads(nsrun("volume", "inspect", "dmnh-cli", check=True).stdout)[0]["Labels"] == {"a": "b"}
    nsrun("run", "-d", "--name", "dmnh-u", *NONE, "-v", "dmnh-cli:/d", "busybox", "sleep", "60", check=True)
    try:
        res = nsrun("volume", "rm", "dmnh-cli")
        assert res.returncode == 125 and "volume is in use" in res.stderr and res.stderr.count("\n") == 1
    finally:
        nsrun("rm", "-f", "dmnh-u", check=True)
    assert nsrun("volume", "rm", "dmnh-cli", check=True).stdout == "dmnh-cli\n"
    res = nsrun("volume", "create", "-o", "type=nfs", "dmnh-x")
    assert res.returncode == 125 and "not supported" in res.stderr
    # system reset removes volumes too
    nsrun("volume", "create", "dmnh-r", check=True)
    assert "removed volume dmnh-r" in nsrun("system", "reset", check=True).stdout
