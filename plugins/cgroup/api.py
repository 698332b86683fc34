"""[daemon] The plugin's Docker API: its ``HostConfig`` fields (create and view) and the endpoints
``POST /containers/{id}/update``, ``/pause``, ``/unpause``."""
from __future__ import annotations

from typing import Any

from nsrun import ApiResponse, ConfigError, Route

from .limits import DESTS, parse

__all__ = ["from_docker", "into_view", "routes"]

# HostConfig field -> (option dest, type)
_FIELDS = {"Memory": ("memory", int), "MemorySwap": ("memory_swap", int),
           "MemoryReservation": ("memory_reservation", int), "OomKillDisable": ("oom_kill_disable", bool),
           "NanoCpus": ("cpus", int), "CpuShares": ("cpu_shares", int), "CpuPeriod": ("cpu_period", int),
           "CpuQuota": ("cpu_quota", int), "CpusetCpus": ("cpuset_cpus", str), "CpusetMems": ("cpuset_mems", str),
           "PidsLimit": ("pids_limit", int), "BlkioWeight": ("blkio_weight", int)}


def _options(fields: Any, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, (dest, kind) in _FIELDS.items():
        value = fields.take(prefix + field, kind)
        if value is None:
            continue
        out[dest] = f"{value / 1e9:.9g}" if field == "NanoCpus" else value
    return out


def from_docker(fields: Any) -> dict[str, Any] | None:
    mode = fields.take("HostConfig.CgroupnsMode", str)
    if mode and mode not in ("private", "host"):
        raise ConfigError(f"invalid HostConfig.CgroupnsMode {mode!r}: use private or host")
    out = _options(fields, "HostConfig.")
    parse(out)  # Docker's messages now, as a 400
    parent = fields.take("HostConfig.CgroupParent", str)
    if parent:
        out["cgroup_parent"] = parent
    if mode:
        out["cgroupns"] = mode
    return out or None


def into_view(options: dict[str, Any], info: dict[str, Any], view: dict[str, Any]) -> None:
    from .ops import current_limits
    try:
        lim = current_limits(options, info)
    except ConfigError:
        lim = {}
    host = view["HostConfig"]
    host["CgroupnsMode"] = options.get("cgroupns") or "private"
    host["CgroupParent"] = options.get("cgroup_parent") or ""
    for field in DESTS.values():
        host[field] = lim.get(field, False if field == "OomKillDisable" else "" if field.startswith("Cpuset")
                              else 0)
    if lim.get("Memory") and not lim.get("MemorySwap"):
        host["MemorySwap"] = 2 * lim["Memory"]


def _update(req: Any) -> Any:
    from nsrun import FieldSource
    from .ops import update
    body = FieldSource(req.body or {}, "field")
    changes = _options(body, "")
    for ignored in ("RestartPolicy",):
        body.take(ignored, dict)
    body.refuse_leftover()
    if changes:
        update(req.paths, req.params["id"], changes)
    return {"Warnings": []}


def _pause(frozen: bool) -> Any:
    def handler(req: Any) -> Any:
        from .ops import pause
        pause(req.paths, req.params["id"], frozen)
        return ApiResponse(204)
    return handler


def routes() -> list[Route]:
    return [Route("POST", "/containers/{id}/update", _update), Route("POST", "/containers/{id}/pause", _pause(True)),
            Route("POST", "/containers/{id}/unpause", _pause(False))]
