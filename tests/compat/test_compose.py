"""Debian's docker-compose 1.29 (its own python3-docker, not the test venv's docker-py) against nsrun's daemon:
a two-service app with the default network (a subnet of its own), a named volume, an environment,
``depends_on`` and a published port: ``up -d``, ``ps``, ``logs``, ``exec`` (the services find each other by
name), ``restart``, ``down -v`` — and nothing of it is left afterwards."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request

import pytest

COMPOSE_HINT = "docker-compose (Debian's 1.29 package) is needed: `apt-get install docker-compose` (Makefile APT_PACKAGES)"

COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web up; mkdir -p /www; echo served-by-web > /www/index.html; exec httpd -f -p 80 -h /www"]
    environment:
      GREETING: hello-compose
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - data:/data
    depends_on:
      - db
  db:
    image: busybox
    command: ["sh", "-c", "echo db up; echo from-db > /data/db.txt; while :; do sleep 1; done"]
    volumes:
      - data:/data
volumes:
  data:
    labels:
      made.by: dmnh
networks:
  default:
    ipam:
      config:
        - subnet: 10.231.3.0/24
"""


@pytest.fixture
def compose(daemon, tmp_path):
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(COMPOSE_HINT, pytrace=False)
    project = tmp_path / "app"
    project.mkdir()
    port = 5721
    (project / "docker-compose.yml").write_text(COMPOSE_FILE.format(port=port))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_", "PYTHON"))}
    env.update(DOCKER_HOST=daemon.unix_url, COMPOSE_PROJECT_NAME="dmnhc", DOCKER_CONFIG=daemon.config)

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        res = subprocess.run(["/usr/bin/python3", exe, *args], cwd=project, env=env, capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
                                 f"\ndaemon log:\n{daemon.log()}")
        return res
    run.port = port
    daemon.docker("run", "--rm", "--network", "none", "busybox", "true", check=True)  # the image, made once
    yield run
    run("down", "-v", check=False)


def test_compose_app_end_to_end(daemon, compose):
    compose("up", "-d")
    ps = compose("ps").stdout
    assert "dmnhc_web_1" in ps and "dmnhc_db_1" in ps and ps.count(" Up ") == 2, ps
    # labels: compose finds its containers, network and volume by them
    names = daemon.docker("ps", "--filter", "label=com.docker.compose.project=dmnhc", "--format", "{{.Names}}",
                          check=True).stdout.split()
    assert sorted(names) == ["dmnhc_db_1", "dmnhc_web_1"]
    vol = daemon.docker("volume", "inspect", "-f", "{{json .Labels}}", "dmnhc_data", check=True).stdout
    assert '"made.by":"dmnh"' in vol and "com.docker.compose.project" in vol
    deadline = time.monotonic() + 20
    while "db up" not in (logs := compose("logs", "--no-color").stdout) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "db up" in logs and "web up" in logs, logs
    out = compose("exec", "-T", "web", "sh", "-c", "echo $GREETING; cat /data/db.txt").stdout
    assert out == "hello-compose\nfrom-db\n"
    # the services find each other by service name on the project's network
    out = compose("exec", "-T", "web", "ping", "-c", "1", "-W", "2", "db").stdout
    assert "10.231.3." in out and " 0% packet loss" in out, out
    with urllib.request.urlopen(f"http://127.0.0.1:{compose.port}/", timeout=5) as resp:
        assert resp.read() == b"served-by-web\n"
    compose("restart", "-t", "1")
    assert compose("ps").stdout.count(" Up ") == 2
    out = compose("exec", "-T", "db", "cat", "/data/db.txt").stdout
    assert out == "from-db\n"
    compose("down", "-v")
    assert daemon.docker("ps", "-aq", check=True).stdout == ""
    assert daemon.docker("volume", "ls", "-q", check=True).stdout == ""
    nets = daemon.docker("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    assert "dmnhc_default" not in nets
