"""``docker events`` through ``nsrun daemon`` for networks (create, connect, disconnect, destroy) and volumes
(create, mount, unmount, destroy), derived from the plugins' ``event_objects``; filters by type. Names n14b*,
subnets in 10.214.0.0/16."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time


def _follow(d, *filters: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = d.config
    args = [a for f in filters for a in ("--filter", f)]
    return subprocess.Popen([shutil.which("docker") or "/usr/local/bin/docker", "-H", d.unix_url, "events",
                             "--format", "{{json .}}", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _stop(proc: subprocess.Popen) -> list[dict]:
    time.sleep(0.8)  # two polls
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_network_and_volume_events(daemon):
    d = daemon
    nets = _follow(d, "type=network")
    vols = _follow(d, "type=volume")
    time.sleep(0.8)
    try:
        d.docker("network", "create", "--subnet", "10.214.51.0/24", "n14b-ev", check=True)
        d.docker("volume", "create", "n14b-vol", check=True)
        d.docker("run", "-d", "--name", "n14b-evc", "--network", "n14b-ev", "-v", "n14b-vol:/data", "busybox",
                 "sleep", "300", check=True)
        time.sleep(0.8)
        d.docker("rm", "-f", "n14b-evc", check=True)
        time.sleep(0.8)
        d.docker("network", "rm", "n14b-ev", check=True)
        d.docker("volume", "rm", "n14b-vol", check=True)
    finally:
        net_events, vol_events = _stop(nets), _stop(vols)
        d.docker("rm", "-f", "n14b-evc")
        d.docker("network", "rm", "n14b-ev")
        d.docker("volume", "rm", "n14b-vol")
    assert [e["Action"] for e in net_events] == ["create", "connect", "disconnect", "destroy"], net_events
    assert all(e["Type"] == "network" and e["Actor"]["Attributes"]["name"] == "n14b-ev" for e in net_events)
    assert net_events[1]["Actor"]["Attributes"]["container"] == net_events[2]["Actor"]["Attributes"]["container"]
    assert [e["Action"] for e in vol_events] == ["create", "mount", "unmount", "destroy"], vol_events
    assert all(e["Type"] == "volume" and e["Actor"]["ID"] == "n14b-vol" for e in vol_events)
