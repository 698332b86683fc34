"""Dual-stack IPv6 networks (``network create --ipv6 --subnet 10.x/24 --subnet fd16:..::/64``) with each firewall
backend (nft, iptables nft and legacy variants), with real namespaces and real packets: IPv6 addresses leased
and released, the gateway on the bridge, a default route inside, names in /etc/hosts, isolation between
networks, masquerade of what leaves the bridge (towards a namespace this test makes, never the host's uplink),
ports published on IPv6, live connect, gc after kill -9; and bad input refused with nothing made.
Names v6h*, subnets in 10.216.0.0/16 and fd16::/16, ports 18700-18799."""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess

import pytest

from leakcheck import root_tag
from netenv import backend, net_nsrun, sh  # noqa: F401 (fixtures)
from waiting import wait_for


def _outside(root: str, unique: str) -> str:
    """A namespace joined to the host by a veth: host fd16:ff::1/64, inside fd16:ff::2/64, with NO route back
    to the containers' subnets: only masquerade lets a reply come back."""
    tag = root_tag(root)
    netns, link = f"nsr{tag}o{unique}", f"nsr{tag}o{unique}"[:15]
    sh("ip", "netns", "add", netns)
    try:
        sh("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "addr", "add", "fd16:ff::1/64", "dev", link, "nodad")
        sh("ip", "link", "set", link, "up")
        for cmd in (["ip", "addr", "add", "fd16:ff::2/64", "dev", "eth0", "nodad"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", netns, *cmd)
    except BaseException:
        sh("ip", "netns", "del", netns, check=False)
        raise
    return netns


def _inspect(run, name: str) -> dict:
    return json.loads(run.plain("inspect", name, check=True).stdout)[0]


def _ping6(run, name: str, target: str) -> int:
    """ping's own exit status from inside ``name`` (0 a reply, 1 none); an nsrun error fails the test here, so
    it can neither pass an isolation check nor hide behind a bare status."""
    res = run.plain("exec", name, "ping", "-6", "-c1", "-W2", target, timeout=30)
    assert res.returncode in (0, 1), f"exec ping in {name}: {res.returncode}: {res.stderr.strip()}"
    return res.returncode


def test_dual_stack_addresses_isolation_masquerade_ports(net_nsrun, nsrun_root, unique):
    run = net_nsrun
    netns = _outside(nsrun_root, unique)
    try:
        run("network", "create", "--ipv6", "--subnet", "10.216.1.0/24", "--subnet", "fd16:1::/64", "v6ha",
            check=True)
        run("network", "create", "--ipv6", "--subnet", "10.216.2.0/24", "--subnet", "fd16:2::/64",
            "--gateway", "fd16:2::fe", "v6hb", check=True)
        shown = json.loads(run("network", "inspect", "v6ha", check=True).stdout)[0]
        assert shown["EnableIPv6"] is True
        assert shown["IPAM"]["Config"] == [{"Subnet": "10.216.1.0/24", "Gateway": "10.216.1.1"},
                                           {"Subnet": "fd16:1::/64", "Gateway": "fd16:1::1"}]
        run("run", "-d", "--name", "v6h1", "--network", "v6ha", "-p", "18701:8080", "busybox",
            "sh", "-c", "while true; do echo v6hello | nc -l -p 8080; done", check=True)
        run("run", "-d", "--name", "v6h2", "--network", "v6ha", "busybox", "sleep", "300", check=True)
        run("run", "-d", "--name", "v6h3", "--network", "v6hb", "busybox", "sleep", "300", check=True)
        net1 = _inspect(run, "v6h1")["Info"]["NetworkSettings"]["Networks"]["v6ha"]
        assert (net1["GlobalIPv6Address"], net1["GlobalIPv6PrefixLen"], net1["IPv6Gateway"]) == \
            ("fd16:1::2", 64, "fd16:1::1")
        net3 = _inspect(run, "v6h3")["Info"]["NetworkSettings"]
        assert net3["GlobalIPv6Address"] == "fd16:2::1" and net3["IPv6Gateway"] == "fd16:2::fe"
        # the bridge has the gateway, the container a default route via it and an address without DAD
        assert "fd16:1::1/64" in sh("ip", "-6", "addr", "show", "dev", shown["Nsrun"]["Bridge"]).stdout
        inside = run.plain("exec", "v6h2", "ip", "-6", "route", check=True).stdout
        assert "default via fd16:1::1" in inside, inside
        addr = run.plain("exec", "v6h2", "ip", "-6", "addr", "show", "dev", "eth0", check=True).stdout
        assert "fd16:1::3/64" in addr and "tentative" not in addr.split("fd16:1::3/64")[1].split("\n")[0]
        # names resolve to the IPv6 addresses of peers too
        hosts = run.plain("exec", "v6h2", "cat", "/etc/hosts", check=True).stdout
        assert "fd16:1::2\tv6h1\n" in hosts and "v6h2\n" in hosts.split("fd16:1::3\t")[1], hosts
        assert "fd16:1::3\tv6h2" in run.plain("exec", "v6h1", "cat", "/etc/hosts", check=True).stdout
        assert _ping6(run, "v6h2", "v6h1") == 0                                        # same network
        assert _ping6(run, "v6h2", "fd16:1::1") == 0                                   # its gateway
        assert _ping6(run, "v6h3", "fd16:1::2") == 1                                   # isolation
        assert _ping6(run, "v6h3", "fd16:ff::2") == 0                                  # masquerade out
        # a port published on every address answers on the host's IPv6 addresses too (DNAT to the v6 one)
        got = wait_for(lambda: sh("ip", "netns", "exec", netns, "socat", "-T2", "-", "TCP6:[fd16:ff::1]:18701",
                                  check=False).stdout, timeout=10)
        assert "v6hello" in got
        got = wait_for(lambda: run.plain("exec", "v6h2", "sh", "-c", "echo | nc -w2 fd16:1::2 8080").stdout)
        assert "v6hello" in got
    finally:
        run.plain("rm", "-f", "v6h1", "v6h2", "v6h3")
        run("network", "rm", "v6ha", "v6hb")
        sh("ip", "netns", "del", netns, check=False)


def test_live_connect_and_gc_after_kill(net_nsrun, nsrun_root):
    run = net_nsrun
    try:
        run("network", "create", "--subnet", "10.216.3.0/24", "v6hc4", check=True)
        run("network", "create", "--ipv6", "--subnet", "10.216.4.0/24", "--subnet", "fd16:4::/64", "v6hc6",
            check=True)
        run("run", "-d", "--name", "v6hl1", "--network", "v6hc4", "busybox", "sleep", "300", check=True)
        proc = run.plain.popen("--plugins", run.backend["plugins"], "run", "--name", "v6hl2", "--network", "v6hc6",
                               "busybox", "sleep", "300", env={**os.environ, **run.backend["env"]}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        assert wait_for(lambda: "v6hl2" in run.plain("ps").stdout, timeout=20)
        run("network", "connect", "v6hc6", "v6hl1", check=True)
        ep = _inspect(run, "v6hl1")["Info"]["NetworkSettings"]["Networks"]["v6hc6"]
        assert ep["GlobalIPv6Address"] == "fd16:4::3" and ep["GlobalIPv6PrefixLen"] == 64
        assert "fd16:4::3/64" in run.plain("exec", "v6hl1", "ip", "-6", "addr", "show", "eth1", check=True).stdout
        assert _ping6(run, "v6hl1", "v6hl2") == 0
        assert "fd16:4::3\tv6hl1" in run.plain("exec", "v6hl2", "cat", "/etc/hosts", check=True).stdout
        run("network", "disconnect", "v6hc6", "v6hl1", check=True)
        assert "fd16:4::3" not in run.plain("exec", "v6hl2", "cat", "/etc/hosts", check=True).stdout
        assert not [f for f in os.listdir(os.path.join(nsrun_root, "networks", "v6hc6")) if f.startswith("fd16:4::3")]
        assert "fd16:4::2.lease" in os.listdir(os.path.join(nsrun_root, "networks", "v6hc6"))
        # kill -9 of nsrun running it: gc releases the IPv6 lease with the IPv4 one
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        run("gc", check=True, timeout=60)
        assert not [f for f in os.listdir(os.path.join(nsrun_root, "networks", "v6hc6")) if f.endswith(".lease")]
    finally:
        run.plain("rm", "-f", "v6hl1", "v6hl2")
        run("network", "rm", "v6hc4", "v6hc6")


@pytest.mark.parametrize("args, message", [
    (["--subnet", "10.216.9.0/24", "--subnet", "fd16:zz::/64"], "invalid subnet 'fd16:zz::/64'"),
    (["--subnet", "10.216.9.0/24"], "non-overlapping IPv6 address pool"),
    (["--subnet", "10.216.9.0/24", "--subnet", "fd16:9::/64", "--gateway", "fd16:8::1"],
     "gateway fd16:8::1 is not a usable address of subnet fd16:9::/64"),
    (["--subnet", "10.216.9.0/24", "--subnet", "fd16:7:0:0:8000::/65"], "overlaps network v6hok"),
])
def test_bad_ipv6_input_is_one_line_and_leaves_nothing(net_nsrun, nsrun_root, args, message):
    run = net_nsrun
    run("network", "create", "--ipv6", "--subnet", "10.216.8.0/24", "--subnet", "fd16:7::/64", "v6hok", check=True)
    try:
        res = run("network", "create", "--ipv6", *args, "v6hbad")
        assert res.returncode == 125 and message in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
        assert not os.path.exists(os.path.join(nsrun_root, "networks", "v6hbad.json"))
        assert run("network", "inspect", "v6hbad").returncode == 125
        res = run("network", "create", "--subnet", "10.216.9.0/24", "--subnet", "fd16:9::/64", "v6hbad")
        assert res.returncode == 125 and "needs --ipv6" in res.stderr
    finally:
        run("network", "rm", "v6hok", check=True)


START_PHASES = ("configure:net", "pre_clone:net", "post_start:net")


def _start_ms(run, network: str) -> float:
    """The net plugin's share of one start (``NSRUN_TRACE``: configure + pre_clone + post_start), in ms: what
    DAD would hold up. The whole run's wall clock on a shared machine drifts by tens of ms."""
    import re
    res = run("run", "--rm", "--network", network, "busybox", "true", env={"NSRUN_TRACE": "1"}, check=True)
    phases = {m[0]: float(m[1]) for m in re.findall(r"^\s+(\S+:net)\s+([\d.]+)", res.stderr, re.M)}
    assert set(START_PHASES) <= set(phases), res.stderr
    return sum(phases[k] for k in START_PHASES)


def test_dual_stack_start_is_not_held_by_dad(nsrun):
    """DAD must not hold the start (the IPv6 address is ``nodad``): DAD would add a second or more to every
    dual-stack start. A functional bound, far above any noise (the cost itself is no test's business)."""
    nsrun("network", "create", "--subnet", "10.216.10.0/24", "v6hs4", check=True)
    nsrun("network", "create", "--ipv6", "--subnet", "10.216.11.0/24", "--subnet", "fd16:11::/64", "v6hs6",
          check=True)
    try:
        _start_ms(nsrun, "v6hs4"), _start_ms(nsrun, "v6hs6")   # warm both bridges and tables
        pairs = [(_start_ms(nsrun, "v6hs4"), _start_ms(nsrun, "v6hs6")) for _ in range(5)]
        assert statistics.median(b - a for a, b in pairs) < 500, pairs
    finally:
        nsrun("network", "rm", "v6hs4", "v6hs6")
