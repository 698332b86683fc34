"""The json-file driver's rotation and attach's detach keys through ``nsrun daemon``, with the docker CLI and
docker-py: ``--log-opt max-size/max-file`` rotate ``container.log``, ``docker logs`` (``-f``, ``--tail``) reads
across the files, inspect shows ``HostConfig.LogConfig`` as given, and other drivers or keys are refused by
name; ``docker attach --detach-keys`` on a real pty detaches and leaves the container running."""
from __future__ import annotations

import glob
import http.client
import os
import pty
import select
import shutil
import socket
import subprocess
import time

import docker
import pytest

NONE = ("--network", "none")
WRITER = "i=0; while [ $i -lt 60 ]; do printf 'line %03d %090d\\n' $i 0; i=$((i+1)); usleep 20000; done"


def _numbers(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("line ")]


def test_docker_log_opts_rotate_and_logs_read_across(daemon, docker_client):
    d = daemon
    cid = d.docker("run", "-d", "--name", "lga-drot", *NONE, "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
                   "busybox", "sh", "-c", WRITER, check=True).stdout.strip()
    try:
        follow = subprocess.Popen([shutil.which("docker") or "/usr/local/bin/docker", "-H", d.unix_url, "logs", "-f",
                                   "lga-drot"], stdout=subprocess.PIPE, text=True,
                                  env={k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")})
        assert d.docker("wait", "lga-drot", check=True).stdout.strip() == "0"
        out, _ = follow.communicate(timeout=30)
        assert _numbers(out) == list(range(60))                      # -f went across every rotation
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(d.root, "containers", cid, "container.log*")))
        assert files == ["container.log", "container.log.1", "container.log.2"]
        kept = _numbers(d.docker("logs", "lga-drot", check=True).stdout)
        assert kept == list(range(kept[0], 60)) and kept[0] > 0
        assert _numbers(d.docker("logs", "--tail", "5", "lga-drot", check=True).stdout) == list(range(55, 60))
        conf = docker_client.containers.get("lga-drot").attrs["HostConfig"]["LogConfig"]
        assert conf == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}}
    finally:
        d.docker("rm", "-f", "lga-drot", check=True)


def test_other_drivers_and_keys_are_refused_by_name(daemon, docker_client):
    d = daemon
    for args, words in ((("--log-opt", "max-file=3"), "max-file can only be used together with max-size"),
                        (("--log-opt", "compress=true"), "unknown log opt 'compress'"),
                        (("--log-driver", "syslog"), "HostConfig.LogConfig.Type")):
        res = d.docker("run", "-d", "--name", "lga-dbad", *NONE, *args, "busybox", "true")
        assert res.returncode == 125 and words in res.stderr, res.stderr
    with pytest.raises(docker.errors.APIError) as info:
        docker_client.containers.create("busybox", "true", name="lga-dbad", network_mode="none",
                                        log_config=docker.types.LogConfig(type="local"))
    assert info.value.status_code == 400 and "HostConfig.LogConfig.Type" in str(info.value)
    assert d.docker("ps", "-aq", check=True).stdout == ""


def test_docker_attach_detach_keys_on_a_pty(daemon):
    d = daemon
    d.docker("run", "-dit", "--name", "lga-datt", *NONE, "busybox", "sh", check=True)
    try:
        conn = http.client.HTTPConnection("localhost")
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.connect(d.sock)
        conn.request("POST", "/containers/lga-datt/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-P")
        res = conn.getresponse()
        assert res.status == 400 and b"Invalid detach keys (ctrl-P) provided" in res.read()
        conn.close()
        exe = shutil.which("docker") or "/usr/local/bin/docker"
        pid, fd = pty.fork()
        if pid == 0:
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
            os.execve(exe, [exe, "-H", d.unix_url, "attach", "--detach-keys", "ctrl-x,x", "lga-datt"], env)
        seen = b""
        time.sleep(1.0)
        os.write(fd, b"echo $((6*7))z\r")
        deadline = time.monotonic() + 15
        while b"42z" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        assert b"42z" in seen, seen
        os.write(fd, b"\x18x")
        code = None
        deadline = time.monotonic() + 15
        while code is None and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            code = os.waitstatus_to_exitcode(status) if done else None
        if code is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
        assert code is not None, seen
        time.sleep(0.3)
        assert d.docker("inspect", "-f", "{{.State.Running}}", "lga-datt", check=True).stdout.strip() == "true"
    finally:
        d.docker("rm", "-f", "lga-datt", check=True)
