"""Networks and published ports through the Docker API. With the net plugin installed: a user-defined bridge
(inside 10.130.0.0/16) and ``-p`` on 127.0.0.1, driven by the docker CLI and docker-py, traffic on loopback
only. Without it: the clear refusals that name the plugin."""
from __future__ import annotations

import socket
import time
import urllib.request

from nsrun._plugins import installed_plugins

HAS_NET = "net" in installed_plugins()
HTTPD = "mkdir -p /www && echo hello-{tag} > /www/index.html && exec httpd -f -p 80 -h /www"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_bridge_network_and_published_port_with_the_docker_cli(daemon, unique):
    subnet = f"10.130.{int(unique, 16) % 200 + 20}.0/24"
    r = daemon.docker("network", "create", "--subnet", subnet, f"net{unique}")
    if not HAS_NET:
        assert r.returncode != 0 and "net plugin" in r.stderr
        r = daemon.docker("run", "--rm", "-p", "127.0.0.1:18080:80", "busybox", "true")
        assert r.returncode == 125 and "net plugin" in r.stderr
        return
    assert r.returncode == 0, r
    port = free_port()
    try:
        daemon.docker("run", "-d", "--name", f"web{unique}", "--network", f"net{unique}", "-p",
                      f"127.0.0.1:{port}:80", "busybox", "sh", "-c", HTTPD.format(tag=unique), check=True)
        assert fetch(port) == f"hello-{unique}\n".encode()
        ps = daemon.docker("ps", "--format", "{{.Ports}}", check=True).stdout.strip()
        assert ps == f"127.0.0.1:{port}->80/tcp"
        ip = daemon.docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", f"web{unique}").stdout.strip()
        assert ip.startswith(subnet.rsplit(".", 1)[0] + ".")
        names = daemon.docker("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
        assert f"net{unique}" in names and "none" in names
        busy = daemon.docker("network", "rm", f"net{unique}")
        assert busy.returncode != 0 and "active endpoints" in busy.stderr
    finally:
        daemon.docker("rm", "-f", f"web{unique}")
        daemon.docker("network", "rm", f"net{unique}")
    assert f"net{unique}" not in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()


def test_ports_with_docker_py(docker_client, unique):
    import docker
    if not HAS_NET:
        return  # the refusal is covered in test_docker_py
    subnet = f"10.130.{int(unique, 16) % 20 + 230}.0/24"
    net = docker_client.networks.create(f"py{unique}", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=subnet)]))
    port = free_port()
    try:
        c = docker_client.containers.run("busybox", ["sh", "-c", HTTPD.format(tag=unique)], detach=True,
                                         network=f"py{unique}", ports={"80/tcp": ("127.0.0.1", port)})
        assert fetch(port) == f"hello-{unique}\n".encode()
        c.reload()
        assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        c.remove(force=True)
    finally:
        net.remove()


def test_network_option_through_the_docker_cli(daemon, unique):
    # true: not the default, so the option is seen to be carried, not just defaulted
    r = daemon.docker("network", "create", "-o", "nsrun.bridge.big_tcp=true", f"opt{unique}")
    if not HAS_NET:
        assert r.returncode != 0 and "net plugin" in r.stderr
        return
    assert r.returncode == 0, r
    try:
        fmt = '{{index .Options "nsrun.bridge.big_tcp"}}'
        shown = daemon.docker("network", "inspect", "--format", fmt, f"opt{unique}", check=True).stdout.strip()
        assert shown == "true"
        bad = daemon.docker("network", "create", "-o", "nosuch=1", f"bad{unique}")
        assert bad.returncode != 0 and "unknown network option" in bad.stderr
    finally:
        daemon.docker("network", "rm", f"opt{unique}")
