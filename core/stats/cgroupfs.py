"""A container's own cgroup files, read into the parts of Docker's stats JSON they answer.

The contract with whichever plugin puts a container in a cgroup: it records
``info["Cgroup"] = {"version": 1 or 2, "paths": {controller: absolute cgroup directory}}`` (v1: one path per
controller — ``memory``, ``cpu``, ``cpuacct``, ``pids``, ``blkio``...; v2: one ``unified`` path). ``read``
answers what those files say; a controller without a path or a file that cannot be read leaves its part
out, and the sampler keeps the /proc figure for it. This is the function a plugin replaces by implementing
``container_stats`` (which runs after it and may overwrite any part).

Files, as Docker's own collector reads them:
- v1: memory.usage_in_bytes, memory.limit_in_bytes, memory.max_usage_in_bytes, memory.stat; cpuacct.usage,
  cpuacct.usage_percpu, cpuacct.stat; cpu.stat (throttling); pids.current, pids.max;
  blkio.throttle.io_service_bytes.
- v2: memory.current, memory.max, memory.stat; cpu.stat (usage_usec, user_usec, system_usec, nr_periods,
  nr_throttled, throttled_usec); pids.current, pids.max; io.stat (rbytes, wbytes).
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any, Callable

    Reader = Callable[[str], str]

__all__ = ["read", "Files", "read_file"]

_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")   # cpuacct.stat counts clock ticks
_SIZE = 1 << 16


def read_file(path: str) -> str:
    """A whole (small, generated) file: one open, read and close without Python's buffered file objects."""
    fd = os.open(path, _FLAGS)
    try:
        return _pread_all(fd)
    finally:
        os.close(fd)


def _pread_all(fd: int) -> str:
    data = os.pread(fd, _SIZE, 0)
    if len(data) == _SIZE:  # longer than a cgroup file usually is: read on
        parts = [data]
        while len(data) == _SIZE:
            data = os.pread(fd, _SIZE, sum(map(len, parts)))
            parts.append(data)
        data = b"".join(parts)
    return data.decode()


class Files:
    """A ``Reader`` for repeated samples: each file is opened once and read again from offset 0 with ``pread``
    (cgroup and /proc files are generated afresh by every read from the start), so the second sample of
    ``stats --no-stream`` and every later frame open nothing. At most ``keep`` descriptors stay open (by
    default half of what RLIMIT_NOFILE leaves); past that, files are opened and closed as ``read_file`` does.
    A kept descriptor that fails (its cgroup was removed) is dropped and the path opened again, so a cgroup
    made anew at the same path is read, and a missing one fails as before (OSError). ``close()`` releases
    them all. Only for cgroup files: a /proc/PID path may name another process by the next sample."""

    def __init__(self, keep: int | None = None) -> None:
        if keep is None:
            import resource
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            keep = 4096 if soft == resource.RLIM_INFINITY else max(0, (soft - 64) // 2)
        self.keep = keep
        self._fds: dict[str, int] = {}

    def __call__(self, path: str) -> str:
        fd = self._fds.get(path)
        if fd is not None:
            try:
                return _pread_all(fd)
            except OSError:  # its cgroup was removed (a container stopped, perhaps made again): open afresh
                del self._fds[path]
                os.close(fd)
        if len(self._fds) >= self.keep:
            return read_file(path)
        fd = os.open(path, _FLAGS)
        self._fds[path] = fd
        return _pread_all(fd)

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)


