"""``docker network connect`` against ``nsrun daemon`` is part of the container's config, as with dockerd:
after ``docker stop``/``start`` the container is on every network it was connected to (its ``--ip``, its
``--alias``); while stopped ``inspect .NetworkSettings.Networks`` lists them with empty addresses and
``network inspect`` lists only running endpoints; ``connect`` of a created or exited container takes effect at
its next start; ``disconnect`` of a stopped one removes it; ``network rm`` refuses only active endpoints and
the next start then fails naming the network. Names ns4-*, subnets in 10.134.0.0/16."""
from __future__ import annotations

import json


def _networks(d, name):
    return json.loads(d.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name, check=True).stdout)


def _members(d, net):
    shown = json.loads(d.docker("network", "inspect", "-f", "{{json .Containers}}", net, check=True).stdout)
    return sorted(c["Name"] for c in shown.values())


def _addrs(d, name):
    out = d.docker("exec", name, "ip", "-o", "-4", "addr", check=True).stdout
    return {line.split()[1]: line.split()[3] for line in out.splitlines() if line.split()[1] != "lo"}


def test_connections_survive_stop_start_and_stopped_containers_connect(daemon):
    d = daemon
    for i, net in ((11, "ns4-da"), (12, "ns4-db"), (13, "ns4-dc")):
        d.docker("network", "create", "--subnet", f"10.134.{i}.0/24", net, check=True)
    try:
        d.docker("run", "-d", "--name", "ns4-dsrv", "--network", "ns4-db", "busybox", "sh", "-c",
                 "while true; do echo pong | nc -l -p 18402; done", check=True)
        d.docker("run", "-d", "--name", "ns4-dc", "--network", "ns4-da", "busybox", "sleep", "300", check=True)
        d.docker("network", "connect", "--ip", "10.134.12.50", "--alias", "ns4-dx", "ns4-db", "ns4-dc", check=True)
        d.docker("stop", "-t", "1", "ns4-dc", check=True)
        stopped = _networks(d, "ns4-dc")
        assert set(stopped) == {"ns4-da", "ns4-db"}
        assert all(ep["IPAddress"] == "" for ep in stopped.values())
        assert stopped["ns4-db"]["IPAMConfig"] == {"IPv4Address": "10.134.12.50"}
        assert "ns4-dx" in stopped["ns4-db"]["Aliases"]
        assert d.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "ns4-dc", check=True).stdout.strip() == ""
        assert _members(d, "ns4-db") == ["ns4-dsrv"]           # only running endpoints
        # an exited container joins a third network at its next start
        d.docker("network", "connect", "ns4-dc", "ns4-dc", check=True)
        assert set(_networks(d, "ns4-dc")) == {"ns4-da", "ns4-db", "ns4-dc"}
        again = d.docker("network", "connect", "ns4-db", "ns4-dc")
        assert again.returncode == 1 and "already exists in network ns4-db" in again.stderr
        d.docker("start", "ns4-dc", check=True)
        assert _addrs(d, "ns4-dc") == {"eth0": "10.134.11.2/24", "eth1": "10.134.12.50/24", "eth2": "10.134.13.2/24"}
        nets = _networks(d, "ns4-dc")
        assert nets["ns4-db"]["IPAddress"] == "10.134.12.50" and "ns4-dx" in nets["ns4-db"]["Aliases"]
        out = d.docker("exec", "ns4-dc", "sh", "-c", "nc -w 3 ns4-dsrv 18402 </dev/null", check=True).stdout
        assert out.strip() == "pong"
        assert "10.134.12.50" in d.docker("exec", "ns4-dsrv", "ping", "-c1", "-W2", "ns4-dx", check=True).stdout
        assert _members(d, "ns4-db") == ["ns4-dc", "ns4-dsrv"]
        # docker restart too
        d.docker("restart", "-t", "1", "ns4-dc", check=True)
        assert set(_addrs(d, "ns4-dc")) == {"eth0", "eth1", "eth2"}
        # disconnect of a stopped container: out of its config
        d.docker("stop", "-t", "1", "ns4-dc", check=True)
        d.docker("network", "disconnect", "ns4-db", "ns4-dc", check=True)
        assert set(_networks(d, "ns4-dc")) == {"ns4-da", "ns4-dc"}
        d.docker("start", "ns4-dc", check=True)
        assert _addrs(d, "ns4-dc") == {"eth0": "10.134.11.2/24", "eth1": "10.134.13.2/24"}
    finally:
        d.docker("rm", "-f", "ns4-dc", "ns4-dsrv")
        d.docker("network", "rm", "ns4-da", "ns4-db", "ns4-dc")


def test_a_created_container_on_two_networks_and_network_rm_of_a_stopped_members_network(daemon):
    d = daemon
    d.docker("network", "create", "--subnet", "10.134.14.0/24", "ns4-ea", check=True)
    d.docker("network", "create", "--subnet", "10.134.15.0/24", "ns4-eb", check=True)
    try:
        d.docker("create", "--name", "ns4-e", "--network", "ns4-ea", "busybox", "sleep", "300", check=True)
        bad = d.docker("network", "connect", "--ip", "10.134.99.9", "ns4-eb", "ns4-e")
        assert bad.returncode == 1 and "not a usable address" in bad.stderr
        assert set(_networks(d, "ns4-e")) == {"ns4-ea"}         # nothing recorded
        d.docker("network", "connect", "--ip", "10.134.15.9", "ns4-eb", "ns4-e", check=True)
        d.docker("start", "ns4-e", check=True)
        assert _addrs(d, "ns4-e") == {"eth0": "10.134.14.2/24", "eth1": "10.134.15.9/24"}
        busy = d.docker("network", "rm", "ns4-eb")
        assert busy.returncode == 1 and "active endpoints" in busy.stderr
        d.docker("stop", "-t", "1", "ns4-e", check=True)
        d.docker("network", "rm", "ns4-eb", check=True)        # no active endpoint: dockerd removes it too
        failed = d.docker("start", "ns4-e")
        assert failed.returncode == 1 and "network ns4-eb not found" in failed.stderr
        d.docker("network", "disconnect", "-f", "ns4-eb", "ns4-e", check=True)
        d.docker("start", "ns4-e", check=True)
        assert _addrs(d, "ns4-e") == {"eth0": "10.134.14.2/24"}
    finally:
        d.docker("rm", "-f", "ns4-e")
        d.docker("network", "rm", "ns4-ea", "ns4-eb")
