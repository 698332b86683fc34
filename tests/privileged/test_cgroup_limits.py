"""Limits really enforced, with real cgroups (v1 on this machine's hybrid layout) and real workloads; small,
bounded numbers only. Container names start with ``cgl``."""
from __future__ import annotations

import json
import os
import time

import pytest
from waiting import wait_for


def _inspect(nsrun, name: str) -> dict:
    out = json.loads(nsrun("inspect", name, check=True).stdout)
    return out[0] if isinstance(out, list) else out


def _cgroup(nsrun, name: str) -> dict:
    return _inspect(nsrun, name)["Info"]["Cgroup"]


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _own(controller: str) -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path
    raise AssertionError(controller)


def test_a_container_without_limits_has_its_own_cgroup_too(nsrun):
    """As Docker: every container gets a cgroup (no limit written), so pause, stats and OOM work for all."""
    nsrun("run", "-d", "--name", "cglnone", "busybox", "sleep", "30", check=True)
    try:
        cg = _cgroup(nsrun, "cglnone")
        pid = _inspect(nsrun, "cglnone")["State"]["Pid"]
        assert str(pid) in _read(cg["paths"]["pids"] + "/cgroup.procs").split()
        assert _read(cg["paths"]["pids"] + "/pids.max") == "max"
        nsrun("pause", "cglnone", check=True)
        nsrun("unpause", "cglnone", check=True)
        inside = nsrun("exec", "cglnone", "sh", "-c", "cat /proc/self/cgroup", check=True).stdout
        assert all(line.endswith(":/") for line in inside.splitlines()), inside
    finally:
        nsrun("rm", "-f", "cglnone", check=True)
    assert not os.path.exists(cg["paths"]["memory"])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_detached_containers_supervisor_keeps_no_zombie_of_the_cgroup_placing(nsrun):
    """The helper that put the command into its cgroups is reaped once the command runs, not when the
    container ends: a supervisor that lives for days shows no ``<defunct>`` child."""
    nsrun("run", "-d", "--name", "cglzomb", "busybox", "sleep", "30", check=True)
    try:
        pid = _inspect(nsrun, "cglzomb")["State"]["Pid"]
        with open(f"/proc/{pid}/stat") as f:
            supervisor = int(f.read().rsplit(")", 1)[1].split()[1])
        children = {c: _state(c) for c in _children(supervisor)}
        assert children == {pid: "S"}, children
    finally:
        nsrun("rm", "-f", "cglzomb", check=True)


def test_a_limited_container_has_a_cgroup_beneath_ours_and_it_is_the_namespace_root(nsrun):
    nsrun("run", "-d", "--name", "cglown", "--pids-limit", "1000", "busybox", "sleep", "30", check=True)
    try:
        cg = _cgroup(nsrun, "cglown")
        assert cg["version"] == 1
        for ctl in ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer", "devices", "unified"):
            path = cg["paths"][ctl]
            base = "/sys/fs/cgroup/" + ctl + _own(ctl if ctl != "unified" else "").rstrip("/")
            assert path.startswith(base + "/nsr") and os.path.isdir(path), (ctl, path)
        pid = _inspect(nsrun, "cglown")["State"]["Pid"]
        assert str(pid) in _read(cg["paths"]["memory"] + "/cgroup.procs").split()
        assert _read(cg["paths"]["cpuset"] + "/cpuset.cpus") == _read(os.path.dirname(cg["paths"]["cpuset"]) + "/cpuset.cpus")
        with open(f"/proc/{pid}/cgroup") as f:        # the host's view: the container's own cgroups
            host_view = f.read()
        assert f"memory:{_own('memory').rstrip('/')}/nsr" in host_view, host_view
    finally:
        nsrun("rm", "-f", "cglown", check=True)
    assert not os.path.exists(cg["paths"]["memory"])


def test_the_namespace_root_is_the_containers_cgroup(nsrun):
    out = nsrun("run", "--rm", "-m", "32m", "busybox", "sh", "-c",
                "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes", check=True).stdout
    lines = out.splitlines()
    assert all(line.endswith(":/") for line in lines[:-1]) and lines[-1] == str(32 << 20), out


