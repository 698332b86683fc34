"""docker-py (7.x) against nsrun's daemon: the calls DOCKER_API.md lists."""
from __future__ import annotations

import time

import pytest


def test_run_foreground_and_remove(docker_client, daemon):
    out = docker_client.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True,
                                       network_mode="none")
    assert out == b"hello\n"
    both = docker_client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2"], remove=True, stderr=True,
                                        network_mode="none")
    assert sorted(both.split()) == [b"a", b"b"]
    assert daemon.leftovers() == []


def test_run_nonzero_exit_raises_container_error(docker_client):
    import docker
    with pytest.raises(docker.errors.ContainerError) as excinfo:
        docker_client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 7"], network_mode="none",
                                     remove=True)
    assert excinfo.value.exit_status == 7
    assert b"oops" in excinfo.value.stderr


def test_detached_logs_exec_stop_remove_list_prune(docker_client, daemon):
    c = docker_client.containers.run("busybox", ["sh", "-c", "echo up; exec sleep 30"], detach=True,
                                     name="pyweb", network_mode="none")
    deadline = time.monotonic() + 10
    while c.logs() != b"up\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.logs() == b"up\n"
    res = c.exec_run(["sh", "-c", "echo in-exec; exit 2"])
    assert (res.exit_code, res.output) == (2, b"in-exec\n")
    assert [x.name for x in docker_client.containers.list()] == ["pyweb"]
    c.stop(timeout=1)
    c.reload()
    assert c.status == "exited"
    assert [x.name for x in docker_client.containers.list(all=True)] == ["pyweb"]
    c.remove()
    assert docker_client.containers.list(all=True) == []
    docker_client.containers.create("busybox", ["true"], network_mode="none")
    pruned = docker_client.containers.prune()
    assert len(pruned["ContainersDeleted"]) == 1 and pruned["SpaceReclaimed"] == 0
    assert daemon.leftovers() == []


def test_images_list_and_ports_mapping_without_net(docker_client):
    from nsrun._plugins import installed_plugins
    docker_client.containers.run("busybox", ["true"], remove=True, network_mode="none")
    tags = [t for image in docker_client.images.list() for t in image.tags]
    assert "busybox:latest" in tags
    if "net" not in installed_plugins():
        import docker
        with pytest.raises(docker.errors.APIError) as excinfo:
            docker_client.containers.run("busybox", ["true"], ports={"80/tcp": 18080}, detach=True)
        assert excinfo.value.status_code == 400 and "net plugin" in str(excinfo.value)
