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

__all__ = ["checked_limits", "host_cpus", "write_files", "prime_migration", "collect"]


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


def _prime(path: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def prime_migration(hiers: list[Hierarchy]) -> None:
    """Start the kernel's wait for the first cgroup migration after an idle gap now, in a thread: writing
    our own pid into the cgroup we are already in moves nothing, but takes the same lock (its RCU grace
    period, 10-20 ms here), so the child's real migration in ``post_start`` finds it already passed."""
    if not hiers:
        return
    import _thread
    _thread.start_new_thread(_prime, (f"{hiers[0].own}/cgroup.procs",))


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
