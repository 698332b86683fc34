"""``docker network connect|disconnect`` of created and stopped containers (what docker-compose does before it
starts each one), aliases (``--alias``, ``--network-alias``) resolved by the network's other containers,
network labels and list filters; refusals with the right words and nothing changed."""
from __future__ import annotations

import json

SUBNET = "10.231.4.0/24"


def _networks(d, name):
    return json.loads(d.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name, check=True).stdout)


def test_connect_disconnect_aliases_and_labels(daemon, nsrun):
    d = daemon
    d.docker("network", "create", "--subnet", SUBNET, "--label", "team=dmnh", "dmnh-net", check=True)
    try:
        shown = d.docker("network", "ls", "--filter", "label=team=dmnh", "--format", "{{.Name}}", check=True)
        assert shown.stdout.split() == ["dmnh-net"]
        assert d.docker("network", "ls", "-q", "--filter", "label=team=other", check=True).stdout == ""
        labels = d.docker("network", "inspect", "-f", "{{json .Labels}}", "dmnh-net", check=True).stdout
        assert json.loads(labels) == {"team": "dmnh"}
        d.docker("create", "--name", "dmnh-c1", "--network", "none", "busybox", "sleep", "60", check=True)
        assert _networks(d, "dmnh-c1") == {}
        d.docker("network", "connect", "--alias", "svc", "dmnh-net", "dmnh-c1", check=True)
        assert _networks(d, "dmnh-c1")["dmnh-net"]["Aliases"] == ["svc"]
        again = d.docker("network", "connect", "dmnh-net", "dmnh-c1")
        assert again.returncode == 1 and "already exists in network dmnh-net" in again.stderr
        d.docker("start", "dmnh-c1", check=True)
        net = _networks(d, "dmnh-c1")["dmnh-net"]
        assert net["IPAddress"].startswith("10.231.4.") and "svc" in net["Aliases"]
        # another container finds it by its alias, and it finds the newcomer by the newcomer's alias
        out = d.docker("run", "--rm", "--network", "dmnh-net", "--network-alias", "other", "busybox", "sh", "-c",
                       "ping -c1 -W2 svc >/dev/null && echo found; getent hosts dmnh-c1 || grep -w dmnh-c1 /etc/hosts",
                       check=True).stdout
        assert out.startswith("found\n") and net["IPAddress"] in out
        d.docker("stop", "-t", "1", "dmnh-c1", check=True)
        d.docker("network", "disconnect", "dmnh-net", "dmnh-c1", check=True)
        assert _networks(d, "dmnh-c1") == {}
        res = d.docker("network", "disconnect", "dmnh-net", "dmnh-c1")
        assert res.returncode == 1 and "is not connected to network dmnh-net" in res.stderr
        for args, words in ((("connect", "dmnh-nosuch", "dmnh-c1"), "not found"),
                            (("connect", "dmnh-net", "dmnh-nosuch"), "No such container")):
            res = d.docker("network", *args)
            assert res.returncode == 1 and words in res.stderr, res.stderr
        d.docker("start", "dmnh-c1", check=True)        # disconnected: it runs without a network
        assert _networks(d, "dmnh-c1") == {} or list(_networks(d, "dmnh-c1")) == ["none"]
        res = nsrun("run", "--rm", "--network-alias", "x", "busybox", "true")   # the docker CLI refuses it itself
        assert res.returncode == 125 and "user defined networks" in res.stderr and res.stderr.count("\n") == 1
    finally:
        d.docker("rm", "-f", "dmnh-c1")
        d.docker("network", "rm", "dmnh-net", check=True)


def test_connect_and_disconnect_of_a_running_container(daemon):
    """``docker network connect --ip --alias`` of a running container: a second interface, reached by the
    network's other containers by name; ``disconnect`` takes it away; 409 for a second connect."""
    d = daemon
    d.docker("network", "create", "--subnet", "10.214.21.0/24", "n14b-ca", check=True)
    d.docker("network", "create", "--subnet", "10.214.22.0/24", "n14b-cb", check=True)
    try:
        d.docker("run", "-d", "--name", "n14b-srv", "--network", "n14b-cb", "busybox", "sh", "-c",
                 "while true; do echo pong | nc -l -p 18401; done", check=True)
        d.docker("run", "-d", "--name", "n14b-cli", "--network", "n14b-ca", "busybox", "sleep", "300", check=True)
        d.docker("network", "connect", "--ip", "10.214.22.77", "--alias", "n14b-x", "n14b-cb", "n14b-cli",
                 check=True)
        nets = _networks(d, "n14b-cli")
        assert set(nets) == {"n14b-ca", "n14b-cb"} and nets["n14b-cb"]["IPAddress"] == "10.214.22.77"
        assert "n14b-x" in nets["n14b-cb"]["Aliases"]
        out = d.docker("exec", "n14b-cli", "sh", "-c", "nc -w 3 n14b-srv 18401 </dev/null", check=True).stdout
        assert out.strip() == "pong"
        seen = d.docker("exec", "n14b-srv", "ping", "-c1", "-W2", "n14b-x", check=True).stdout
        assert "10.214.22.77" in seen
        again = d.docker("network", "connect", "n14b-cb", "n14b-cli")
        assert again.returncode == 1 and "already exists in network n14b-cb" in again.stderr
        listed = d.docker("ps", "-q", "--filter", "network=n14b-cb", check=True).stdout.split()
        assert len(listed) == 2
        d.docker("network", "disconnect", "n14b-cb", "n14b-cli", check=True)
        assert set(_networks(d, "n14b-cli")) == {"n14b-ca"}
        assert "eth1" not in d.docker("exec", "n14b-cli", "ip", "-o", "link", check=True).stdout
        gone = d.docker("exec", "n14b-cli", "sh", "-c", "nc -w 2 10.214.22.2 18401 </dev/null")
        assert "pong" not in gone.stdout
    finally:
        d.docker("rm", "-f", "n14b-cli", "n14b-srv")
        d.docker("network", "rm", "n14b-ca", "n14b-cb")
