"""The cgroup plugin, tested as an attacker inside the container would: its own cgroup namespace, and a
cgroup file system that can be read but never written — not even the limits of the cgroup nsrun runs in,
which is the namespace's root.

Nothing here writes a cgroup file: every probe only OPENS for writing (``exec 3>>FILE``: append, no
truncation, nothing written) or tries ``mkdir`` (removed again at once if it ever succeeded), and asserts the
kernel refused. The host's values are read before and after to show nothing changed.
"""
from __future__ import annotations

import os
import re

import pytest

DEFAULT: tuple[str, ...] = ()
WITH_USER = ("--plugins", "user,pid,mnt,ipc,uts,sec,cgroup,net,nft")
SELECTIONS = pytest.mark.parametrize("plugins", [DEFAULT, WITH_USER], ids=["default", "user"])
# No network namespace in a user namespace: mnt binds the host's /sys (and the cgroup mounts beneath it, which
# the plugin's tmpfs then covers) instead of mounting a fresh sysfs.
WITH_USER_HOSTNET = (*WITH_USER, "run", "--network", "host")
# A container in the cgroup nsrun runs in (a foreground run without limits: fresh cgroup mounts in its namespace)
# and one with its own cgroup (a limit: its directories bound, the namespace made once it is placed in them).
CGROUPS = pytest.mark.parametrize("own", [(), ("--pids-limit", "1000")], ids=["shared", "own"])
REFUSED = re.compile(r"Read-only file system|Permission denied|Operation not permitted|Invalid argument", re.IGNORECASE)

PROBES = r"""
probe() { if out=$( (exec 3>>"$1") 2>&1 ); then echo "OPEN $1"; else echo "REFUSED $1: $out"; fi; }
probedir() { if out=$(mkdir "$1" 2>&1); then rmdir "$1"; echo "OPEN $1"; else echo "REFUSED $1: $out"; fi; }
"""


def _own_cgroup(controller: str) -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path
    raise AssertionError(f"this session is in no {controller} cgroup")


def _host_memory_limit() -> tuple[str, str]:
    """The limit file of the memory cgroup this test (and the nsrun it starts) runs in, and its value."""
    path = f"/sys/fs/cgroup/memory{_own_cgroup('memory')}/memory.limit_in_bytes"
    with open(path) as f:
        return path, f.read()


def _outcomes(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.startswith(("OPEN ", "REFUSED "))]
    assert lines, f"no probe ran: {stdout!r}"
    return lines


def _assert_all_refused(stdout: str) -> None:
    lines = _outcomes(stdout)
    opened = [line for line in lines if line.startswith("OPEN ")]
    assert not opened, f"writable from inside: {opened}"
    assert all(REFUSED.search(line) for line in lines), lines


@CGROUPS
@SELECTIONS
def test_the_container_has_its_own_cgroup_namespace(nsrun, plugins, own):
    out = nsrun(*plugins, "run", *own, "--rm", "busybox", "cat", "/proc/self/cgroup", check=True).stdout
    paths = [line.split(":", 2)[2] for line in out.splitlines()]
    assert paths and all(p == "/" for p in paths), out
    assert _own_cgroup("memory") != "/"  # the session's own cgroup is not the root: the namespace hides it


@CGROUPS
@SELECTIONS
def test_cgroup_files_are_readable_and_nothing_can_be_written_or_created(nsrun, plugins, own):
    path, before = _host_memory_limit()
    script = PROBES + r"""
cat /sys/fs/cgroup/memory/memory.limit_in_bytes >/dev/null && echo READ-V1
cat /sys/fs/cgroup/unified/cgroup.controllers >/dev/null && echo READ-V2
for f in memory/memory.limit_in_bytes memory/cgroup.procs memory/tasks pids/cgroup.procs \
         unified/cgroup.procs unified/cgroup.subtree_control; do probe /sys/fs/cgroup/$f; done
probe /sys/fs/cgroup/newfile
probedir /sys/fs/cgroup/memory/nsrun-probe
probedir /sys/fs/cgroup/unified/nsrun-probe
probedir /sys/fs/cgroup/newdir
grep ' /sys/fs/cgroup' /proc/self/mountinfo
"""
    out = nsrun(*plugins, "run", *own, "--rm", "busybox", "sh", "-c", script, check=True).stdout
    assert "READ-V1" in out and "READ-V2" in out, out
    _assert_all_refused(out)
    mounts = [line.split() for line in out.splitlines() if line.split()[4:5] and
              line.split()[4].startswith("/sys/fs/cgroup") and line[:1].isdigit()]
    assert len(mounts) >= 3 and all("ro" in m[5].split(",") for m in mounts), mounts  # every mount read-only
    with open(path) as f:
        assert f.read() == before


