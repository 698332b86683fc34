"""``docker stats``, ``docker top`` and docker-py's ``container.stats()``/``top()`` against nsrun's daemon, on a
sleeper and a CPU burner; ``nsrun -H`` renders the same endpoints."""
from __future__ import annotations

import itertools
import json
import re

from conftest import NSRUN

BURN = ["sh", "-c", "while :; do :; done"]
SLEEP = ["sh", "-c", "sleep 300 & sleep 301"]


def _rows(out: str) -> dict[str, list[str]]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert re.split(r"\s{2,}", lines[0].strip()) == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %",
                                                     "NET I/O", "BLOCK I/O", "PIDS"]
    return {cells[1]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


def test_docker_cli_stats_no_stream_and_top(daemon):
    daemon.docker("run", "-d", "--name", "stsdsleep", "busybox", *SLEEP, check=True)
    daemon.docker("run", "-d", "--name", "stsdburn", "busybox", *BURN, check=True)
    try:
        rows = _rows(daemon.docker("stats", "--no-stream", check=True).stdout)
        assert rows["stsdsleep"][7] == "2" and rows["stsdburn"][7] == "1"
        assert float(rows["stsdburn"][2].rstrip("%")) > 5.0
        for cells in rows.values():
            assert not cells[3].startswith(("0B", "--")) and cells[4] != "--"
        named = _rows(daemon.docker("stats", "--no-stream", "stsdburn", check=True).stdout)
        assert list(named) == ["stsdburn"]
        top = daemon.docker("top", "stsdsleep", check=True).stdout.splitlines()
        assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert sorted(re.split(r"\s{2,}", line.strip())[-1] for line in top[1:]) == ["sleep 300", "sleep 301"]
        own = daemon.docker("top", "stsdsleep", "-o", "pid,comm", check=True).stdout.split()
        assert own[:2] == ["PID", "COMMAND"] and own.count("sleep") == 2
        missing = daemon.docker("stats", "--no-stream", "stsnope")
        assert missing.returncode != 0 and "No such container: stsnope" in missing.stderr
    finally:
        daemon.docker("rm", "-f", "stsdsleep", "stsdburn")


def test_docker_py_stats_and_top(docker_client):
    burner = docker_client.containers.run("busybox", BURN, detach=True, name="stspyburn")
    try:
        one = burner.stats(stream=False)
        assert {"read", "preread", "cpu_stats", "precpu_stats", "memory_stats", "pids_stats", "networks",
                "blkio_stats"} <= set(one)
        cpu, pre = one["cpu_stats"], one["precpu_stats"]
        assert cpu["online_cpus"] >= 1 and cpu["system_cpu_usage"] > pre["system_cpu_usage"] > 0
        cpu_pct = ((cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"])
                   / (cpu["system_cpu_usage"] - pre["system_cpu_usage"]) * cpu["online_cpus"] * 100)
        assert cpu_pct > 5.0
        assert one["memory_stats"]["usage"] > 0 and one["memory_stats"]["limit"] > one["memory_stats"]["usage"]
        assert one["pids_stats"]["current"] == 1 and "eth0" in one["networks"]
        shot = burner.stats(stream=False, one_shot=True)
        assert shot["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and shot["preread"].startswith("0001-")
        first, second = itertools.islice(burner.stats(decode=True), 2)
        assert second["preread"] == first["read"]
        assert second["precpu_stats"]["cpu_usage"] == first["cpu_stats"]["cpu_usage"]
        top = burner.top()
        assert top["Titles"][1] == "PID" and top["Processes"][0][-1] == "sh -c while :; do :; done"
        assert burner.top(ps_args="-o pid,comm")["Titles"] == ["PID", "COMMAND"]
    finally:
        burner.remove(force=True)


def test_nsrun_remote_stats_and_top(daemon, nsrun):
    import subprocess
    daemon.docker("run", "-d", "--name", "stsrburn", "busybox", *BURN, check=True)
    try:
        def remote(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([NSRUN, "-H", daemon.unix_url, *args], capture_output=True, text=True, timeout=60)
        out = remote("stats", "--no-stream")
        assert out.returncode == 0, out.stderr
        row = _rows(out.stdout)["stsrburn"]
        assert row[7] == "1" and float(row[2].rstrip("%")) > 5.0
        top = remote("top", "stsrburn")
        assert top.returncode == 0 and "while :; do :; done" in top.stdout
        nope = remote("top", "stsnope")
        assert nope.returncode == 125 and "No such container" in nope.stderr
        assert json.loads(daemon.docker("inspect", "stsrburn", check=True).stdout)[0]["State"]["Running"]
    finally:
        daemon.docker("rm", "-f", "stsrburn")


def test_docker_cli_streaming_stats_follows_new_containers(daemon, docker_cli):
    """Without names the CLI follows /events: a container started meanwhile joins the live table."""
    import os
    import subprocess
    import time
    daemon.docker("run", "-d", "--name", "stsdlive1", "busybox", *BURN, check=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}, "DOCKER_CONFIG": daemon.config}
    proc = subprocess.Popen([docker_cli, "-H", daemon.unix_url, "stats"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.5)
        daemon.docker("run", "-d", "--name", "stsdlive2", "busybox", *SLEEP, check=True)
        time.sleep(3.5)
        assert proc.poll() is None, proc.stderr.read()         # still streaming: /events is there
    finally:
        proc.kill()
        out, err = proc.communicate()
        daemon.docker("rm", "-f", "stsdlive1", "stsdlive2")
    last = out.rsplit("CONTAINER ID", 1)[1]
    assert "stsdlive1" in last and "stsdlive2" in last, (out[-2000:], err)
    burn = next(line for line in last.splitlines() if "stsdlive1" in line)
    assert float(re.split(r"\s{2,}", burn.strip())[2].rstrip("%")) > 5.0
