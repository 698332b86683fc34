"""``docker events --since/--until`` (history from the records and the event journal), ``docker system df
[-v]``, ``docker system prune [-a] [--volumes] -f`` and ``/info``'s counts, through a private ``nsrun
daemon`` with the real docker CLI and docker-py. Names evdf*, ``--network none``."""
from __future__ import annotations

import json
import time


from conftest import Daemon



def _events(d: Daemon, *args: str) -> list[dict]:
    out = d.docker("events", "--format", "{{json .}}", *args, check=True, timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_docker_events_replays_the_past_and_stops_at_until(daemon):
    d = daemon
    d.docker("run", "--name", "evdf-ev1", "--network", "none", "busybox", "sh", "-c", "exit 3")
    d.docker("start", "-a", "evdf-ev1")                                        # a second run: exit 3 again
    d.docker("rm", "evdf-ev1", check=True)
    d.docker("create", "--name", "evdf-ev2", "--network", "none", "--label", "evdf=yes", "busybox", "true",
             check=True)
    time.sleep(1.1)  # the docker CLI sends `--until 0s` as whole seconds (as dockerd, later events are after it)
    try:
        start = time.monotonic()
        past = _events(d, "--since", "1m", "--until", "0s", "--filter", "container=evdf-ev1")
        assert time.monotonic() - start < 10                                   # until in the past: it ends
        assert [e["Action"] for e in past] == ["create", "start", "die", "start", "die", "destroy"], past
        assert all(e["Actor"]["Attributes"]["name"] == "evdf-ev1" for e in past)
        assert [e["Actor"]["Attributes"].get("exitCode") for e in past if e["Action"] == "die"] == ["3", "3"]
        times = [e["timeNano"] for e in past]
        assert times == sorted(times)
        dies = _events(d, "--since", "1m", "--until", "0s", "--filter", "event=die", "--filter", "type=container")
        assert len(dies) == 2 and {e["Action"] for e in dies} == {"die"}
        labelled = _events(d, "--since", "1m", "--until", "0s", "--filter", "label=evdf=yes")
        assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in labelled] == [("create", "evdf-ev2")]
        # until still to come: the past, then live events, then the end
        t0 = time.time()
        proc_out = d.docker("events", "--format", "{{json .}}", "--since", str(int(t0) - 60),
                            "--until", str(int(t0) + 3), "--filter", "container=evdf-ev2", timeout=30)
        assert proc_out.returncode == 0 and time.time() - t0 >= 2
        assert [json.loads(x)["Action"] for x in proc_out.stdout.splitlines()] == ["create"]
    finally:
        d.docker("rm", "-f", "evdf-ev2")


def test_docker_py_events_window_and_bad_input(daemon, docker_client):
    client = docker_client
    t0 = int(time.time()) - 1
    client.containers.run("busybox", ["sh", "-c", "exit 4"], name="evdf-py1", network_mode="none", detach=True
                          ).wait()
    client.containers.get("evdf-py1").remove()
    t1 = int(time.time()) + 1
    evs = list(client.events(since=t0, until=t1, decode=True, filters={"container": "evdf-py1"}))
    assert [e["Action"] for e in evs] == ["create", "start", "die", "destroy"], evs
    assert evs[2]["Actor"]["Attributes"]["exitCode"] == "4"
    assert list(client.events(since=t1 + 100, until=t1 + 100, decode=True)) == []
    url = client.api._url("/events")
    bad = client.api._get(url, params={"since": "abc"})
    assert bad.status_code == 400 and bad.json()["message"] == 'strconv.ParseInt: parsing "abc": invalid syntax'
    late = client.api._get(url, params={"since": "10", "until": "3"})
    assert late.status_code == 400
    assert late.json()["message"] == "`since` time (10) cannot be after `until` time (3)"
    assert client.api._get(url, params={"filters": json.dumps({"bogus": ["x"]})}).status_code == 400
    res = daemon.docker("events", "--since", "10", "--until", "3")
    assert res.returncode != 0 and "cannot be after `until` time" in res.stderr, res.stderr