def test_memory_past_the_limit_is_oom_killed(nsrun):
    r = nsrun("run", "--name", "cgloom", "-m", "16m", "busybox", "sh", "-c", "head -c 64m /dev/zero | tail")
    assert r.returncode == 137, r.stderr
    st = _inspect(nsrun, "cgloom")["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    nsrun("rm", "cgloom", check=True)
    ok = nsrun("run", "--name", "cglfine", "-m", "32m", "busybox", "sh", "-c", "head -c 4m /dev/zero | tail | wc -c")
    assert ok.returncode == 0 and _inspect(nsrun, "cglfine")["State"]["OOMKilled"] is False
    nsrun("rm", "cglfine", check=True)


def test_fork_past_the_pids_limit_fails_with_eagain(nsrun):
    script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done 2>&1; wait"
    r = nsrun("run", "--rm", "--pids-limit", "8", "busybox", "sh", "-c", script)
    assert "can't fork: Resource temporarily unavailable" in r.stdout + r.stderr


def test_cpu_quota_bounds_the_usage(nsrun):
    """1 s of a busy loop under --cpus 0.2 gets about 0.2 s of CPU (wide bounds: 0.1-0.35 s)."""
    nsrun("run", "-d", "--name", "cglcpu", "--cpus", "0.2", "busybox", "sh", "-c",
          "timeout 1 sh -c 'while :; do :; done'; sleep 30", check=True)
    try:
        cg = _cgroup(nsrun, "cglcpu")
        assert _read(cg["paths"]["cpu"] + "/cpu.cfs_quota_us") == "20000"
        assert _read(cg["paths"]["cpu"] + "/cpu.cfs_period_us") == "100000"
        time.sleep(1.5)
        used = int(_read(cg["paths"]["cpuacct"] + "/cpuacct.usage")) / 1e9
        assert 0.1 < used < 0.35, used
    finally:
        nsrun("rm", "-f", "cglcpu", check=True)


def test_cpuset_shares_and_reservation_reach_the_files(nsrun):
    nsrun("run", "-d", "--name", "cglset", "--cpuset-cpus", "1", "--cpu-shares", "512", "-m", "64m",
          "--memory-reservation", "32m", "busybox", "sleep", "30", check=True)
    try:
        cg = _cgroup(nsrun, "cglset")["paths"]
        assert _read(cg["cpuset"] + "/cpuset.cpus") == "1" and _read(cg["cpu"] + "/cpu.shares") == "512"
        assert _read(cg["memory"] + "/memory.soft_limit_in_bytes") == str(32 << 20)
        pid = _inspect(nsrun, "cglset")["State"]["Pid"]
        assert _read(f"/proc/{pid}/status").split("Cpus_allowed_list:")[1].split()[0] == "1"
    finally:
        nsrun("rm", "-f", "cglset", check=True)


def test_update_changes_the_limits_live(nsrun):
    nsrun("run", "-d", "--name", "cglupd", "-m", "32m", "--pids-limit", "20", "busybox", "sleep", "30", check=True)
    try:
        cg = _cgroup(nsrun, "cglupd")["paths"]
        assert _read(cg["memory"] + "/memory.limit_in_bytes") == str(32 << 20)
        nsrun("update", "--memory", "48m", "--pids-limit", "30", "--cpus", "0.5", "cglupd", check=True)
        assert _read(cg["memory"] + "/memory.limit_in_bytes") == str(48 << 20)
        assert _read(cg["pids"] + "/pids.max") == "30" and _read(cg["cpu"] + "/cpu.cfs_quota_us") == "50000"
        host = _inspect(nsrun, "cglupd")
        assert host["Info"]["CgroupLimits"]["Memory"] == 48 << 20
        bad = nsrun("update", "--memory", "1x", "cglupd")
        assert bad.returncode == 125 and len(bad.stderr.strip().splitlines()) == 1
    finally:
        nsrun("rm", "-f", "cglupd", check=True)


def _counter(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/root/tmp/c") as f:
            return int(f.read())
    except FileNotFoundError:  # not written yet
        return 0


def test_pause_freezes_and_unpause_resumes(nsrun):
    nsrun("run", "-d", "--name", "cglpause", "--pids-limit", "1000", "busybox", "sh", "-c",
          "i=0; while :; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/c; sleep 0.01; done",
          check=True)  # renamed into place: a reader never sees the file between its truncation and write
    try:
        pid = _inspect(nsrun, "cglpause")["State"]["Pid"]
        assert wait_for(lambda: _counter(pid) > 0)  # it counts
        nsrun("pause", "cglpause", check=True)
        st = _inspect(nsrun, "cglpause")["State"]
        assert st["Status"] == "paused" and st["Paused"] is True
        assert "(Paused)" in nsrun("ps", check=True).stdout
        freezer = _cgroup(nsrun, "cglpause")["paths"]["freezer"]
        assert _read(freezer + "/freezer.state") == "FROZEN"
        a = _counter(pid)
        time.sleep(0.3)
        assert _counter(pid) == a
        again = nsrun("pause", "cglpause")
        assert again.returncode == 125 and "already paused" in again.stderr
        nsrun("unpause", "cglpause", check=True)
        assert wait_for(lambda: _counter(pid) > a) and _inspect(nsrun, "cglpause")["State"]["Status"] == "running"
    finally:
        nsrun("rm", "-f", "cglpause", check=True)


@pytest.mark.parametrize("args", [("-m", "1x"), ("--cpus", "-1"), ("--cpuset-cpus", "99"), ("--pids-limit", "abc"),
                                  ("-m", "5m"), ("--blkio-weight", "100"), ("--cgroup-parent", "../up")])
def test_bad_input_is_one_line_125_and_leaves_no_cgroup(nsrun, nsrun_root, args):
    r = nsrun("run", "--rm", "--name", "cglbad", *args, "busybox", "true")
    assert r.returncode == 125 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    # the leak check (cgroups named nsr<tag>) runs after this test too; look now as well
    import leakcheck
    from nsrun import Paths
    assert leakcheck.cgroups(Paths.from_root(nsrun_root).tag) == set()


def test_cgroup_parent_is_relative_to_ours(nsrun):
    r = nsrun("run", "--rm", "--cgroup-parent", "cgltestparent", "busybox", "cat", "/proc/self/cgroup", check=True)
    assert r.stdout.splitlines()[0].endswith(":/")
    for ctl in ("memory", "pids"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctl}{_own(ctl).rstrip('/')}/cgltestparent")


def test_gc_removes_the_cgroup_of_a_killed_container(nsrun):
    proc = nsrun.popen("run", "--name", "cglgc", "-m", "64m", "busybox", "sleep", "30")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = nsrun("inspect", "cglgc")
        if r.returncode == 0 and _inspect(nsrun, "cglgc")["State"]["Status"] == "running":
            break
        time.sleep(0.05)
    path = _cgroup(nsrun, "cglgc")["paths"]["memory"]
    proc.kill()
    proc.wait()
    assert os.path.isdir(path)              # nsrun died: nothing removed it
    out = nsrun("gc", check=True).stdout
    assert "removed the cgroups of container" in out and not os.path.exists(path)
    nsrun("rm", "-f", "cglgc", check=True)


def test_exec_joins_the_containers_cgroups_and_a_paused_container_refuses_exec(nsrun):
    nsrun("run", "-d", "--name", "cglexec", "-m", "24m", "--pids-limit", "20", "busybox", "sleep", "60", check=True)
    try:
        out = nsrun("exec", "cglexec", "sh", "-c", "grep -E ':(memory|pids):' /proc/self/cgroup; "
                    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", check=True).stdout.split()
        assert len(out) == 3 and all(line.endswith(":/") for line in out[:2]), out  # the namespace root
        assert out[2] == str(24 << 20)  # what it sees is the container's own cgroup, its limit included
        procs = _read(_cgroup(nsrun, "cglexec")["paths"]["memory"] + "/cgroup.procs").split()
        assert len(procs) == 1  # the exec'd shell is gone again; only the container's process is left
        nsrun("pause", "cglexec", check=True)
        r = nsrun("exec", "cglexec", "true", timeout=20)
        assert r.returncode == 125 and "is paused, unpause the container before exec" in r.stderr
        nsrun("unpause", "cglexec", check=True)
    finally:
        nsrun("rm", "-f", "cglexec", check=True)
