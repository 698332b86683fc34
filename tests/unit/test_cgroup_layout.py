"""The cgroup plugin's layout decision, as pure logic over fake /proc/self/mountinfo and /proc/self/cgroup."""
import pytest

from nsrun import ConfigError, ContainerSpec, Mount, Paths, RunContext
from nsrun_cgroup import configure
from nsrun_cgroup.layout import parse_mountinfo, parse_proc_cgroup, plan_mounts

RO, SAFE, REMOUNT, BIND = 1, 2 | 4 | 8, 32, 4096

HYBRID = """\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
37 31 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,net_cls,net_prio
"""
HYBRID_CGROUP = """\
12:net_cls,net_prio:/
5:memory:/user.slice/job 7
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
"""
PURE_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_mountinfo_keeps_cgroup_mounts_and_unescapes_paths():
    text = HYBRID + r"40 31 0:40 /a\040b /sys/fs/cgroup/odd\040name rw - cgroup cgroup rw,pids" + "\n"
    found = parse_mountinfo(text)
    assert [m.mountpoint for m in found][-1] == "/sys/fs/cgroup/odd name"
    assert found[-1].root == "/a b" and found[-1].options == ("rw", "pids")
    assert {m.fstype for m in found} == {"cgroup", "cgroup2"}  # sysfs and tmpfs are not cgroups


def test_proc_cgroup_keeps_colons_in_paths():
    assert parse_proc_cgroup("4:memory:/a:b\n0::/\n") == {"memory": "/a:b", "": "/"}


def test_hybrid_private_namespace_mounts_each_hierarchy_fresh_and_read_only():
    mounts, notes = plan_mounts(HYBRID, HYBRID_CGROUP)
    assert notes == []
    assert mounts[0] == Mount("tmpfs", "/sys/fs/cgroup", "tmpfs", SAFE, "mode=755")
    assert mounts[-1] == Mount("tmpfs", "/sys/fs/cgroup", "tmpfs", REMOUNT | RO | SAFE, "mode=755")  # sealed last
    inner = mounts[1:-1]
    assert [(m.target, m.fstype, m.data) for m in inner] == [
        ("/sys/fs/cgroup/unified", "cgroup2", None),
        ("/sys/fs/cgroup/systemd", "cgroup", "name=systemd"),
        ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "cpu,cpuacct"),
        ("/sys/fs/cgroup/cpu", "cgroup", "cpu,cpuacct"),        # Docker's symlinks, as second mounts
        ("/sys/fs/cgroup/cpuacct", "cgroup", "cpu,cpuacct"),
        ("/sys/fs/cgroup/memory", "cgroup", "memory"),
        ("/sys/fs/cgroup/net_cls,net_prio", "cgroup", "net_cls,net_prio"),
        ("/sys/fs/cgroup/net_cls", "cgroup", "net_cls,net_prio"),
        ("/sys/fs/cgroup/net_prio", "cgroup", "net_cls,net_prio"),
    ]
    assert all(m.flags == RO | SAFE for m in inner)


def test_hybrid_host_namespace_binds_the_callers_own_cgroups_read_only():
    mounts, _ = plan_mounts(HYBRID, HYBRID_CGROUP, host_ns=True)
    binds = {m.target: m.source for m in mounts[1:-1]}
    assert all(m.flags == BIND and m.readonly for m in mounts[1:-1])
    assert binds["/sys/fs/cgroup/memory"] == "/sys/fs/cgroup/memory/user.slice/job 7"
    cpu = "/sys/fs/cgroup/cpu,cpuacct/user.slice"
    assert binds["/sys/fs/cgroup/cpu"] == binds["/sys/fs/cgroup/cpu,cpuacct"] == cpu
    assert binds["/sys/fs/cgroup/unified"] == "/sys/fs/cgroup/unified/user.slice/session-1.scope"
    assert binds["/sys/fs/cgroup/net_cls,net_prio"] == "/sys/fs/cgroup/net_cls,net_prio"


def test_host_namespace_bind_is_relative_to_the_mounts_own_root():
    mountinfo = "37 31 0:34 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    mounts, _ = plan_mounts(mountinfo, "5:memory:/outer/inner\n", host_ns=True)
    assert mounts[1].source == "/sys/fs/cgroup/memory/inner"
    mounts, _ = plan_mounts(mountinfo, "5:memory:/elsewhere\n", host_ns=True)
    assert mounts[1].source == "/sys/fs/cgroup/memory"  # the mount shows no more than /outer


def test_pure_v2_is_one_read_only_cgroup2_mount():
    mounts, notes = plan_mounts(PURE_V2, "0::/user.slice/x.scope\n")
    assert mounts == [Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", RO | SAFE)] and notes == []
    mounts, _ = plan_mounts(PURE_V2, "0::/user.slice/x.scope\n", host_ns=True)
    assert mounts == [Mount("/sys/fs/cgroup/user.slice/x.scope", "/sys/fs/cgroup", None, BIND, readonly=True)]


def test_duplicates_and_mounts_elsewhere_are_left_out():
    text = HYBRID + ("50 31 0:34 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n"
                     "51 24 0:36 / /mnt/pids rw - cgroup cgroup rw,pids\n"
                     "52 31 0:37 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n")
    mounts, notes = plan_mounts(text, HYBRID_CGROUP)
    targets = [m.target for m in mounts]
    assert "/sys/fs/cgroup/memory2" not in targets and "/mnt/pids" not in targets
    assert "/sys/fs/cgroup/freezer" not in targets and notes == [
        "/sys/fs/cgroup/freezer: the caller is in no cgroup of this hierarchy; left out"]


def test_no_cgroup_file_system_means_nothing_mounted_and_a_note():
    mounts, notes = plan_mounts("24 30 0:22 / /sys rw - sysfs sysfs rw\n", "")
    assert mounts == [] and "nothing mounted" in notes[0]


def _ctx(**options):
    spec = ContainerSpec(id="c1", name="c1", argv=("true",), options=options)
    return RunContext(spec, Paths.from_root("/tmp/nsrun-unit"))


def test_cgroupns_option_defaults_to_private_and_refuses_others():
    ctx = _ctx()
    configure(ctx)
    assert ctx.info["CgroupnsMode"] == "private"
    with pytest.raises(ConfigError, match=r"invalid --cgroupns 'bogus': use private or host"):
        configure(_ctx(cgroupns="bogus"))
