"""``nsrun network connect`` is part of a container's config, as Docker's: a running container connected live
is on both networks again after ``stop``/``start`` and after a restart policy's restart (same ``--ip``,
``--alias``, peers by name); a created or exited container can be connected to more networks, effective at
its next start; ``disconnect`` of a stopped container removes the network from its config; ``network rm``
refuses only active endpoints, and a start on a removed network fails by name until ``disconnect -f``.
Real namespaces, busybox inside; names ns4-*, subnets in 10.134.0.0/16."""
from __future__ import annotations

import json
import os

from leakcheck import root_tag
from waiting import wait_for


def _addrs(nsrun, name: str) -> dict[str, str]:
    """ifname -> IPv4 address inside the container."""
    out = nsrun("exec", name, "ip", "-o", "-4", "addr", check=True).stdout
    return {line.split()[1]: line.split()[3] for line in out.splitlines() if line.split()[1] != "lo"}


def _leases(root: str) -> list[str]:
    return sorted(f for _, _, fs in os.walk(os.path.join(root, "networks")) for f in fs if f.endswith(".lease"))


def _members(nsrun, net: str) -> list[str]:
    shown = json.loads(nsrun("network", "inspect", net, check=True).stdout)[0]["Containers"]
    return sorted(c["Name"] for c in shown.values())


def test_a_live_connection_survives_stop_start_and_a_stopped_container_can_be_connected(nsrun, nsrun_root):
    for i, net in ((1, "ns4-pa"), (2, "ns4-pb"), (3, "ns4-pc")):
        nsrun("network", "create", "--subnet", f"10.134.{i}.0/24", net, check=True)
    tag = root_tag(nsrun_root)
    try:
        nsrun("run", "-d", "--name", "ns4-peer", "--network", "ns4-pb", "busybox", "sleep", "300", check=True)
        nsrun("run", "-d", "--name", "ns4-c", "--network", "ns4-pa", "busybox", "sleep", "300", check=True)
        nsrun("network", "connect", "--ip", "10.134.2.40", "--alias", "ns4-svc", "ns4-pb", "ns4-c", check=True)
        nsrun("stop", "-t", "1", "ns4-c", check=True)
        # stopped: no interface, no lease, not a member; the connection stays in its config
        assert _leases(nsrun_root) == ["10.134.2.2.lease"]
        assert _members(nsrun, "ns4-pb") == ["ns4-peer"]
        assert not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}e")]
        # connected while stopped: a third network, at the next start
        nsrun("network", "connect", "--alias", "ns4-third", "ns4-pc", "ns4-c", check=True)
        again = nsrun("network", "connect", "ns4-pb", "ns4-c")
        assert again.returncode == 125 and "already exists in network ns4-pb" in again.stderr
        bad = nsrun("network", "connect", "--ip", "10.134.9.9", "ns4-pc", "ns4-peer")
        assert bad.returncode == 125 and "not a usable address" in bad.stderr and bad.stderr.count("\n") == 1
        nsrun("start", "ns4-c", check=True)
        assert _addrs(nsrun, "ns4-c") == {"eth0": "10.134.1.2/24", "eth1": "10.134.2.40/24",
                                          "eth2": "10.134.3.2/24"}
        route = nsrun("exec", "ns4-c", "ip", "route", check=True).stdout
        assert "default via 10.134.1.1 dev eth0" in route and route.count("default") == 1
        # names both ways: its peers' in its /etc/hosts, its alias in theirs
        assert nsrun("exec", "ns4-c", "ping", "-c1", "-W2", "ns4-peer").returncode == 0
        seen = nsrun("exec", "ns4-peer", "ping", "-c1", "-W2", "ns4-svc", check=True).stdout
        assert "10.134.2.40" in seen
        nets = json.loads(nsrun("inspect", "ns4-c", check=True).stdout)[0]["Info"]["NetworkSettings"]["Networks"]
        assert set(nets) == {"ns4-pa", "ns4-pb", "ns4-pc"}
        assert nets["ns4-pb"]["IPAMConfig"] == {"IPv4Address": "10.134.2.40"}
        assert "ns4-third" in nets["ns4-pc"]["Aliases"]
        assert _members(nsrun, "ns4-pb") == ["ns4-c", "ns4-peer"]
        assert len(nsrun("ps", "-q", "--filter", "network=ns4-pc", check=True).stdout.split()) == 1

        # disconnect while running: gone now and at the next start; disconnect while stopped: the same
        nsrun("network", "disconnect", "ns4-pb", "ns4-c", check=True)
        nsrun("stop", "-t", "1", "ns4-c", check=True)
        nsrun("network", "disconnect", "ns4-pc", "ns4-c", check=True)
        res = nsrun("network", "disconnect", "ns4-pc", "ns4-c")
        assert res.returncode == 125 and "is not connected to network ns4-pc" in res.stderr
        nsrun("start", "ns4-c", check=True)
        assert _addrs(nsrun, "ns4-c") == {"eth0": "10.134.1.2/24"}
        assert "ns4-svc" not in nsrun("exec", "ns4-peer", "cat", "/etc/hosts", check=True).stdout
    finally:
        nsrun("rm", "-f", "ns4-c", "ns4-peer")
        nsrun("network", "rm", "ns4-pa", "ns4-pb", "ns4-pc")
    assert _leases(nsrun_root) == []
    assert wait_for(lambda: not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}e")])


