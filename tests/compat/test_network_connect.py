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
        busy = d.docker("network", "disconnect", "dmnh-net", "dmnh-c1")
        assert busy.returncode == 1 and "running container is not supported" in busy.stderr
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
