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


def test_dual_stack_network_with_the_docker_cli(daemon, unique):
    """``docker network create --ipv6 --subnet ... --subnet fd16:..::/64`` and ``docker run --network`` showing
    the IPv6 address (names v6h*, subnets 10.216.0.0/16 and fd16::/16); bad IPv6 input refused by dockerd's words."""
    name = f"v6hd{unique}"
    r = daemon.docker("network", "create", "--ipv6", "--subnet", "10.216.40.0/24", "--subnet", "fd16:40::/64", name)
    if not HAS_NET:
        assert r.returncode != 0 and "net plugin" in r.stderr
        return
    assert r.returncode == 0, r
    try:
        fmt = "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}"
        shown = daemon.docker("network", "inspect", "--format", fmt, name, check=True).stdout.split()
        assert shown == ["true", "10.216.40.0/24=10.216.40.1", "fd16:40::/64=fd16:40::1"]
        daemon.docker("run", "-d", "--name", f"v6hc{unique}", "--network", name, "busybox", "sleep", "300",
                      check=True)
        fmt = f'{{{{with index .NetworkSettings.Networks "{name}"}}}}{{{{.GlobalIPv6Address}}}}/' \
              f'{{{{.GlobalIPv6PrefixLen}}}} {{{{.IPv6Gateway}}}}{{{{end}}}}'
        got = daemon.docker("inspect", "--format", fmt, f"v6hc{unique}", check=True).stdout.split()
        assert got == ["fd16:40::2/64", "fd16:40::1"]
        out = daemon.docker("run", "--rm", "--network", name, "busybox", "sh", "-c",
                            f"ip -6 addr show eth0; ping -6 -c1 -W2 v6hc{unique}", check=True).stdout
        assert "inet6 fd16:40::3/64" in out and "1 packets received" in out, out
        members = daemon.docker("network", "inspect", "--format",
                                "{{range .Containers}}{{.IPv6Address}}{{end}}", name, check=True).stdout.strip()
        assert members == "fd16:40::2/64"
        for args, message in (
                (["--ipv6", "--subnet", "fd16:40::/80"], "overlaps network"),
                (["--ipv6", "--subnet", "fd16:4g::/64"], "invalid subnet"),
                (["--ipv6", "--subnet", "10.216.41.0/24"], "non-overlapping IPv6 address pool")):
            bad = daemon.docker("network", "create", *args, f"v6hx{unique}")
            assert bad.returncode != 0 and message in bad.stderr, (args, bad.stderr)
        # what the CLI checks itself (a gateway outside its subnet) reaches the API from other clients: a 400
        import json
        import docker
        api = docker.APIClient(base_url=daemon.unix_url)
        try:
            body = {"Name": f"v6hx{unique}", "EnableIPv6": True, "IPAM": {"Config": [
                {"Subnet": "fd16:41::/64", "Gateway": "fd16:42::1"}]}}
            res = api._post_json(api._url("/networks/create"), data=body)
            assert res.status_code == 400 and "not a usable address" in json.loads(res.text)["message"], res.text
        finally:
            api.close()
        assert f"v6hx{unique}" not in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    finally:
        daemon.docker("rm", "-f", f"v6hc{unique}")
        daemon.docker("network", "rm", name)
