"""``docker save``/``docker load`` and docker-py ``images.get()``/``load()`` against nsrun's daemon:
``GET /images/get``, ``GET /images/{name}/get``, ``POST /images/load``."""
from __future__ import annotations

import io
import json
import tarfile

import pytest

pytestmark = pytest.mark.privileged


def test_docker_cli_save_rm_load_run(daemon, tmp_path):
    saved = str(tmp_path / "bb.tar")
    daemon.docker("save", "-o", saved, "busybox", check=True)
    with tarfile.open(saved) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    image_id = daemon.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip()
    daemon.docker("rmi", "busybox", check=True)
    out = daemon.docker("load", "-i", saved, check=True).stdout
    assert "Loaded image: busybox:latest" in out
    assert daemon.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip() == image_id
    r = daemon.docker("run", "--rm", "--network", "none", "busybox", "echo", "back", check=True)
    assert r.stdout.strip() == "back"


def test_docker_load_of_garbage_is_one_clear_error(daemon, tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"no tar here" * 100)
    r = daemon.docker("load", "-i", str(bad))
    assert r.returncode != 0 and "not a valid tar archive" in r.stderr


def test_docker_py_images_get_and_load(docker_client):
    image = docker_client.images.get("busybox")
    data = b"".join(image.save(named=True))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert "index.json" in tf.getnames()
    docker_client.images.remove("busybox")
    loaded = docker_client.images.load(data)
    assert [i.id for i in loaded] == [image.id]
    assert "busybox:latest" in loaded[0].tags