@SELECTIONS
def test_cgroupns_host_shows_the_host_paths_and_stays_read_only(nsrun, plugins):
    script = PROBES + "cat /proc/self/cgroup; probedir /sys/fs/cgroup/memory/nsrun-probe; " \
                      "probe /sys/fs/cgroup/memory/memory.limit_in_bytes"
    out = nsrun(*plugins, "run", "--rm", "--cgroupns", "host", "busybox", "sh", "-c", script, check=True).stdout
    mine = [line.split(":", 1)[1] for line in out.splitlines() if ":memory:" in line]
    assert mine and mine[0] == f"memory:{_own_cgroup('memory')}", out  # foreground, no limit: nsrun's own, host path
    _assert_all_refused(out)


@pytest.mark.parametrize("plugins", [(*DEFAULT, "run"), (*WITH_USER, "run"), WITH_USER_HOSTNET],
                         ids=["default", "user", "user-hostnet"])
@CGROUPS
def test_attack_the_callers_memory_limit_from_inside(nsrun, plugins, own):
    """Every way in to the namespace root's (= the caller's) memory.limit_in_bytes is refused."""
    path, before = _host_memory_limit()
    script = PROBES + r"""
mkdir -p /tmp/cg
attempt() { if out=$("$@" 2>&1); then echo "OPEN $*"; else echo "REFUSED $*: $out" | tr '\n' ' '; echo; fi; }
attempt mount -o remount,rw /sys/fs/cgroup/memory
attempt mount -o remount,rw,bind /sys/fs/cgroup/memory
attempt mount -o remount,rw /sys/fs/cgroup
attempt umount /sys/fs/cgroup/memory
attempt mount -t cgroup -o memory cgroup /tmp/cg
attempt mount -t cgroup2 cgroup2 /tmp/cg
attempt mount --bind /sys/fs/cgroup/memory /tmp/cg
attempt unshare -m sh -c 'mount -t cgroup -o memory c /tmp/cg && exec 3>>/tmp/cg/memory.limit_in_bytes'
attempt unshare -U -r -m sh -c 'mount -t cgroup -o memory c /tmp/cg && exec 3>>/tmp/cg/memory.limit_in_bytes'
attempt unshare -U -r -m sh -c 'mount -t cgroup2 c /tmp/cg && exec 3>>/tmp/cg/cgroup.procs'
attempt unshare -U -r -m sh -c 'mount -o remount,rw /sys/fs/cgroup/memory'
attempt unshare -U -r -m sh -c 'umount /sys/fs/cgroup/memory && exec 3>>/sys/fs/cgroup/memory/memory.limit_in_bytes'
attempt unshare -U -r -m sh -c 'exec 3>>/sys/fs/cgroup/memory/memory.limit_in_bytes'
probe /sys/fs/cgroup/memory/memory.limit_in_bytes
probe /sys/fs/cgroup/memory/../memory/memory.limit_in_bytes
probe /proc/self/root/sys/fs/cgroup/memory/memory.limit_in_bytes
for p in /proc/[0-9]*; do probe $p/root/sys/fs/cgroup/memory/memory.limit_in_bytes; done
for p in /proc/[0-9]*; do probe $p/cwd/sys/fs/cgroup/memory/memory.limit_in_bytes; done
for m in $(awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo); do
  for f in memory.limit_in_bytes memory.max cgroup.procs; do [ -e $m/$f ] && probe $m/$f; done
done
cd /sys/fs/cgroup/memory && probe ./memory.limit_in_bytes
"""
    out = nsrun(*plugins, *own, "--rm", "busybox", "sh", "-c", script, check=True).stdout
    lines = _outcomes(out)
    assert sum("memory.limit_in_bytes" in line for line in lines) >= 8, lines
    _assert_all_refused(out)
    with open(path) as f:
        assert f.read() == before


def test_bad_cgroupns_is_one_line_and_exit_125(nsrun, nsrun_root):
    result = nsrun("run", "--rm", "--cgroupns", "bogus", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == ["nsrun: invalid --cgroupns 'bogus': use private or host"]
    containers = os.path.join(nsrun_root, "containers")
    assert not os.path.isdir(containers) or not os.listdir(containers)  # nothing created
