"""stats/top logic without root: cgroup files (v1 and v2) in fake trees, a fake /proc, Docker's arithmetic and
units, ps parsing. The real kernel is in tests/privileged/test_stats.py and tests/compat/test_stats_api.py."""
from __future__ import annotations

import os

import pytest

from nsrun.errors import ConfigError
from nsrun.stats import cgroupfs, procfs, table
from nsrun.stats.sample import pair, sample, timestamp
from nsrun.stats.top import parse_ps

GIB = 1 << 30


def _tree(base, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def test_cgroup_v1_files(tmp_path):
    _tree(tmp_path, {
        "memory/c/memory.usage_in_bytes": "10485760\n", "memory/c/memory.limit_in_bytes": "67108864\n",
        "memory/c/memory.max_usage_in_bytes": "20971520\n",
        "memory/c/memory.stat": "cache 4096\ntotal_inactive_file 1048576\n",
        "cpuacct/c/cpuacct.usage": "5000000000\n", "cpuacct/c/cpuacct.usage_percpu": "3000000000 2000000000 \n",
        "cpuacct/c/cpuacct.stat": f"user {4 * os.sysconf('SC_CLK_TCK')}\nsystem {os.sysconf('SC_CLK_TCK')}\n",
        "cpu/c/cpu.stat": "nr_periods 10\nnr_throttled 3\nthrottled_time 777\n",
        "pids/c/pids.current": "4\n", "pids/c/pids.max": "50\n",
        "blkio/c/blkio.throttle.io_service_bytes": "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
    })
    paths = {c: str(tmp_path / c / "c") for c in ("memory", "cpuacct", "cpu", "pids", "blkio")}
    got = cgroupfs.read({"version": 1, "paths": paths}, mem_total=8 * GIB)
    assert got["memory_stats"] == {"usage": 10485760, "limit": 67108864, "max_usage": 20971520,
                                   "stats": {"cache": 4096, "total_inactive_file": 1048576}}
    usage = got["cpu_stats"]["cpu_usage"]
    assert usage["total_usage"] == 5_000_000_000 and usage["percpu_usage"] == [3_000_000_000, 2_000_000_000]
    assert (usage["usage_in_usermode"], usage["usage_in_kernelmode"]) == (4_000_000_000, 1_000_000_000)
    assert got["cpu_stats"]["throttling_data"] == {"periods": 10, "throttled_periods": 3, "throttled_time": 777}
    assert got["pids_stats"] == {"current": 4, "limit": 50}
    assert [(e["op"], e["value"]) for e in got["blkio_stats"]["io_service_bytes_recursive"]] == [
        ("Read", 4096), ("Write", 8192), ("Total", 12288)]


def test_cgroup_v1_unlimited_memory_reads_as_the_hosts(tmp_path):
    _tree(tmp_path, {"m/memory.usage_in_bytes": "100\n", "m/memory.limit_in_bytes": "9223372036854771712\n"})
    got = cgroupfs.read({"version": 1, "paths": {"memory": str(tmp_path / "m")}}, mem_total=8 * GIB)
    assert got == {"memory_stats": {"usage": 100, "limit": 8 * GIB, "stats": {}}}   # the rest: left to /proc


def test_cgroup_v2_files(tmp_path):
    _tree(tmp_path, {"memory.current": "2097152\n", "memory.max": "max\n", "memory.stat": "inactive_file 1024\n",
                     "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 2\n"
                                 "nr_throttled 1\nthrottled_usec 9\n",
                     "pids.current": "3\n", "pids.max": "max\n",
                     "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"})
    got = cgroupfs.read({"version": 2, "paths": {"unified": str(tmp_path)}}, mem_total=GIB)
    assert got["memory_stats"] == {"usage": 2097152, "limit": GIB, "stats": {"inactive_file": 1024}}
    assert got["cpu_stats"]["cpu_usage"] == {"total_usage": 1_500_000, "usage_in_usermode": 1_000_000,
                                             "usage_in_kernelmode": 500_000}
    assert got["cpu_stats"]["throttling_data"]["throttled_time"] == 9000
    assert got["pids_stats"] == {"current": 3}
    assert got["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 100}, {"major": 8, "minor": 0, "op": "write", "value": 200}]


def test_cgroup_missing_or_malformed_gives_nothing(tmp_path):
    assert cgroupfs.read({"version": 2, "paths": {"unified": str(tmp_path / "gone")}}, GIB) == {}
    assert cgroupfs.read({"version": 1, "paths": "nope"}, GIB) == {}


def _fake_proc(base, procs: dict[int, tuple[str, int, int, int, int]], host_ns="pid:[1]") -> str:
    """procs: pid -> (pid ns, ppid, utime ticks, stime ticks, rss pages)."""
    os.makedirs(base / "self" / "ns")
    os.symlink(host_ns, base / "self" / "ns" / "pid")
    os.symlink("net:[1]", base / "self" / "ns" / "net")
    for pid, (ns, ppid, ut, st, rss) in procs.items():
        d = base / str(pid)
        os.makedirs(d / "ns")
        os.symlink(ns, d / "ns" / "pid")
        os.symlink(f"net:[{pid}]", d / "ns" / "net")
        rest = ["S", str(ppid)] + ["0"] * 9 + [str(ut), str(st), "0", "0", "0", "0", "1", "0", "0", "0", str(rss)]
        (d / "stat").write_text(f"{pid} (sh -c x) " + " ".join(rest) + "\n")
        (d / "io").write_text("rchar: 1\nread_bytes: 512\nwrite_bytes: 1024\n")
        os.makedirs(d / "net")
        (d / "net" / "dev").write_text("Inter-|\n face |\n    lo: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n"
                                       "  eth0: 100 2 0 0 0 0 0 0 50 1 0 0 0 0 0 0\n")
    (base / "stat").write_text(f"cpu  {100} 0 {100} 800 0 0 0 0 0 0\n")
    (base / "meminfo").write_text("MemTotal:       1024 kB\n")
    return str(base)


def test_members_by_pid_namespace_and_by_tree_without_one(tmp_path):
    proc = _fake_proc(tmp_path, {10: ("pid:[7]", 1, 0, 0, 0), 11: ("pid:[7]", 10, 0, 0, 0),
                                 20: ("pid:[1]", 1, 0, 0, 0), 21: ("pid:[1]", 20, 0, 0, 0),
                                 22: ("pid:[1]", 21, 0, 0, 0), 30: ("pid:[1]", 1, 0, 0, 0)})
    got = procfs.container_pids({"a": 10, "b": 20, "gone": 99}, proc)
    assert got == {"a": [10, 11], "b": [20, 21, 22], "gone": []}


class _Rec:
    def __init__(self, cid, pid, info=None):
        self.id, self.pid, self.name = cid, pid, cid
        self.state = {"info": info or {}}
        self.spec = type("S", (), {"plugins": [], "options": {}})()


def test_sample_from_proc_then_pair(tmp_path):
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    proc = _fake_proc(tmp_path, {10: ("pid:[7]", 1, 3, 1, 2), 11: ("pid:[7]", 10, 1, 0, 3)})
    got = sample([_Rec("a", 10), _Rec("stopped", None)], proc)
    a = got["a"]
    assert a["cpu_stats"]["cpu_usage"]["total_usage"] == 5 * tick
    assert a["cpu_stats"]["system_cpu_usage"] == 1000 * tick
    assert a["memory_stats"] == {"usage": 5 * os.sysconf("SC_PAGE_SIZE"), "limit": 1024 * 1024, "stats": {}}
    assert a["pids_stats"] == {"current": 2}
    assert a["networks"] == {"eth0": {"rx_bytes": 100, "rx_packets": 2, "rx_errors": 0, "rx_dropped": 0,
                                      "tx_bytes": 50, "tx_packets": 1, "tx_errors": 0, "tx_dropped": 0}}
    assert table.row(pair(got["stopped"], None))[2:] == ("--", "-- / --", "--", "--", "--", "--")
    framed = pair(a, a)
    assert framed["precpu_stats"] is a["cpu_stats"] and framed["preread"] == a["read"]
    assert table.row(pair(a, None))[7] == "2"


def test_sample_prefers_the_cgroup_files(tmp_path):
    proc = _fake_proc(tmp_path / "proc", {10: ("pid:[7]", 1, 3, 1, 2)})
    _tree(tmp_path, {"m/memory.usage_in_bytes": "4096\n", "m/memory.limit_in_bytes": "8192\n"})
    got = sample([_Rec("a", 10, {"Cgroup": {"version": 1, "paths": {"memory": str(tmp_path / "m")}}})], proc)["a"]
    assert got["memory_stats"]["usage"] == 4096 and got["memory_stats"]["limit"] == 8192
    assert got["pids_stats"] == {"current": 1}                         # no pids controller: from /proc


def test_cpu_percent_as_docker_computes_it():
    stats = {"cpu_stats": {"cpu_usage": {"total_usage": 1_500}, "system_cpu_usage": 12_000, "online_cpus": 2},
             "precpu_stats": {"cpu_usage": {"total_usage": 500}, "system_cpu_usage": 10_000}}
    assert table.cpu_percent(stats) == pytest.approx(100.0)   # 1000 / 2000 * 2 CPUs * 100
    stats["cpu_stats"]["system_cpu_usage"] = 10_000
    assert table.cpu_percent(stats) == 0.0


def test_memory_without_cache_v1_and_v2():
    assert table.mem_used({"usage": 100, "stats": {"total_inactive_file": 30}}) == 70
    assert table.mem_used({"usage": 100, "stats": {"inactive_file": 40}}) == 60
    assert table.mem_used({"usage": 100, "stats": {"inactive_file": 400}}) == 100


@pytest.mark.parametrize("size,binary,decimal", [
    (0, "0B", "0B"), (796, "796B", "796B"), (1024, "1KiB", "1.02kB"), (3428, "3.348KiB", "3.43kB"),
    (1884160, "1.797MiB", "1.88MB"), (25275080704, "23.54GiB", "25.3GB")])
def test_units_as_go_units(size, binary, decimal):
    assert table.bytes_size(size) == binary and table.human_size(size) == decimal


def test_parse_ps_keeps_the_containers_rows_and_the_command_whole():
    out = ("UID        PID  PPID  C STIME TTY          TIME CMD\n"
           "root         1     0  0 09:22 ?        00:00:50 /sbin/init\n"
           "root      6431  6424  0 12:21 ?        00:00:00 sh -c sleep 100 & sleep 200\n")
    got = parse_ps(out, {6431})
    assert got["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert got["Processes"] == [["root", "6431", "6424", "0", "12:21", "?", "00:00:00", "sh -c sleep 100 & sleep 200"]]
    with pytest.raises(ConfigError, match="PID field"):
        parse_ps("USER COMMAND\nroot init\n", {1})


def test_timestamp_is_rfc3339_nano():
    assert timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"


def test_frames_two_samples_one_interval_apart():
    from nsrun.stats import frames as mod

    class Eng:
        def list(self, all=False):
            return []
    now, slept = [10.0], []

    def clock():
        now[0] += 0.125                 # every look at the clock: a sample (or the listing) took 125 ms
        return now[0]
    got = list(mod.frames(Eng(), [], stream=False, interval=0.5, sleep=slept.append, clock=clock))
    assert got == [[]] and slept == [0.375]   # the first sample's time is part of the interval


def test_frames_never_sleep_a_negative_time_after_a_slow_sample():
    from nsrun.stats import frames as mod

    class Eng:
        def list(self, all=False):
            return []
    now, slept = [0.0], []

    def clock():
        now[0] += 2.0
        return now[0]
    assert list(mod.frames(Eng(), [], stream=False, interval=1.0, sleep=slept.append, clock=clock)) == [[]]
    assert slept == [0.0]


def test_events_from_two_snapshots_of_the_store():
    from nsrun._events import changes
    a, b, c = _Rec("a", 1), _Rec("b", 2), _Rec("c", None)
    before = {"a": ("running", a), "b": ("running", b), "c": ("created", c)}
    after = {"a": ("exited", a), "c": ("running", c), "d": ("running", _Rec("d", 4))}
    assert [(action, rec.id) for action, rec in changes(before, after)] == [
        ("die", "a"), ("start", "c"), ("create", "d"), ("start", "d"), ("die", "b"), ("destroy", "b")]


def test_events_of_plugins_objects_from_two_snapshots():
    from nsrun._events import object_changes
    net = {"Type": "network", "ID": "n1", "Attributes": {"name": "n14b"}, "join": "connect", "leave": "disconnect"}
    before = {("network", "n1"): {**net, "members": {"c1": {}}},
              ("volume", "v1"): {"Type": "volume", "ID": "v1", "Attributes": {}, "members": {"c2": {}},
                                 "join": "mount", "leave": "unmount"}}
    after = {("network", "n1"): {**net, "members": {"c3": {}}},
             ("network", "n2"): {**net, "ID": "n2", "members": {}}}
    got = [(e["Type"], e["Actor"]["ID"], e["Action"], e["Actor"]["Attributes"].get("container"))
           for e in object_changes(before, after)]
    assert got == [("network", "n1", "connect", "c3"), ("network", "n1", "disconnect", "c1"),
                   ("network", "n2", "create", None), ("volume", "v1", "unmount", "c2"),
                   ("volume", "v1", "destroy", None)]
    assert all(e["Actor"]["Attributes"].get("name") == "n14b" for e in object_changes(before, after)[:3])
