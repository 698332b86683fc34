"""``network prune`` through ``nsrun daemon`` (``POST /networks/prune``, the docker CLI) and ``nsrun network
prune``: user networks without endpoints go, filtered by ``label=``/``label!=``/``until=``; a network a
container uses and the pre-defined ones stay; a bad filter is one line. Names n14b*, subnets in 10.214/16."""
from __future__ import annotations

import time


def _names(d) -> set[str]:
    return set(d.docker("network", "ls", "--format", "{{.Name}}", check=True).stdout.split())


def test_prune_through_the_docker_cli_and_the_api(daemon, docker_client, nsrun):
    d = daemon
    d.docker("network", "create", "--subnet", "10.214.41.0/24", "--label", "n14b=keep", "n14b-p1", check=True)
    d.docker("network", "create", "--subnet", "10.214.42.0/24", "--label", "n14b=drop", "n14b-p2", check=True)
    d.docker("network", "create", "--subnet", "10.214.43.0/24", "n14b-p3", check=True)
    d.docker("network", "create", "--subnet", "10.214.44.0/24", "n14b-used", check=True)
    try:
        d.docker("run", "-d", "--name", "n14b-u", "--network", "n14b-used", "busybox", "sleep", "300", check=True)
        out = d.docker("network", "prune", "-f", "--filter", "label=n14b=drop", check=True).stdout
        assert "n14b-p2" in out and {"n14b-p1", "n14b-p3", "n14b-used"} <= _names(d)
        assert "n14b-p2" not in _names(d)
        out = d.docker("network", "prune", "-f", "--filter", "until=1h", check=True).stdout
        assert "n14b-p1" not in out and {"n14b-p1", "n14b-p3"} <= _names(d)   # all younger than an hour
        res = nsrun("network", "prune", "--filter", "label!=n14b=keep")
        assert res.returncode == 0 and res.stdout.split() == ["Deleted", "Networks:", "n14b-p3"], res.stdout
        bad = nsrun("network", "prune", "--filter", "color=red")
        assert bad.returncode == 125 and "invalid filter 'color'" in bad.stderr and bad.stderr.count("\n") == 1
        body = docker_client.networks.prune(filters={"until": str(int(time.time()) + 5)})   # POST /networks/prune
        assert body == {"NetworksDeleted": ["n14b-p1"]}
        assert {"n14b-used", "bridge", "host", "none"} <= _names(d)
    finally:
        d.docker("rm", "-f", "n14b-u")
        for name in ("n14b-p1", "n14b-p2", "n14b-p3", "n14b-used"):
            d.docker("network", "rm", name)
