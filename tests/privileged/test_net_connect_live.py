"""``nsrun network connect|disconnect`` of RUNNING containers: a second interface in the live namespace,
reaching a peer there by address and by name (both ways, through /etc/hosts), ``--ip``, ``--alias``, inspect
and ``ps --filter network=``; disconnect takes the interface and its route; teardown, ``gc`` after kill -9 and
refusals leave nothing. Real namespaces, busybox inside; names n14b*, subnets in 10.214.0.0/16."""
from __future__ import annotations

import json
import os
import signal
import subprocess

from leakcheck import root_tag
from waiting import wait_for


def _nets(nsrun, name: str) -> dict:
    return json.loads(nsrun("inspect", name, check=True).stdout)[0]["Info"]["NetworkSettings"]["Networks"]


def _leases(root: str) -> list[str]:
    return sorted(f for _, _, fs in os.walk(os.path.join(root, "networks")) for f in fs if f.endswith(".lease"))


def test_connect_a_running_container_reaches_a_peer_by_ip_and_name_and_disconnect_removes_it(nsrun, nsrun_root):
    nsrun("network", "create", "--subnet", "10.214.11.0/24", "n14b-a", check=True)
    nsrun("network", "create", "--subnet", "10.214.12.0/24", "n14b-b", check=True)
    try:
        nsrun("run", "-d", "--name", "n14b-peer", "--network", "n14b-b", "busybox", "sleep", "300", check=True)
        nsrun("run", "-d", "--name", "n14b-c", "--network", "n14b-a", "busybox", "sleep", "300", check=True)
        before = nsrun("exec", "n14b-c", "ping", "-c1", "-W1", "10.214.12.2")
        assert before.returncode == 1, before.stderr        # ping's own "no reply": isolated networks (not an nsrun error)
        nsrun("network", "connect", "--ip", "10.214.12.40", "--alias", "n14b-svc", "n14b-b", "n14b-c", check=True)
        addrs = nsrun("exec", "n14b-c", "ip", "-o", "-4", "addr", check=True).stdout
        assert "eth1" in addrs and "10.214.12.40/24" in addrs
        route = nsrun("exec", "n14b-c", "ip", "route", check=True).stdout
        assert "default via 10.214.11.1 dev eth0" in route and "10.214.12.0/24 dev eth1" in route
        assert nsrun("exec", "n14b-c", "ping", "-c1", "-W2", "10.214.12.2").returncode == 0       # by IP
        assert nsrun("exec", "n14b-c", "ping", "-c1", "-W2", "n14b-peer").returncode == 0         # by name
        back = nsrun("exec", "n14b-peer", "ping", "-c1", "-W2", "n14b-svc", check=True).stdout   # its alias
        assert "10.214.12.40" in back
        assert nsrun("exec", "n14b-peer", "ping", "-c1", "-W2", "n14b-c").returncode == 0
        nets = _nets(nsrun, "n14b-c")
        assert set(nets) == {"n14b-a", "n14b-b"}
        assert nets["n14b-b"]["IPAddress"] == "10.214.12.40" and "n14b-svc" in nets["n14b-b"]["Aliases"]
        assert nets["n14b-b"]["IPAMConfig"] == {"IPv4Address": "10.214.12.40"}
        shown = nsrun("ps", "-q", "--filter", "network=n14b-b", check=True).stdout.split()
        assert len(shown) == 2
        inspect = json.loads(nsrun("network", "inspect", "n14b-b", check=True).stdout)[0]
        assert sorted(c["Name"] for c in inspect["Containers"].values()) == ["n14b-c", "n14b-peer"]

        again = nsrun("network", "connect", "n14b-b", "n14b-c")
        assert again.returncode == 125 and "already exists in network n14b-b" in again.stderr
        assert again.stderr.count("\n") == 1
        taken = nsrun("network", "connect", "--ip", "10.214.12.40", "n14b-a", "n14b-peer")
        assert taken.returncode == 125 and "not a usable address" in taken.stderr
        for args, words in ((("n14b-nosuch", "n14b-c"), "network n14b-nosuch not found"),
                            (("n14b-b", "n14b-nosuch"), "n14b-nosuch")):
            res = nsrun("network", "connect", *args)
            assert res.returncode == 125 and words in res.stderr and res.stderr.count("\n") == 1, res.stderr

        nsrun("network", "disconnect", "n14b-b", "n14b-c", check=True)
        links = nsrun("exec", "n14b-c", "ip", "-o", "link", check=True).stdout
        assert "eth1" not in links
        assert "10.214.12.0/24" not in nsrun("exec", "n14b-c", "ip", "route", check=True).stdout
        assert nsrun("exec", "n14b-c", "ping", "-c1", "-W1", "10.214.12.2").returncode != 0
        assert "n14b-svc" not in nsrun("exec", "n14b-peer", "cat", "/etc/hosts", check=True).stdout
        assert "n14b-peer" not in nsrun("exec", "n14b-c", "cat", "/etc/hosts", check=True).stdout
        assert set(_nets(nsrun, "n14b-c")) == {"n14b-a"}
        assert len(nsrun("ps", "-q", "--filter", "network=n14b-b", check=True).stdout.split()) == 1
        res = nsrun("network", "disconnect", "n14b-b", "n14b-c")
        assert res.returncode == 125 and "is not connected to network n14b-b" in res.stderr

        # connected again, then stopped: its teardown removes the added endpoint like the first one
        nsrun("network", "connect", "n14b-b", "n14b-c", check=True)
        nsrun("rm", "-f", "n14b-c", check=True)
        assert _leases(nsrun_root) == ["10.214.12.2.lease"]
        tag = root_tag(nsrun_root)
        assert wait_for(lambda: not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}e")])
        assert "10.214.12." not in nsrun("exec", "n14b-peer", "sh", "-c", "grep -v n14b-peer /etc/hosts").stdout
    finally:
        nsrun("rm", "-f", "n14b-c", "n14b-peer")
        nsrun("network", "rm", "n14b-a", "n14b-b")


