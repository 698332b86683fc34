"""One sample of every given container, in Docker's stats JSON, and the two-sample frames ``stats`` shows.

A sample is Docker's ``GET /containers/{id}/stats`` object without its ``precpu_stats``/``preread``:
``read``, ``name``, ``id``, ``cpu_stats`` (``cpu_usage`` — ``total_usage``, ``usage_in_usermode``,
``usage_in_kernelmode``, ``percpu_usage`` when a cgroup gives it —, ``system_cpu_usage``, ``online_cpus``,
``throttling_data``), ``memory_stats`` (``usage``, ``limit``, ``stats``), ``pids_stats``, ``networks``,
``blkio_stats``. Figures come from the container's cgroup files where it has one (``cgroupfs``), from /proc
(``procfs``) for what its cgroup does not answer, then from the ``container_stats`` hook of its own plugins.
Every container of a call is sampled at one instant (the same ``system_cpu_usage`` for all), with at most one
pass over /proc, for the containers that need their process list (no full cgroup, or a hook to hand it to).

``pair(current, previous)`` is what the API sends: the sample with the previous one's CPU figures as
``precpu_stats`` (empty on the first frame, as Docker's). CPU % is computed from that pair (``table``).
"""
from __future__ import annotations

import time
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any, Iterable

from . import cgroupfs, procfs

__all__ = ["sample", "pair", "empty_cpu", "timestamp", "ZERO_TIME", "INTERVAL"]

INTERVAL = 1.0            # seconds between two samples: Docker's collector interval
ZERO_TIME = "0001-01-01T00:00:00Z"
_hooks: dict[tuple[str, ...], Any] = {}


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds, UTC, as Go's ``time.Time`` marshals (``2026-12-01T12:00:00.123456789Z``)."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def empty_cpu() -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def _container_hook(plugins: Iterable[str]) -> Any:
    """The container's plugins that implement ``container_stats`` (None when none does; the usual case, and
    then nothing is imported). Made once per plugin set."""
    key = tuple(plugins)
    if key not in _hooks:
        from .._discovery import discover
        records = discover()
        wanted = [n for n in key if n in records and "container_stats" in records[n].hooks]
        if wanted:
            from .._plugins import load_plugins
            _hooks[key] = load_plugins(wanted)
        else:
            _hooks[key] = None
    return _hooks[key]


def _one(rec: Any, pids: list[int], parts: dict[str, Any], now: str, system: int, cpus: int, mem_total: int,
         proc: str, read: cgroupfs.Reader, host_net: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"read": now, "preread": ZERO_TIME, "name": "/" + rec.name, "id": rec.id,
                           "num_procs": 0, "storage_stats": {}}
    if not pids:
        out.update(cpu_stats=empty_cpu(), memory_stats={}, pids_stats={}, blkio_stats=_blkio(None))
        return out
    info = rec.state.get("info") or {}
    if not _PARTS <= parts.keys():  # /proc for what its cgroup does not answer (or all: no cgroup of its own)
        use = procfs.usage(pids, proc)
        out["cpu_stats"] = {"cpu_usage": {"total_usage": use.total_ns, "usage_in_kernelmode": use.system_ns,
                                          "usage_in_usermode": use.user_ns},
                            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        out["memory_stats"] = {"usage": use.rss, "limit": mem_total, "stats": {}}
        out["pids_stats"] = {"current": use.threads}
        out["blkio_stats"] = _blkio([{"major": 0, "minor": 0, "op": "read", "value": use.read_bytes},
                                     {"major": 0, "minor": 0, "op": "write", "value": use.write_bytes}])
    for part, value in parts.items():
        out[part] = _blkio(value["io_service_bytes_recursive"]) if part == "blkio_stats" else value
    out["cpu_stats"]["system_cpu_usage"] = system
    out["cpu_stats"]["online_cpus"] = cpus
    networks = procfs.net_dev(pids[0], proc, read=cgroupfs.read_file, host_ns=host_net)  # never kept: pids recycle
    if networks is not None:
        out["networks"] = networks
    hook = _container_hook(rec.spec.plugins)
    if hook is not None:
        hook.call("container_stats", options=rec.spec.options, info=info, pids=pids, stats=out)
    return out


_PARTS = {"cpu_stats", "memory_stats", "pids_stats", "blkio_stats"}  # what a cgroup can answer


def _blkio(entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {"io_service_bytes_recursive": entries, "io_serviced_recursive": None, "io_queue_recursive": None,
            "io_service_time_recursive": None, "io_wait_time_recursive": None, "io_merged_recursive": None,
            "io_time_recursive": None, "sectors_recursive": None}


def sample(records: list[Any], proc: str = "/proc", files: cgroupfs.Reader | None = None) -> dict[str, dict[str, Any]]:
    """A sample of each record (by id), taken together; a container that is not running gets zeros.
    ``files`` reads the cgroup files: a ``cgroupfs.Files`` kept across the samples of one ``stats`` run opens
    each file once (default: each is opened and closed)."""
    inits = {r.id: pid for r in records if (pid := r.pid)}   # ``pid`` checks the owner: once per record
    system, cpus, mem_total = procfs.system_cpu_ns(proc), procfs.online_cpus(), procfs.mem_total(proc)
    now = timestamp()
    read = files or cgroupfs.read_file
    parts: dict[str, dict[str, Any]] = {}
    walk: dict[str, int] = {}
    for rec in records:
        if rec.id not in inits:
            continue
        cgroup = (rec.state.get("info") or {}).get("Cgroup")
        parts[rec.id] = cgroupfs.read(cgroup, mem_total, read) if isinstance(cgroup, dict) else {}
        if not _PARTS <= parts[rec.id].keys() or _container_hook(rec.spec.plugins) is not None:
            walk[rec.id] = inits[rec.id]
    # The pass over every process of the host (its pid namespace) only for the containers that need their
    # processes: no cgroup answering all parts, or a container_stats plugin (it is handed the pids). Where the
    # cgroup answers, the init alone (its network namespace) is enough.
    members = procfs.container_pids(walk, proc) if walk else {}
    host_net = procfs.ns_inode("self", "net", proc)
    return {rec.id: _one(rec, members.get(rec.id, []) if rec.id in walk else [inits[rec.id]] if rec.id in inits
                         else [], parts.get(rec.id, {}), now, system, cpus, mem_total, proc, read, host_net)
            for rec in records}


def pair(current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``current`` as the API sends it: with ``previous``'s CPU figures and time as ``precpu_stats`` and
    ``preread`` (empty ones without a previous sample)."""
    out = dict(current)
    out["precpu_stats"] = previous["cpu_stats"] if previous else empty_cpu()
    out["preread"] = previous["read"] if previous else ZERO_TIME
    return out