def test_network_rm_with_a_stopped_member_then_its_start_fails_by_name(nsrun, nsrun_root):
    nsrun("network", "create", "--subnet", "10.134.4.0/24", "ns4-ra", check=True)
    nsrun("network", "create", "--subnet", "10.134.5.0/24", "ns4-rb", check=True)
    try:
        nsrun("create", "--name", "ns4-r", "--network", "ns4-ra", "busybox", "sleep", "300", check=True)
        nsrun("network", "connect", "ns4-rb", "ns4-r", check=True)         # created: at its first start
        nsrun("start", "ns4-r", check=True)
        assert _addrs(nsrun, "ns4-r") == {"eth0": "10.134.4.2/24", "eth1": "10.134.5.2/24"}
        busy = nsrun("network", "rm", "ns4-rb")
        assert busy.returncode == 125 and "active endpoints" in busy.stderr
        nsrun("stop", "-t", "1", "ns4-r", check=True)
        nsrun("network", "rm", "ns4-rb", check=True)                      # no active endpoint (moby's rule)
        failed = nsrun("start", "ns4-r")
        assert failed.returncode == 1 and "network ns4-rb not found" in failed.stderr
        assert failed.stderr.count("\n") == 1
        assert _leases(nsrun_root) == []                                  # nothing half-made
        gone = nsrun("network", "disconnect", "ns4-rb", "ns4-r")
        assert gone.returncode == 125 and "network ns4-rb not found" in gone.stderr
        nsrun("network", "disconnect", "-f", "ns4-rb", "ns4-r", check=True)
        nsrun("start", "ns4-r", check=True)
        assert _addrs(nsrun, "ns4-r") == {"eth0": "10.134.4.2/24"}
    finally:
        nsrun("rm", "-f", "ns4-r")
        nsrun("network", "rm", "ns4-ra", "ns4-rb")


def test_a_restart_policy_restart_keeps_the_connected_networks(nsrun, nsrun_root):
    nsrun("network", "create", "--subnet", "10.134.6.0/24", "ns4-ta", check=True)
    nsrun("network", "create", "--subnet", "10.134.7.0/24", "ns4-tb", check=True)
    try:
        # the first run waits for the connect (a file in its root), then fails; the restart stays up
        nsrun("run", "-d", "--name", "ns4-t", "--network", "ns4-ta", "--restart", "on-failure:3", "busybox", "sh",
              "-c", "if [ -e /ran ]; then exec sleep 300; fi; touch /ran; "
                    "while ! ip link show eth1 >/dev/null 2>&1; do sleep 0.1; done; exit 1", check=True)
        nsrun("network", "connect", "ns4-tb", "ns4-t", check=True)

        assert wait_for(lambda: nsrun("exec", "ns4-t", "cat", "/proc/1/comm").stdout == "sleep\n", timeout=20)
        assert json.loads(nsrun("inspect", "ns4-t", check=True).stdout)[0]["State"]["ExitCode"] == 1  # it ran twice
        addrs = wait_for(lambda: _addrs(nsrun, "ns4-t") if len(_addrs(nsrun, "ns4-t")) == 2 else None)
        assert addrs == {"eth0": "10.134.6.2/24", "eth1": "10.134.7.2/24"}
    finally:
        nsrun("rm", "-f", "ns4-t")
        nsrun("network", "rm", "ns4-ta", "ns4-tb")


def test_disconnected_from_the_network_its_ip_was_for_it_starts_on_the_next_one(nsrun, nsrun_root):
    """``run --ip`` names the create's network: once ``disconnect`` takes that one out of a stopped
    container's config, its kept lease goes and the next start is on the network it is connected to."""
    nsrun("network", "create", "--subnet", "10.134.8.0/24", "ns4-ia", check=True)
    nsrun("network", "create", "--subnet", "10.134.9.0/24", "ns4-ib", check=True)
    try:
        nsrun("run", "-d", "--name", "ns4-i", "--network", "ns4-ia", "--ip", "10.134.8.77", "busybox", "sleep",
              "300", check=True)
        nsrun("stop", "-t", "1", "ns4-i", check=True)
        assert _leases(nsrun_root) == ["10.134.8.77.lease"]               # kept for its next start
        assert _members(nsrun, "ns4-ia") == []                            # but not an active endpoint
        nsrun("network", "disconnect", "ns4-ia", "ns4-i", check=True)
        assert _leases(nsrun_root) == []
        nsrun("network", "connect", "ns4-ib", "ns4-i", check=True)
        nsrun("start", "ns4-i", check=True)
        assert _addrs(nsrun, "ns4-i") == {"eth0": "10.134.9.2/24"}
    finally:
        nsrun("rm", "-f", "ns4-i")
        nsrun("network", "rm", "ns4-ia", "ns4-ib")