def _kv(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def _limit(text: str, mem_total: int) -> int:
    """A limit file's value; ``max`` (v2) or v1's near-2**63 "unlimited" become the host's memory, as Docker
    reports it."""
    raw = text.strip()
    value = mem_total if raw == "max" else int(raw)
    return min(value, mem_total) if mem_total else value


def read(cgroup: dict[str, Any], mem_total: int, reader: Reader = read_file) -> dict[str, Any]:
    """The stats parts (``cpu_stats`` without ``system_cpu_usage``, ``memory_stats``, ``pids_stats``,
    ``blkio_stats``) that the cgroup ``cgroup`` (``info["Cgroup"]``) answers."""
    paths = cgroup.get("paths") or {}
    if not isinstance(paths, dict):
        return {}
    version = cgroup.get("version")
    parts = _v2 if version == 2 else _v1
    out: dict[str, Any] = {}
    for name, part in parts.items():
        try:
            value = part(paths, mem_total, reader)
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue
        if value is not None:
            out[name] = value
    return out


def _at(paths: dict[str, str], controller: str, name: str) -> str:
    return f"{paths[controller]}/{name}"  # not os.path.join: ~1 µs each, 11 files a container a sample


# -- cgroup v1 ---------------------------------------------------------------------------------------------
def _v1_cpu(paths: dict[str, str], _total: int, read: Reader) -> dict[str, Any]:
    base = "cpuacct" if "cpuacct" in paths else "cpu"
    total = int(read(_at(paths, base, "cpuacct.usage")))
    try:
        percpu = [int(v) for v in read(_at(paths, base, "cpuacct.usage_percpu")).split()]
    except (OSError, ValueError):
        percpu = None
    usage: dict[str, Any] = {"total_usage": total, "usage_in_kernelmode": 0, "usage_in_usermode": 0}
    if percpu:
        usage["percpu_usage"] = percpu
    try:
        ticks = _kv(read(_at(paths, base, "cpuacct.stat")))
        usage["usage_in_usermode"], usage["usage_in_kernelmode"] = ticks["user"] * _TICK_NS, ticks["system"] * _TICK_NS
    except (OSError, KeyError):
        pass
    out: dict[str, Any] = {"cpu_usage": usage}
    try:
        st = _kv(read(_at(paths, "cpu" if "cpu" in paths else base, "cpu.stat")))
        out["throttling_data"] = {"periods": st.get("nr_periods", 0), "throttled_periods": st.get("nr_throttled", 0),
                                  "throttled_time": st.get("throttled_time", 0)}
    except (OSError, KeyError):
        pass
    return out


def _v1_memory(paths: dict[str, str], mem_total: int, read: Reader) -> dict[str, Any]:
    out: dict[str, Any] = {"usage": int(read(_at(paths, "memory", "memory.usage_in_bytes"))),
                           "limit": _limit(read(_at(paths, "memory", "memory.limit_in_bytes")), mem_total)}
    try:
        out["max_usage"] = int(read(_at(paths, "memory", "memory.max_usage_in_bytes")))
    except (OSError, ValueError):
        pass
    try:
        out["stats"] = _kv(read(_at(paths, "memory", "memory.stat")))
    except OSError:
        out["stats"] = {}
    return out


def _pids(paths: dict[str, str], key: str, read: Reader) -> dict[str, Any]:
    out = {"current": int(read(_at(paths, key, "pids.current")))}
    try:
        raw = read(_at(paths, key, "pids.max")).strip()
        if raw != "max":
            out["limit"] = int(raw)
    except (OSError, ValueError):
        pass
    return out


def _v1_blkio(paths: dict[str, str], _total: int, read: Reader) -> dict[str, Any]:
    entries = []
    for line in read(_at(paths, "blkio", "blkio.throttle.io_service_bytes")).splitlines():
        fields = line.split()
        if len(fields) != 3 or ":" not in fields[0]:
            continue                                        # the "Total N" line
        major, minor = fields[0].split(":")
        entries.append({"major": int(major), "minor": int(minor), "op": fields[1], "value": int(fields[2])})
    return {"io_service_bytes_recursive": entries}


_v1: dict[str, Callable[[dict[str, str], int, Reader], Any]] = {
    "cpu_stats": _v1_cpu, "memory_stats": _v1_memory,
    "pids_stats": lambda paths, _t, read: _pids(paths, "pids", read), "blkio_stats": _v1_blkio,
}


# -- cgroup v2 ---------------------------------------------------------------------------------------------
def _v2_cpu(paths: dict[str, str], _total: int, read: Reader) -> dict[str, Any]:
    st = _kv(read(_at(paths, "unified", "cpu.stat")))
    return {"cpu_usage": {"total_usage": st["usage_usec"] * 1000,
                          "usage_in_usermode": st.get("user_usec", 0) * 1000,
                          "usage_in_kernelmode": st.get("system_usec", 0) * 1000},
            "throttling_data": {"periods": st.get("nr_periods", 0), "throttled_periods": st.get("nr_throttled", 0),
                                "throttled_time": st.get("throttled_usec", 0) * 1000}}


def _v2_memory(paths: dict[str, str], mem_total: int, read: Reader) -> dict[str, Any]:
    out: dict[str, Any] = {"usage": int(read(_at(paths, "unified", "memory.current"))),
                           "limit": _limit(read(_at(paths, "unified", "memory.max")), mem_total)}
    try:
        out["stats"] = _kv(read(_at(paths, "unified", "memory.stat")))
    except OSError:
        out["stats"] = {}
    return out


def _v2_io(paths: dict[str, str], _total: int, read: Reader) -> dict[str, Any]:
    entries = []
    for line in read(_at(paths, "unified", "io.stat")).splitlines():
        dev, *pairs = line.split()
        major, _, minor = dev.partition(":")
        values = dict(p.split("=", 1) for p in pairs if "=" in p)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            if key in values:
                entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(values[key])})
    return {"io_service_bytes_recursive": entries}


_v2: dict[str, Callable[[dict[str, str], int, Reader], Any]] = {
    "cpu_stats": _v2_cpu, "memory_stats": _v2_memory,
    "pids_stats": lambda paths, _t, read: _pids(paths, "unified", read), "blkio_stats": _v2_io,
}
