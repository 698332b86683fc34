"""The image config through the Docker API: the docker CLI and docker-py run an image's ENTRYPOINT/CMD when they
send no command, ``--entrypoint`` overrides, ``inspect`` shows the merged Config, ``stop`` sends the image's
STOPSIGNAL, and ``-P`` publishes its EXPOSE (on the root's default bridge, reached on 127.0.0.1 only).
The image is made with ``nsrun image import --change`` on the daemon's own root."""
from __future__ import annotations

import json
import subprocess
import tarfile
import time
import urllib.request

import pytest

from conftest import NSRUN
from nsrun._plugins import installed_plugins

from nsrun import Paths
from nsrun._images import Images

NONE = ("--network", "none")
HTTPD = "mkdir -p /www && echo hello-compat > /www/index.html && exec httpd -f -p 80 -h /www"
TRAP = 'trap "exit 7" USR1; while :; do sleep 0.05; done'


@pytest.fixture
def images(daemon, tmp_path) -> None:
    """``cfg`` (ENTRYPOINT echo + CMD, ENV, WORKDIR, LABEL), ``web`` (httpd, EXPOSE 80) and ``stopper``
    (STOPSIGNAL SIGUSR1) from busybox's root filesystem."""
    daemon.docker("run", "--rm", *NONE, "busybox", "true", check=True)
    tar = str(tmp_path / "rootfs.tar")
    with tarfile.open(tar, "w") as tf:
        tf.add(Images(Paths.from_root(daemon.root)).rootfs("busybox"), arcname=".")
    for name, changes in (
            ("cfg", ['ENTRYPOINT ["/bin/echo", "entry"]', 'CMD ["default"]', "ENV FOO=image", "WORKDIR /work",
                     "LABEL maker=image"]),
            ("web", [f'CMD ["sh", "-c", {json.dumps(HTTPD)}]', "EXPOSE 80"]),
            ("stopper", [f'CMD ["sh", "-c", {json.dumps(TRAP)}]', "STOPSIGNAL SIGUSR1"])):
        args = [a for c in changes for a in ("--change", c)]
        subprocess.run([NSRUN, "--root", daemon.root, "image", "import", *args, tar, name], check=True,
                       capture_output=True, timeout=60)


def test_docker_cli_runs_the_images_command_and_overrides_it(daemon, images):
    assert daemon.docker("run", "--rm", *NONE, "cfg", check=True).stdout == "entry default\n"
    assert daemon.docker("run", "--rm", *NONE, "cfg", "mine", check=True).stdout == "entry mine\n"
    shown = daemon.docker("run", "--rm", *NONE, "--entrypoint", "", "-e", "BAR=user", "cfg", "sh", "-c",
                          "echo $FOO $BAR; pwd", check=True).stdout
    assert shown == "image user\n/work\n"
    bad = daemon.docker("run", "--rm", *NONE, "--entrypoint", "", "cfg")
    assert bad.returncode == 125 and "No command specified" in bad.stderr
    daemon.docker("create", "--name", "cfg-c", *NONE, "cfg", check=True)
    try:
        config = json.loads(daemon.docker("inspect", "cfg-c", check=True).stdout)[0]["Config"]
        assert config["Entrypoint"] == ["/bin/echo", "entry"] and config["Cmd"] == ["default"]
        assert config["Labels"] == {"maker": "image"} and config["WorkingDir"] == "/work"
        assert "FOO=image" in config["Env"]
    finally:
        daemon.docker("rm", "cfg-c", check=True)


def test_docker_stop_sends_the_images_stop_signal(daemon, images):
    daemon.docker("run", "-d", "--name", "stopper", *NONE, "stopper", check=True)
    try:
        time.sleep(0.3)
        started = time.monotonic()
        daemon.docker("stop", "stopper", check=True)
        assert time.monotonic() - started < 5
        state = json.loads(daemon.docker("inspect", "stopper", check=True).stdout)[0]["State"]
        assert state["ExitCode"] == 7
    finally:
        daemon.docker("rm", "-f", "stopper")


def test_docker_py_runs_the_images_command(docker_client, images):
    assert docker_client.containers.run("cfg", remove=True, network_mode="none") == b"entry default\n"
    out = docker_client.containers.run("cfg", ["x"], entrypoint=["/bin/echo"], remove=True, network_mode="none")
    assert out == b"x\n"


def _fetch(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.skipif("net" not in installed_plugins(), reason="-P is the net plugin's")
def test_docker_run_publish_all_and_docker_port(daemon, images):
    daemon.docker("run", "-d", "--name", "web", "-P", "web", check=True)
    try:
        line = daemon.docker("port", "web", "80/tcp", check=True).stdout.splitlines()[0]
        host_port = int(line.rpartition(":")[2])
        assert 32768 <= host_port <= 60999
        assert _fetch(host_port) == b"hello-compat\n"
        view = json.loads(daemon.docker("inspect", "web", check=True).stdout)[0]
        assert view["Config"]["ExposedPorts"] == {"80/tcp": {}} and view["HostConfig"]["PublishAllPorts"] is True
    finally:
        daemon.docker("rm", "-f", "web")
