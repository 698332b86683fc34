"""Docker's ``StdinOnce`` against ``nsrun daemon``, with the real docker CLI and the raw attach endpoint:
``docker run -i`` (attached: ``StdinOnce`` true) closes the container's stdin when the client's ends;
``docker run -di`` (``StdinOnce`` false) keeps it open with no client, and an attach that ends (EOF: its
stream ends, as moby's does), detaches (detach keys) or is killed does not close it; a later attach still
writes to it. ``create -i`` (the CLI sends ``StdinOnce``) + ``start``: open until an attached client's EOF. Containers run with ``--network none``; names ns4-*."""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time

from waiting import wait_for

NONE = ("--network", "none")
READER = "while read l; do echo got:$l; done; echo EOF-SEEN; sleep 300"


def _logs(d, name: str) -> str:
    return d.docker("logs", name, check=True).stdout


def _flags(d, name: str) -> str:
    fmt = "{{.Config.OpenStdin}} {{.Config.StdinOnce}} {{.Config.AttachStdin}} {{.State.Running}}"
    return d.docker("inspect", "-f", fmt, name, check=True).stdout.strip()


class RawAttach:
    """``POST /containers/NAME/attach`` taken over (``Upgrade: tcp``), as the clients do."""

    def __init__(self, d, name: str, query: str = "") -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(d.sock)
        path = f"/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1{query}"
        self.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def ended(self, timeout: float = 10) -> bool:
        """Whether the daemon ends the stream within ``timeout`` (output read and dropped meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.sock], [], [], 0.1)[0]:
                try:
                    if not self.sock.recv(65536):
                        return True
                except ConnectionError:
                    return True
        return False

    def close(self) -> None:
        self.sock.close()


def test_docker_run_i_closes_stdin_at_the_clients_eof(daemon):
    d = daemon
    out = d.docker("run", "-i", "--name", "ns4-once", *NONE, "busybox", "sh", "-c", "cat; echo end", input="a\nb\n",
                   check=True, timeout=30)
    try:
        assert out.stdout == "a\nb\nend\n"
        assert _flags(d, "ns4-once") == "true true true false"
    finally:
        d.docker("rm", "-f", "ns4-once")


def test_docker_run_di_keeps_stdin_open_across_attaches(daemon, docker_cli):
    d = daemon
    d.docker("run", "-di", "--name", "ns4-open", *NONE, "busybox", "sh", "-c", READER, check=True)
    try:
        assert _flags(d, "ns4-open") == "true false false true"
        time.sleep(1)
        assert "EOF-SEEN" not in _logs(d, "ns4-open")           # no client: stdin stays open
        # the docker CLI: its stdin ends (the daemon ends its stream; the CLI then waits for the exit): killed
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = d.config
        cli = subprocess.Popen([docker_cli, "-H", d.unix_url, "attach", "ns4-open"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            cli.stdin.write(b"one\n")
            cli.stdin.close()
            assert wait_for(lambda: "got:one" in _logs(d, "ns4-open"))
        finally:
            cli.send_signal(signal.SIGKILL)
            cli.wait(10)
        time.sleep(0.5)
        assert "EOF-SEEN" not in _logs(d, "ns4-open")
        # the raw endpoint: a half-close ends this client's stream, not the container's stdin
        raw = RawAttach(d, "ns4-open")
        try:
            raw.sock.sendall(b"two\n")
            raw.sock.shutdown(socket.SHUT_WR)
            assert raw.ended()
        finally:
            raw.close()
        assert wait_for(lambda: "got:two" in _logs(d, "ns4-open"))
        # detach keys end the stream, and stdin stays open
        raw = RawAttach(d, "ns4-open", "&detachKeys=ctrl-x,x")
        try:
            raw.sock.sendall(b"three\n\x18x")
            assert raw.ended()
        finally:
            raw.close()
        # a client that just goes away
        raw = RawAttach(d, "ns4-open")
        raw.sock.sendall(b"four\n")
        assert wait_for(lambda: "got:four" in _logs(d, "ns4-open"))
        raw.close()
        time.sleep(0.5)
        logs = _logs(d, "ns4-open")
        assert "got:three" in logs and "EOF-SEEN" not in logs
        assert _flags(d, "ns4-open").endswith("true")
    finally:
        d.docker("rm", "-f", "ns4-open")


def test_create_i_then_start_keeps_stdin_open_until_an_attached_clients_eof(daemon, docker_client):
    """The docker CLI's ``create -i`` sends ``StdinOnce`` (only ``run -d`` clears it): no client, stdin
    open; the first attached client's EOF is the container's, and the stream goes on to its exit."""
    d = daemon
    d.docker("create", "-i", "--name", "ns4-ci", *NONE, "busybox", "sh", "-c",
             "while read l; do echo got:$l; done; echo EOF-SEEN", check=True)
    api = docker_client.api
    made = api._result(api._post_json(api._url("/containers/create"), params={"name": "ns4-so"}, data={
        "Image": "busybox", "Cmd": ["sh", "-c", "cat; echo end-once"], "OpenStdin": True, "StdinOnce": True,
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "HostConfig": {"NetworkMode": "none"}}),
        json=True)
    try:
        assert _flags(d, "ns4-ci") == "true true true false"
        d.docker("start", "ns4-ci", check=True)
        time.sleep(1)
        assert "EOF-SEEN" not in _logs(d, "ns4-ci") and _flags(d, "ns4-ci").endswith("true")
        raw = RawAttach(d, "ns4-ci")
        try:
            raw.sock.sendall(b"x\n")
            raw.sock.shutdown(socket.SHUT_WR)
            assert raw.ended()                                  # at the container's exit
        finally:
            raw.close()
        assert api.wait("ns4-ci", timeout=20)["StatusCode"] == 0
        assert _logs(d, "ns4-ci") == "got:x\nEOF-SEEN\n"
        # attached before the start (the CLI's order for run -i)
        raw = RawAttach(d, "ns4-so")
        try:
            api.start(made["Id"])
            raw.sock.sendall(b"y\n")
            raw.sock.shutdown(socket.SHUT_WR)
            assert raw.ended()
        finally:
            raw.close()
        assert api.wait(made["Id"], timeout=20)["StatusCode"] == 0
        assert _logs(d, "ns4-so") == "y\nend-once\n"
    finally:
        d.docker("rm", "-f", "ns4-ci", "ns4-so")
