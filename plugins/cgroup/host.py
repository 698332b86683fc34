"""[parent] What this host's cgroups offer, checked before anything is made; the no-op migration that starts
the kernel's RCU wait early; and ``gc``'s sweep of dead containers' cgroups.
"""
from __future__ import annotations

import os
import re
from typing import Any

from nsrun import ConfigError

from .limits import parse, writes
from .tree import Cgroup, Hierarchy, cgroup_name, own_cgroups

__all__ = ["checked_limits", "host_cpus", "write_files", "Primer", "prime_migration", "collect"]


def host_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def _host_mems() -> set[int]:
    from .limits import parse_cpuset
    try:
        with open("/sys/devices/system/node/online") as f:
            return parse_cpuset(f.read().strip(), "--cpuset-mems")
    except OSError:
        return {0}


def checked_limits(options: dict[str, Any]) -> dict[str, Any]:
    """The options' limits (Docker's rules), checked against this host: CPUs, memory nodes, and a blkio
    weight only where the kernel has a weight file. Creates nothing."""
    lim = parse(options, cpus=host_cpus(), mems=_host_mems() if options.get("cpuset_mems") else None)
    parent = options.get("cgroup_parent") or ""
    if parent:
        from .tree import _check_parent
        _check_parent(parent)
    if lim.get("BlkioWeight"):
        hiers = own_cgroups()
        probe = Cgroup.plan(hiers, "", "")
        if not _weight_file(probe):
            raise ConfigError("--blkio-weight: this kernel has no block I/O weight (no blkio.weight, "
                              "blkio.bfq.weight, io.weight or io.bfq.weight: the BFQ scheduler is not in use)")
    return lim


def _weight_file(cg: Cgroup) -> str | None:
    d = cg.dir_of("blkio" if cg.version == 1 else "io")
    if d is None:
        return None
    names = ("blkio.weight", "blkio.bfq.weight") if cg.version == 1 else ("io.weight", "io.bfq.weight")
    parent = d.rstrip("/")
    return next((n for n in names if os.path.exists(f"{parent}/{n}") or os.path.exists(
        f"{os.path.dirname(parent)}/{n}")), None)


def write_files(cg: Cgroup, lim: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The writes for ``lim`` in the files this kernel has (``memory.memsw.*`` only with swap accounting)."""
    if not lim:
        return []
    mem_dir = cg.dir_of("memory")
    memsw = bool(mem_dir) and cg.version == 1 and cg.fs.exists(f"{mem_dir}/memory.memsw.limit_in_bytes")
    return writes(lim, cg.version, blkio_file=_weight_file(cg) or "blkio.weight", memsw=memsw)


class Primer:
    """Keeps the kernel's cgroup migration lock warm from ``pre_clone`` until the child is placed.

    The first migration after an idle gap waits for an RCU grace period (10-20 ms here: rcu_sync of the
    threadgroup lock), and the lock goes idle again one grace period after its last writer. A forked helper
    process writes its own pid into the cgroup it is already in (it moves nothing, takes the same lock) every
    2 ms until ``stop()``, so ``post_start``'s real migration finds the lock warm. A process, not a thread:
    nsrun's parent stays single-threaded up to the container's fork. Bounded: the helper gives up after 2 s."""

    def __init__(self, path: str) -> None:
        self.path, self.pid = path, 0

    def start(self) -> "Primer":
        import time
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return self
        pid = os.fork()
        if pid == 0:  # the helper: only os calls from here on, then _exit
            try:
                data, end = str(os.getpid()).encode(), time.monotonic() + 2.0
                while time.monotonic() < end:
                    os.write(fd, data)
                    time.sleep(0.002)
            finally:
                os._exit(0)
        os.close(fd)
        self.pid = pid
        return self

    def stop(self) -> None:
        if self.pid:
            import signal
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0


def prime_migration(hiers: list[Hierarchy]) -> Primer | None:
    """Start a ``Primer`` on the caller's own cgroup of the first hierarchy."""
    return Primer(f"{hiers[0].own}/cgroup.procs").start() if hiers else None


def collect(paths: Any, live: frozenset) -> list[str]:
    """Remove the cgroups of this root's containers (``nsr<tag>-<id>``) that are not in ``live``, in every
    hierarchy, anywhere beneath the caller's own cgroup (``--cgroup-parent`` levels included)."""
    mine = re.compile(rf"^{re.escape(cgroup_name(paths.tag, ''))}([0-9a-f]{{64}})$")
    found: dict[str, dict[str, str]] = {}
    hiers = own_cgroups()
    for h in hiers:
        for dirpath, dirs, _ in os.walk(h.own):
            if dirpath.count("/") - h.own.count("/") >= 6:
                dirs[:] = []
                continue
            for d in list(dirs):
                m = mine.match(d)
                if m:
                    dirs.remove(d)
                    if m.group(1) not in live:
                        found.setdefault(m.group(1), {})[h.controllers] = os.path.join(dirpath, d)
    lines = []
    version = 2 if hiers and all(h.version == 2 for h in hiers) else 1
    for cid, dirs in found.items():
        Cgroup(dirs, version).remove()
        lines.append(f"removed the cgroups of container {cid[:12]}")
    return lines