def test_disconnect_from_the_network_it_started_on_and_gc_after_kill9(nsrun, nsrun_root):
    nsrun("network", "create", "--subnet", "10.214.13.0/24", "n14b-d", check=True)
    nsrun("network", "create", "--subnet", "10.214.14.0/24", "n14b-e", check=True)
    tag = root_tag(nsrun_root)
    proc = nsrun.popen("run", "--name", "n14b-k", "--network", "n14b-d", "busybox", "sleep", "300",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: "n14b-k" in nsrun("ps").stdout, timeout=20)
        nsrun("network", "connect", "n14b-e", "n14b-k", check=True)
        nsrun("network", "disconnect", "n14b-d", "n14b-k", check=True)       # the one it started with
        route = nsrun("exec", "n14b-k", "ip", "route", check=True).stdout
        assert "default" not in route and "10.214.13." not in route and "10.214.14.0/24 dev eth1" in route
        assert set(_nets(nsrun, "n14b-k")) == {"n14b-e"}
        cid = json.loads(nsrun("inspect", "n14b-k", check=True).stdout)[0]["Id"]
        assert not os.path.exists(f"/sys/class/net/nsr{tag}v{cid[:6]}")
        assert _leases(nsrun_root) == ["10.214.14.2.lease"]
        assert [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}e")]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    try:
        nsrun("gc", check=True, timeout=60)
        assert _leases(nsrun_root) == []
        assert wait_for(lambda: not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}e")])
    finally:
        nsrun("rm", "-f", "n14b-k")
        nsrun("network", "rm", "n14b-d", "n14b-e")


def test_connect_of_a_container_without_its_own_network_is_refused(nsrun):
    nsrun("network", "create", "--subnet", "10.214.15.0/24", "n14b-f", check=True)
    try:
        nsrun("run", "-d", "--name", "n14b-none", "--network", "none", "busybox", "sleep", "300", check=True)
        res = nsrun("network", "connect", "n14b-f", "n14b-none")
        assert res.returncode == 125 and "private (none) mode" in res.stderr
        assert json.loads(nsrun("network", "inspect", "n14b-f", check=True).stdout)[0]["Containers"] == {}
    finally:
        nsrun("rm", "-f", "n14b-none")
        nsrun("network", "rm", "n14b-f")
