"""The cgroup plugin's pure parts: Docker's limit options -> checked limits -> cgroup files (v1 and v2), and
the pure-v2 path of ``tree`` against a fake cgroup2 tree that behaves as the kernel's does (interface files
appear with mkdir for the controllers the parent delegates; a file of an undelegated controller does not
exist; ``subtree_control`` refuses EBUSY where processes live; ``rmdir`` refuses EBUSY while tasks remain)."""
from __future__ import annotations

import errno
import os

import pytest

from nsrun import ConfigError, SetupError
from nsrun_cgroup.limits import parse, parse_bytes, shares_to_weight, writes
from nsrun_cgroup.tree import Cgroup, Fs, hierarchies

CPUS = {0, 1}


@pytest.mark.parametrize("text,want", [("16m", 16 << 20), ("1g", 1 << 30), ("512k", 512 << 10), ("100", 100),
                                       ("1.5g", 3 << 29), ("64MB", 64 << 20), ("2GiB", 2 << 30), (1234, 1234)])
def test_sizes_as_docker_reads_them(text, want):
    assert parse_bytes(text) == want


@pytest.mark.parametrize("options,message", [
    ({"memory": "1x"}, "invalid size"), ({"memory": "5m"}, "Minimum memory limit allowed is 6MB"),
    ({"cpus": "-1"}, "Range of CPUs is from 0.01 to 2.00"), ({"cpus": "3"}, "only 2 CPUs"),
    ({"cpus": "abc"}, "rational number"), ({"cpuset_cpus": "99"}, "requested 99, available: 0-1"),
    ({"cpuset_cpus": "1-x"}, "Invalid value"), ({"pids_limit": "abc"}, "invalid syntax"),
    ({"memory_swap": "64m"}, "always set the Memory limit"),
    ({"memory": "64m", "memory_swap": "32m"}, "larger than memory limit"),
    ({"memory": "32m", "memory_reservation": "64m"}, "less than memory reservation"),
    ({"cpus": "0.5", "cpu_quota": "50000"}, "Conflicting options: Nano CPUs and CPU Quota"),
    ({"cpu_period": "10"}, "less than 1ms"), ({"cpu_quota": "10"}, "less than 1ms"),
    ({"blkio_weight": "5"}, "10 to 1000"),
])
def test_bad_input_is_one_line(options, message):
    with pytest.raises(ConfigError) as err:
        parse(options, cpus=CPUS)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_limits_map_to_v1_files():
    lim = parse({"memory": "32m", "cpus": "0.5", "pids_limit": "50", "cpu_shares": "512", "cpuset_cpus": "0",
                 "memory_reservation": "16m", "blkio_weight": "300"}, cpus=CPUS)
    assert lim == {"Memory": 32 << 20, "NanoCpus": 500_000_000, "PidsLimit": 50, "CpuShares": 512,
                   "CpusetCpus": "0", "MemoryReservation": 16 << 20, "BlkioWeight": 300}
    files = {(c, f): v for c, f, v in writes(lim, 1, blkio_file="blkio.bfq.weight")}
    assert files == {("memory", "memory.limit_in_bytes"): str(32 << 20),
                     ("memory", "memory.memsw.limit_in_bytes"): str(64 << 20),
                     ("memory", "memory.soft_limit_in_bytes"): str(16 << 20),
                     ("cpu", "cpu.shares"): "512", ("cpu", "cpu.cfs_period_us"): "100000",
                     ("cpu", "cpu.cfs_quota_us"): "50000", ("cpuset", "cpuset.cpus"): "0",
                     ("pids", "pids.max"): "50", ("blkio", "blkio.bfq.weight"): "300"}
    order = [f for _, f, _ in writes(lim, 1)]
    assert order.index("memory.limit_in_bytes") < order.index("memory.memsw.limit_in_bytes")
    assert "memory.memsw.limit_in_bytes" not in [f for _, f, _ in writes(lim, 1, memsw=False)]


def test_limits_map_to_v2_files():
    lim = parse({"memory": "32m", "memory_swap": "-1", "cpu_quota": "20000", "cpu_period": "50000",
                 "pids_limit": "8", "cpu_shares": "1024", "blkio_weight": "200"}, cpus=CPUS)
    files = {f: v for _, f, v in writes(lim, 2, blkio_file="io.weight")}
    assert files == {"memory.max": str(32 << 20), "memory.swap.max": "max", "cpu.max": "20000 50000",
                     "pids.max": "8", "cpu.weight": str(shares_to_weight(1024)), "io.weight": "default 200"}
    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000
    assert {f: v for _, f, v in writes(parse({"memory": "32m"}), 2)}["memory.swap.max"] == str(32 << 20)


