"""A private ``nsrun daemon`` per test (its own --root, unix socket and loopback TCP port) and the real clients.

The docker CLI must be on the machine: without it these tests FAIL, saying how to install it (CI must run
them). Every test runs its containers with ``--network none`` (no bridge, no traffic off the machine).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import sys

import pytest

NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")

DOCKER_HINT = ("the docker CLI (28.x) is needed for tests/compat: install it with `apt-get install docker.io` "
               "or Docker's static client (docker-28.x.tgz, copy `docker/docker` to /usr/local/bin)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A running ``nsrun daemon``; ``docker(...)`` runs the real CLI against it."""

    def __init__(self, root: str, extra: tuple[str, ...] = (), tcp_ip: str = "127.0.0.1",
                 global_args: tuple[str, ...] = ()) -> None:
        self.root = root
        self.global_args = global_args  # before `daemon`, e.g. ("--plugins", "pid,mnt")
        self.sock = os.path.join(root, "nsrun.sock")
        self.port = free_port()
        self.log_path = os.path.join(root, "daemon.log")
        self.extra = extra
        self.tcp_ip = tcp_ip
        self.proc: subprocess.Popen | None = None
        self.config = tempfile.mkdtemp(prefix="dockercfg-", dir=root)

    @property
    def unix_url(self) -> str:
        return f"unix://{self.sock}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> "Daemon":
        with open(self.log_path, "ab") as log:
            argv = [NSRUN, "--root", self.root, *self.global_args, "daemon", "-H", self.unix_url, "-H",
                    f"tcp://{self.tcp_ip}:{self.port}", *self.extra]
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    if os.path.exists(self.sock):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the daemon did not start:\n{self.log()}")

    def stop(self, sig: int = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return ""

    def docker(self, *args: str, host: str | None = None, input: str | None = None, timeout: float = 60,
               check: bool = False) -> subprocess.CompletedProcess:
        docker = shutil.which("docker") or "/usr/local/bin/docker"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = self.config
        cmd = [docker, "-H", host or self.unix_url, *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"{cmd} -> {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
                                 f"\ndaemon log:\n{self.log()}")
        return result

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
                ) -> tuple[int, bytes]:
        """One raw Engine API call over the daemon's unix socket (for what no client sends): status, body."""
        import http.client

        sock_path = self.sock

        class Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(sock_path)

        conn = Conn("localhost", timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": content_type} if body is not None else {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def post_json(self, path: str, body: dict) -> tuple[int, dict]:
        """``POST path`` with a JSON body; the status and the decoded reply."""
        import json
        status, data = self.request("POST", path, json.dumps(body).encode())
        return status, json.loads(data or b"{}")

    def leftovers(self) -> list[str]:
        cdir = os.path.join(self.root, "containers")
        return [d for d in os.listdir(cdir) if len(d) == 64] if os.path.isdir(cdir) else []


@pytest.fixture
def docker_cli() -> str:
    path = shutil.which("docker") or ("/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK)
                                      else None)
    if path is None:
        pytest.fail(DOCKER_HINT, pytrace=False)
    return path


@pytest.fixture
def daemon(nsrun_root: str, docker_cli: str):
    """A started daemon on this test's root. Afterwards: the daemon is stopped, and a test that left
    containers behind fails. Removing them is the leak check's, after it has looked (it then resets the root)."""
    d = Daemon(nsrun_root).start()
    yield d
    d.stop()
    left = d.leftovers()
    if left:
        pytest.fail(f"the test left containers behind: {[c[:12] for c in left]}", pytrace=False)


@pytest.fixture
def docker_client(daemon: Daemon):
    import docker  # docker-py: the `test` extra (make setup installs it)
    client = docker.DockerClient(base_url=daemon.unix_url, timeout=60)
    yield client
    client.close()
