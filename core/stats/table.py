"""Docker's stats JSON to the table ``docker stats`` prints, computed as the docker CLI computes it.

- CPU %: (Δ container CPU / Δ system CPU) × online CPUs × 100, the deltas between ``cpu_stats`` and
  ``precpu_stats`` of one frame (so it needs two samples; on an empty ``precpu_stats`` it is the average
  since boot, as Docker's first streamed line is).
- MEM USAGE: ``usage`` minus the page cache that can be dropped (``total_inactive_file`` on cgroup v1,
  ``inactive_file`` on v2), out of ``limit``, in binary units (``1.5MiB / 1.944GiB``).
- NET I/O and BLOCK I/O: received / sent over every interface, read / written over every device, in decimal
  units with three significant digits (``1.2kB / 648B``), as go-units' ``HumanSizeWithPrecision``.
- PIDS: ``pids_stats.current``. A container that is not running shows ``--``.
"""
from __future__ import annotations

TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HEADER", "row", "cpu_percent", "mem_used", "bytes_size", "human_size"]

HEADER = ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _scaled(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: ``%.4g`` of binary units (``1.944GiB``)."""
    value, unit = _scaled(float(size), 1024.0, _BINARY)
    return f"{value:.4g}{unit}"


def human_size(size: float, precision: int = 3) -> str:
    """go-units ``HumanSizeWithPrecision``: ``%.3g`` of decimal units (``1.2kB``)."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL)
    return f"{value:.{precision}g}{unit}"


def cpu_percent(stats: dict[str, Any]) -> float:
    cur, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = (cur.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cur.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cur.get("online_cpus") or len((cur.get("cpu_usage") or {}).get("percpu_usage") or ())
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * cpus * 100.0
    return 0.0


def mem_used(memory: dict[str, Any]) -> int:
    usage, extra = memory.get("usage", 0), memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in extra and extra[key] < usage:
            return usage - extra[key]
    return usage


def _io(entries: list[dict[str, Any]] | None) -> tuple[int, int]:
    read = write = 0
    for entry in entries or ():
        op = (entry.get("op") or " ")[0]
        if op in "rR":
            read += entry.get("value", 0)
        elif op in "wW":
            write += entry.get("value", 0)
    return read, write


def row(stats: dict[str, Any]) -> tuple[str, ...]:
    """One line of the table for one frame (``sample.pair``)."""
    cid, name = stats.get("id", "")[:12], (stats.get("name") or "").lstrip("/")
    memory, pids = stats.get("memory_stats") or {}, stats.get("pids_stats") or {}
    if "current" not in pids:
        return (cid, name, "--", "-- / --", "--", "--", "--", "--")
    used, limit = mem_used(memory), memory.get("limit", 0)
    mem_pct = used / limit * 100.0 if limit else 0.0
    nets = (stats.get("networks") or {}).values()
    rx, tx = sum(n.get("rx_bytes", 0) for n in nets), sum(n.get("tx_bytes", 0) for n in nets)
    read, write = _io((stats.get("blkio_stats") or {}).get("io_service_bytes_recursive"))
    return (cid, name, f"{cpu_percent(stats):.2f}%", f"{bytes_size(used)} / {bytes_size(limit)}", f"{mem_pct:.2f}%",
            f"{human_size(rx)} / {human_size(tx)}", f"{human_size(read)} / {human_size(write)}",
            str(pids["current"]))