def test_zero_values_are_unset():
    assert parse({"memory": 0, "pids_limit": "-1", "cpus": "0", "blkio_weight": 0}, cpus=CPUS) == {}


# -- the v2 path against a fake cgroup2 tree ----------------------------------------------------------------

class FakeCgroup2(Fs):
    """A directory tree that answers like cgroup2: see the module docstring."""

    CORE = ("cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.events", "cgroup.freeze",
            "cgroup.type")
    FILES = {"memory": ("memory.max", "memory.swap.max", "memory.low", "memory.events"),
             "cpu": ("cpu.max", "cpu.weight"), "pids": ("pids.max",), "io": ("io.weight",),
             "cpuset": ("cpuset.cpus", "cpuset.mems")}

    def __init__(self, base: str, controllers: str = "cpuset cpu io memory pids") -> None:
        self.base = base
        for name in self.CORE:
            self._put(base, name, "")
        self._put(base, "cgroup.controllers", controllers)

    @staticmethod
    def _put(d: str, name: str, value: str) -> None:
        with open(os.path.join(d, name), "w") as f:
            f.write(value)

    def mkdir(self, path: str) -> None:
        parent = os.path.dirname(path)
        delegated = self.read(f"{parent}/cgroup.subtree_control").split()
        os.mkdir(path)
        for name in self.CORE:
            self._put(path, name, "")
        self._put(path, "cgroup.controllers", " ".join(delegated))
        self._put(path, "cgroup.events", "populated 0\nfrozen 0\n")
        for c in delegated:
            for name in self.FILES.get(c, ()):
                self._put(path, name, "max" if name.endswith(".max") else "0" if "events" not in name else "oom_kill 0\n")

    def rmdir(self, path: str) -> None:
        if self.read(f"{path}/cgroup.procs").split():
            raise OSError(errno.EBUSY, "busy", path)
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)

    def write(self, path: str, value: str) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "No such file", path)
        d, name = os.path.split(path)
        if name == "cgroup.subtree_control":
            if d != self.base and self.read(f"{d}/cgroup.procs").split():
                raise OSError(errno.EBUSY, "Device or resource busy", path)
            have = self.read(path).split()
            avail = self.read(f"{d}/cgroup.controllers").split()
            for word in value.split():
                if word[1:] not in avail:
                    raise OSError(errno.ENOENT, "No such file", path)
                have = [c for c in have if c != word[1:]] + ([word[1:]] if word[0] == "+" else [])
            value = " ".join(have)
        if name == "cgroup.freeze":
            self._put(d, "cgroup.events", f"populated 0\nfrozen {value.strip()}\n")
        self._put(d, name, value)


V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_v2_hierarchy_is_found_beneath_the_callers_own_cgroup():
    hiers = hierarchies(V2_MOUNTINFO, "0::/user.slice/nsrun.scope\n")
    assert [(h.controllers, h.version, h.own) for h in hiers] == [("", 2, "/sys/fs/cgroup/user.slice/nsrun.scope")]