def test_system_df_and_info_counts(daemon, docker_client):
    d, client = daemon, docker_client
    d.docker("volume", "create", "evdf-vol", check=True)
    d.docker("run", "--name", "evdf-df1", "--network", "none", "-v", "evdf-vol:/data", "busybox", "sh", "-c",
             "head -c 300000 /dev/zero > /data/f; head -c 200000 /dev/zero > /written", check=True)
    d.docker("run", "-d", "--name", "evdf-df2", "--network", "none", "busybox", "sleep", "300", check=True)
    d.docker("create", "--name", "evdf-df3", "--network", "none", "busybox", "true", check=True)
    try:
        df = client.df()
        assert set(df) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
        assert df["BuildCache"] == [] and df["LayersSize"] > 0
        (img,) = df["Images"]
        assert img["Containers"] == 3 and img["Size"] > 0 and img["SharedSize"] == 0
        sizes = {c["Names"][0].lstrip("/"): c for c in df["Containers"]}
        assert 200000 <= sizes["evdf-df1"]["SizeRw"] < 260000
        assert sizes["evdf-df1"]["SizeRootFs"] == sizes["evdf-df1"]["SizeRw"] + img["Size"]
        (vol,) = [v for v in df["Volumes"] if v["Name"] == "evdf-vol"]
        assert vol["UsageData"] == {"Size": 300000, "RefCount": 1}
        table = d.docker("system", "df", check=True).stdout.splitlines()
        assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
        rows = {" ".join(line.split()[:2]) if line.startswith(("Local", "Build")) else line.split()[0]: line.split()
                for line in table[1:]}
        assert rows["Images"][1:3] == ["1", "1"]
        assert rows["Containers"][1:3] == ["3", "1"]
        assert rows["Local Volumes"][2:4] == ["1", "1"] and rows["Local Volumes"][4] == "300kB"
        verbose = d.docker("system", "df", "-v", check=True).stdout
        assert "evdf-vol" in verbose and "evdf-df1" in verbose and "Build cache usage: 0B" in verbose
        info = client.info()
        assert (info["Containers"], info["ContainersRunning"], info["ContainersPaused"],
                info["ContainersStopped"], info["Images"]) == (3, 1, 0, 2, 1)
    finally:
        d.docker("rm", "-f", "evdf-df1", "evdf-df2", "evdf-df3")
        d.docker("volume", "rm", "evdf-vol")


def test_system_prune_with_the_docker_cli_and_docker_py(daemon, docker_client):
    d, client = daemon, docker_client
    d.docker("volume", "create", "evdf-pv", check=True)
    d.docker("network", "create", "--subnet", "10.218.88.0/24", "evdf-pn", check=True)
    d.docker("run", "--name", "evdf-p1", "--network", "none", "busybox", "sh", "-c",
             "head -c 100000 /dev/zero > /f", check=True)
    d.docker("run", "-d", "--name", "evdf-p2", "--network", "none", "busybox", "sleep", "300", check=True)
    try:
        out = d.docker("system", "prune", "-f", "--volumes", check=True).stdout
        assert "Deleted Containers:" in out and "Deleted Networks:" in out and "evdf-pn" in out, out
        assert "Deleted Volumes:" in out and "evdf-pv" in out and "Total reclaimed space: 100kB" in out, out
        names = [c.name for c in client.containers.list(all=True)]
        assert names == ["evdf-p2"]                                           # the running one stays
        assert client.api.prune_builds() == {"CachesDeleted": [], "SpaceReclaimed": 0}
        assert d.docker("image", "ls", "-q", check=True).stdout.strip()         # busybox: used, kept with -a
        out = d.docker("system", "prune", "-a", "-f", check=True).stdout
        assert "Total reclaimed space: 0B" in out, out
        assert d.docker("image", "ls", "-q", check=True).stdout.strip()
    finally:
        d.docker("rm", "-f", "evdf-p1", "evdf-p2")
        d.docker("network", "rm", "evdf-pn")
        d.docker("volume", "rm", "evdf-pv")
    out = d.docker("system", "prune", "-a", "-f", check=True).stdout
    assert "Deleted Images:" in out and "deleted: sha256:" in out, out
    assert d.docker("image", "ls", "-q", check=True).stdout.strip() == ""
