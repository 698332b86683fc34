"""``nsrun top`` and ``nsrun stats`` on real containers: a sleeper and a CPU burner, with and without a pid
namespace, and the cgroup files of a limited container's own cgroup (made by the cgroup plugin)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time


from conftest import NSRUN

BURN = ("sh", "-c", "while :; do :; done")
SLEEP = ("sh", "-c", "sleep 300 & sleep 301")
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def _table(out: str) -> dict[str, dict[str, str]]:
    """``docker stats`` text -> {name: {column: cell}} (columns are three or more spaces apart)."""
    lines = [line for line in out.splitlines() if line.strip()]
    header = re.split(r"\s{3,}", lines[0].strip())
    assert header == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
    rows = [dict(zip(header, re.split(r"\s{3,}", line.strip()))) for line in lines[1:]]
    return {row["NAME"]: row for row in rows}


def _bytes(cell: str) -> float:
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]+)", cell.strip())
    assert m, cell
    return float(m.group(1)) * _UNITS[m.group(2)]


def _start(nsrun, name: str, argv: tuple[str, ...], *plugins: str) -> None:
    extra = ("--plugins", ",".join(plugins)) if plugins else ()
    nsrun(*extra, "run", "-d", "--name", name, "busybox", *argv, check=True)


def test_top_lists_the_containers_processes(nsrun, unique):
    name = f"sts{unique}"
    _start(nsrun, name, SLEEP)
    try:
        time.sleep(0.3)
        out = nsrun("top", name, check=True).stdout.splitlines()
        assert re.split(r"\s+", out[0].strip()) == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert sorted(line.split(None, 7)[7] for line in out[1:]) == ["sleep 300", "sleep 301"]
        own = nsrun("top", name, "-o", "pid,comm", check=True).stdout.split()
        assert own[:2] == ["PID", "COMMAND"] and own[2:].count("sleep") == 2
        bad = nsrun("top", name, "--bogus")
        assert bad.returncode == 125 and bad.stderr.count("\n") == 1 and "ps --bogus" in bad.stderr
    finally:
        nsrun("rm", "-f", name)


def test_stats_no_stream_sleeper_and_burner(nsrun, unique):
    sleeper, burner = f"sts{unique}s", f"sts{unique}b"
    _start(nsrun, sleeper, SLEEP)
    _start(nsrun, burner, BURN)
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        rows = _table(nsrun("stats", "--no-stream", check=True).stdout)
        assert 0.9 < time.monotonic() - t0 < 10          # two samples one interval apart
        assert rows[sleeper]["PIDS"] == "2" and rows[burner]["PIDS"] == "1"
        for row in rows.values():
            used, limit = row["MEM USAGE / LIMIT"].split(" / ")
            assert 0 < _bytes(used) < _bytes(limit)
            assert row["NET I/O"].count(" / ") == 1
        assert float(rows[burner]["CPU %"].rstrip("%")) > 5.0       # wide: the machine is shared
        assert float(rows[sleeper]["CPU %"].rstrip("%")) < 5.0
        only = _table(nsrun("stats", "--no-stream", burner, check=True).stdout)
        assert list(only) == [burner]
    finally:
        nsrun("rm", "-f", sleeper, burner)


def test_stats_streams_a_frame_a_second(nsrun, nsrun_root, unique):
    burner = f"sts{unique}"
    _start(nsrun, burner, BURN)
    proc = subprocess.Popen([NSRUN, "--root", nsrun_root, "stats", burner], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(4)]          # two frames: header + row each
    finally:
        proc.kill()
        proc.wait()
        nsrun("rm", "-f", burner)
    assert lines[0].startswith("CONTAINER ID") and lines[2].startswith("CONTAINER ID")
    assert burner in lines[3] and float(re.split(r"\s{3,}", lines[3])[2].rstrip("%")) > 5.0


def test_without_a_pid_namespace_the_init_tree_counts(nsrun, unique):
    name = f"sts{unique}"
    _start(nsrun, name, SLEEP, "mnt")
    try:
        time.sleep(0.3)
        assert len(nsrun("top", name, check=True).stdout.splitlines()) == 3
        row = _table(nsrun("stats", "--no-stream", name, check=True).stdout)[name]
        assert row["PIDS"] == "2" and row["NET I/O"] == "0B / 0B"   # the host's netns: no networks, as Docker
    finally:
        nsrun("rm", "-f", name)


def test_bad_names_and_stopped_containers(nsrun, unique):
    missing = nsrun("stats", "--no-stream", f"sts{unique}nope")
    assert missing.returncode == 125 and missing.stderr.strip() == f"nsrun: No such container: sts{unique}nope"
    name = f"sts{unique}"
    nsrun("run", "--name", name, "busybox", "true", check=True)
    try:
        stopped = nsrun("top", name)
        assert stopped.returncode == 125 and "is not running" in stopped.stderr
        row = _table(nsrun("stats", "--no-stream", name, check=True).stdout)[name]
        assert row["CPU %"] == "--" and row["PIDS"] == "--"
    finally:
        nsrun("rm", "-f", name)


def test_stats_reads_the_cgroup_files_of_a_limited_container(nsrun, unique):
    """A container with limits has its own cgroup (the cgroup plugin records where in info["Cgroup"]): stats
    shows what its files say, the memory limit included."""
    name = f"sts{unique}"
    nsrun("run", "-d", "--name", name, "-m", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
          "a=$(head -c 3000000 /dev/zero | tr '\\0' a); sleep 301", check=True)
    try:
        paths = json.loads(nsrun("inspect", name, check=True).stdout)[0]["Info"]["Cgroup"]["paths"]
        time.sleep(1.0)
        row = _table(nsrun("stats", "--no-stream", name, check=True).stdout)[name]
        with open(os.path.join(paths["pids"], "pids.current")) as f:
            assert row["PIDS"] == f.read().strip() != "0"
        used, limit = row["MEM USAGE / LIMIT"].split(" / ")
        assert limit == "64MiB" and 0 < _bytes(used) < 64 << 20
        assert row["MEM %"] != "0.00%"
    finally:
        nsrun("rm", "-f", name)
