"""[CLI, daemon] Operations on a running container's cgroup, by name or id: pause, unpause, update. Both the
``nsrun pause|unpause|update`` commands and the daemon's ``/containers/{id}/pause|unpause|update`` call these.
They find the cgroup from the container's record (``info["Cgroup"]``, written at start) and record what they
changed there (``info["State"]["Paused"]``, ``info["CgroupLimits"]``).
"""
from __future__ import annotations

from typing import Any

from nsrun import ConfigError, ConflictError, Paths, find_container, update_container_info

from .limits import DESTS, parse
from .tree import Cgroup

__all__ = ["pause", "update", "current_limits"]


def _running(paths: Paths, ref: str) -> tuple[dict[str, Any], Cgroup]:
    found = find_container(paths, ref)
    if found["status"] != "running":
        raise ConflictError(f"Container {found['id']} is not running")
    if not (found["info"].get("Cgroup") or {}).get("dirs"):
        raise ConflictError(f"container {found['name']} has no cgroup of its own: nsrun makes one for a "
                            f"detached container (-d) or one started with a limit (-m, --cpus, --pids-limit, ...) "
                            f"or --cgroup-parent")
    return found, Cgroup.from_info(found["info"])


def pause(paths: Paths, ref: str, frozen: bool) -> str:
    """Freeze (``frozen``) or thaw every process of the container; Docker's errors for the wrong state."""
    found, cg = _running(paths, ref)
    paused = bool((found["info"].get("State") or {}).get("Paused"))
    if frozen and paused:
        raise ConflictError(f"Container {found['id']} is already paused")
    if not frozen and not paused:
        raise ConflictError(f"Container {found['id']} is not paused")
    cg.freeze(frozen)
    state = {**(found["info"].get("State") or {}), "Paused": frozen}
    update_container_info(paths, found["id"], {"State": state})
    return found["name"]


def current_limits(options: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The limits in force: the last ``update``'s, else those the container was created with."""
    if isinstance(info.get("CgroupLimits"), dict):
        return dict(info["CgroupLimits"])
    return parse(options)


def update(paths: Paths, ref: str, changes: dict[str, Any]) -> str:
    """Change limits live: ``changes`` by option dest (``memory``, ``cpus``, ``pids_limit`` ...), checked
    as at ``run``; the new set is written to the cgroup and recorded."""
    from .host import host_cpus, write_files
    unknown = [k for k in changes if k not in DESTS]
    if unknown:
        raise ConfigError(f"cannot update {', '.join(unknown)}")
    found, cg = _running(paths, ref)
    given = {k: v for k, v in changes.items() if v not in (None, "")}
    new = parse(given, cpus=host_cpus())
    merged = current_limits(found["options"], found["info"])
    if "NanoCpus" in new:
        merged.pop("CpuQuota", None)
        merged.pop("CpuPeriod", None)
    if "CpuQuota" in new or "CpuPeriod" in new:
        merged.pop("NanoCpus", None)
    if "Memory" in new and "MemorySwap" not in new and merged.get("MemorySwap", 0) > 0 \
            and merged["MemorySwap"] < new["Memory"]:
        raise ConfigError("Memory limit should be smaller than already set memoryswap limit, update the "
                          "memoryswap at the same time")
    merged.update(new)
    for dest, value in given.items():     # an explicit 0/-1 clears it
        field = DESTS[dest]
        if field not in new and str(value).strip() in ("0", "-1"):
            merged.pop(field, None)
    wanted = {**merged}
    for field in ("PidsLimit",):
        if field not in wanted and any(DESTS[d] == field for d in given):
            wanted[field] = 0
    writes = write_files(cg, {k: v for k, v in wanted.items() if v})
    if any(DESTS[d] == "PidsLimit" for d in given) and "PidsLimit" not in merged:
        writes.append(("pids", "pids.max", "max"))
    cg.update([w for w in writes if DESTS.get(_dest_of(w)) is None or _touched(w, given)])
    update_container_info(paths, found["id"], {"CgroupLimits": merged})
    return found["name"]


_FILE_DEST = {"memory.limit_in_bytes": "memory", "memory.max": "memory", "memory.memsw.limit_in_bytes": "memory",
              "memory.swap.max": "memory", "memory.soft_limit_in_bytes": "memory_reservation",
              "memory.low": "memory_reservation", "memory.oom_control": "oom_kill_disable",
              "cpu.shares": "cpu_shares", "cpu.weight": "cpu_shares", "cpu.cfs_period_us": "cpus",
              "cpu.cfs_quota_us": "cpus", "cpu.max": "cpus", "cpuset.cpus": "cpuset_cpus",
              "cpuset.mems": "cpuset_mems", "pids.max": "pids_limit"}


def _dest_of(write: tuple[str, str, str]) -> str:
    return _FILE_DEST.get(write[1], "blkio_weight")


def _touched(write: tuple[str, str, str], given: dict[str, Any]) -> bool:
    """Only the files of what the update names are written (the others are as they were)."""
    dest = _dest_of(write)
    if dest == "cpus":
        return bool({"cpus", "cpu_period", "cpu_quota"} & set(given))
    if dest == "memory":
        return bool({"memory", "memory_swap"} & set(given))
    return dest in given