def test_v2_create_limits_freeze_and_remove_in_a_fake_tree(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    fs = FakeCgroup2(str(own))
    cg = Cgroup({"": str(own / "sub" / "nsrab-c1")}, 2, fs)
    made: list[str] = []
    cg.create(made)
    assert made == [str(own / "sub"), str(own / "sub" / "nsrab-c1")]
    assert set(fs.read(str(own / "cgroup.subtree_control")).split()) == {"cpuset", "cpu", "io", "memory", "pids"}
    lim = parse({"memory": "32m", "cpus": "0.5", "pids_limit": "50"}, cpus=CPUS)
    cg.apply(writes(lim, 2))
    d = own / "sub" / "nsrab-c1"
    assert (d / "memory.max").read_text() == str(32 << 20) and (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "pids.max").read_text() == "50"
    info = cg.info()
    assert info["version"] == 2 and info["paths"]["memory"] == info["paths"]["unified"] == str(d)
    cg.freeze(True)
    assert cg.is_frozen() and (d / "cgroup.freeze").read_text() == "1"
    cg.freeze(False)
    assert not cg.is_frozen()
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()
    cg.remove(made)
    assert not (own / "sub").exists()


def test_v2_a_controller_nobody_delegates_is_one_clear_line(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    fs = FakeCgroup2(str(own), controllers="memory")   # no pids controller on this host
    cg = Cgroup({"": str(own / "nsrab-c2")}, 2, fs)
    made: list[str] = []
    cg.create(made)
    with pytest.raises(ConfigError, match="no pids.max"):
        cg.apply(writes(parse({"pids_limit": "8"}), 2))
    cg.remove(made)


def test_v2_processes_in_the_parent_block_delegation(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    fs = FakeCgroup2(str(own))
    fs.mkdir(str(own / "busy"))          # a non-root cgroup with a process in it, nothing delegated below
    (own / "busy" / "cgroup.procs").write_text("4242\n")
    (own / "busy" / "cgroup.controllers").write_text("memory pids")
    cg = Cgroup({"": str(own / "busy" / "nsrab-c3")}, 2, fs)
    with pytest.raises(SetupError, match="processes live there"):
        cg.create([])


def test_hybrid_hierarchies_of_this_kind_of_machine():
    mountinfo = "".join(f"{30 + i} 31 0:{40 + i} / /sys/fs/cgroup/{n} rw - cgroup cgroup rw,{n}\n"
                        for i, n in enumerate(("cpu", "cpuacct", "memory", "pids", "freezer")))
    mountinfo += "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    mountinfo += "42 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
    own = "9:name=systemd:/\n4:memory:/process_api/x\n2:cpuacct:/\n1:cpu:/\n3:pids:/\n5:freezer:/\n0::/\n"
    hiers = hierarchies(mountinfo, own)
    assert {h.controllers: h.own for h in hiers} == {
        "cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "memory": "/sys/fs/cgroup/memory/process_api/x",
        "pids": "/sys/fs/cgroup/pids", "freezer": "/sys/fs/cgroup/freezer", "": "/sys/fs/cgroup/unified"}
    cg = Cgroup.plan(hiers, "nsrab-c4", "cglpar")
    assert cg.version == 1
    assert cg.info()["paths"]["memory"] == "/sys/fs/cgroup/memory/process_api/x/cglpar/nsrab-c4"
    assert cg.info()["paths"]["unified"] == "/sys/fs/cgroup/unified/cglpar/nsrab-c4"
    with pytest.raises(ConfigError):
        Cgroup.plan(hiers, "n", "../escape")


# -- the placing helper (host.Placer), with plain files standing in for cgroup.procs ------------------------

def _forked_copy(placer):
    """What the child holds after its fork: the same object with its own descriptors."""
    import copy
    child = copy.copy(placer)
    child.to_helper, child.placed = -1, os.dup(placer.placed)  # the child closed its copy of the pid pipe
    return child


def test_the_placer_writes_the_pid_everywhere_and_reports(tmp_path):
    from nsrun_cgroup.host import Placer, wait_placed
    warm, a, b = (tmp_path / n for n in ("warm", "a", "b"))
    for f in (warm, a, b):
        f.write_text("")
    placer = Placer(str(warm), [str(a), str(b)]).start()
    child_copy = _forked_copy(placer)
    placer.place(4321)
    wait_placed(child_copy)
    assert a.read_text() == b.read_text() == "4321"
    assert warm.read_text()  # it took the lock early: its own pid, written into its own cgroup
    placer.stop()


def test_a_placer_that_cannot_place_or_is_given_up_fails_the_child(tmp_path):
    from nsrun_cgroup.host import Placer, wait_placed
    (tmp_path / "warm").write_text("")
    placer = Placer(str(tmp_path / "warm"), [str(tmp_path / "gone" / "cgroup.procs")]).start()
    child_copy = _forked_copy(placer)
    placer.place(1)
    with pytest.raises(OSError, match="could not join the container's cgroups: .*gone/cgroup.procs"):
        wait_placed(child_copy)
    placer.stop()
    abandoned = Placer(str(tmp_path / "warm"), [str(tmp_path / "warm")]).start()
    child_copy = _forked_copy(abandoned)
    abandoned.stop()  # nsrun failed before post_start: the helper is killed, the child sees it ended
    with pytest.raises(OSError, match="the placing helper ended"):
        wait_placed(child_copy)


def test_only_an_unasked_cgroup_that_may_not_be_made_is_gone_without():
    from types import SimpleNamespace
    import nsrun_cgroup
    ctx = lambda limits=None, parent=None: SimpleNamespace(  # noqa: E731
        stash={nsrun_cgroup._LIMITS: limits} if limits else {}, options={"cgroup_parent": parent})
    denied, full = OSError(errno.EACCES, "denied"), OSError(errno.ENOSPC, "full")
    assert nsrun_cgroup._cannot_make(denied, ctx())
    assert nsrun_cgroup._cannot_make(OSError(errno.EROFS, "ro"), ctx())
    assert not nsrun_cgroup._cannot_make(denied, ctx(limits={"Memory": 1 << 26}))
    assert not nsrun_cgroup._cannot_make(denied, ctx(parent="p"))
    assert not nsrun_cgroup._cannot_make(full, ctx())
