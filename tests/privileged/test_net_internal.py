"""``nsrun network create --internal`` with each firewall backend (nft, iptables nft and legacy variants):
containers on it reach each other, but nothing leaves the bridge (no forwarding to other interfaces, no
masquerade, no default route), even when a route is forced inside; the same setup on an ordinary network
does reach the "outside" (a namespace this test makes, never the host's uplink). Ports published there are
discarded with Docker's behaviour and a warning. Names n14b*, subnets in 10.214.0.0/16."""
from __future__ import annotations

import json
import subprocess

from leakcheck import root_tag
from netenv import backend, net_nsrun, sh  # noqa: F401 (fixtures)


def _outside(root: str, unique: str):
    """A namespace joined to the host by a veth: host 10.214.100.1/30, inside 10.214.100.2/30, routing the
    test's container subnets back to the host (so only the firewall can stop a forwarded packet)."""
    tag = root_tag(root)
    netns, link = f"nsr{tag}o{unique}", f"nsr{tag}o{unique}"[:15]
    sh("ip", "netns", "add", netns)
    try:
        sh("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "addr", "add", "10.214.100.1/30", "dev", link)
        sh("ip", "link", "set", link, "up")
        for cmd in (["ip", "addr", "add", "10.214.100.2/30", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "10.214.0.0/18", "via", "10.214.100.1"]):
            sh("ip", "netns", "exec", netns, *cmd)
    except BaseException:
        sh("ip", "netns", "del", netns, check=False)
        raise
    return netns


def _pid(run, name: str) -> int:
    return json.loads(run.plain("inspect", name, check=True).stdout)[0]["State"]["Pid"]


def _ping_outside(run, name: str, gateway: str) -> subprocess.CompletedProcess:
    """Force a route to the outside inside the container (from the host: the container has no NET_ADMIN),
    then ping it."""
    sh("nsenter", "-t", str(_pid(run, name)), "-n", "ip", "route", "replace", "10.214.100.0/30", "via", gateway)
    return run.plain("exec", name, "ping", "-c1", "-W2", "10.214.100.2", timeout=30)


def test_internal_network_reaches_its_peer_but_nothing_outside(net_nsrun, nsrun_root, unique):
    run = net_nsrun
    netns = _outside(nsrun_root, unique)
    try:
        run("network", "create", "--internal", "--subnet", "10.214.31.0/24", "n14b-int", check=True)
        run("network", "create", "--subnet", "10.214.32.0/24", "n14b-open", check=True)
        shown = json.loads(run("network", "inspect", "n14b-int", check=True).stdout)[0]
        assert shown["Internal"] is True
        assert json.loads(run("network", "inspect", "n14b-open", check=True).stdout)[0]["Internal"] is False
        res = run("run", "-d", "--name", "n14b-i1", "--network", "n14b-int", "-p", "18410:80", "busybox", "sleep",
                  "300")
        assert res.returncode == 0 and "Published ports are discarded" in res.stderr, res.stderr
        run("run", "-d", "--name", "n14b-i2", "--network", "n14b-int", "busybox", "sleep", "300", check=True)
        run("run", "-d", "--name", "n14b-o1", "--network", "n14b-open", "busybox", "sleep", "300", check=True)
        assert run.plain("exec", "n14b-i1", "ping", "-c1", "-W2", "n14b-i2").returncode == 0        # its peer
        route = run.plain("exec", "n14b-i1", "ip", "route", check=True).stdout
        assert "default" not in route                                                              # no way out
        assert json.loads(run.plain("inspect", "n14b-i1", check=True).stdout)[0]["Info"]["NetworkSettings"][
            "Ports"] == {}
        assert _ping_outside(run, "n14b-o1", "10.214.32.1").returncode == 0      # the setup works elsewhere
        blocked = _ping_outside(run, "n14b-i1", "10.214.31.1")
        assert blocked.returncode != 0, blocked.stdout                          # the firewall stops it
        # nor does the outside see anything of the internal subnet (no masquerade, no forwarding)
        seen = sh("ip", "netns", "exec", netns, "ping", "-c1", "-W1", "10.214.31.2", check=False)
        assert seen.returncode != 0
    finally:
        run.plain("rm", "-f", "n14b-i1", "n14b-i2", "n14b-o1")
        run("network", "rm", "n14b-int", "n14b-open")
        sh("ip", "netns", "del", netns, check=False)


def test_internal_through_the_api_shape(net_nsrun):
    run = net_nsrun
    run("network", "create", "--internal", "--label", "n14b=yes", "n14b-int2", check=True)
    try:
        shown = json.loads(run("network", "inspect", "n14b-int2", check=True).stdout)[0]
        assert shown["Internal"] is True and shown["Labels"] == {"n14b": "yes"}
    finally:
        run("network", "rm", "n14b-int2", check=True)
