"""The host's /proc, as ``stats`` and ``top`` need it: which processes are a container's, and what they use.

A container's processes are every host process in its init's pid namespace (``/proc/PID/ns/pid``), found in
one pass over /proc for all containers at once — with or without cgroups. A container that shares the
host's pid namespace (no pid plugin) has its init's descendants instead (the ``ppid`` tree).

``proc`` is the /proc to read (a fake tree in unit tests). Every reader tolerates a process that exits
meanwhile: it is simply not counted.
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Callable, Iterable

__all__ = ["CLK_TCK", "PAGE_SIZE", "container_pids", "Usage", "usage", "net_dev", "system_cpu_ns",
           "online_cpus", "mem_total", "ns_inode"]

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def ns_inode(pid: int | str, kind: str, proc: str = "/proc") -> str | None:
    """``pid:[4026531836]`` for ``/proc/PID/ns/KIND``; None when the process is gone."""
    try:
        return os.readlink(f"{proc}/{pid}/ns/{kind}")
    except OSError:
        return None


def _all_pids(proc: str) -> list[int]:
    return [int(name) for name in os.listdir(proc) if name.isdigit()]


def _stat_fields(pid: int, proc: str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (``state`` is [0], ``ppid`` [1], ``utime`` [11])."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2:].split()


def container_pids(inits: dict[str, int], proc: str = "/proc") -> dict[str, list[int]]:
    """For each key's init pid, the pids of every live process of that container (init first, then in pid
    order). A key whose init is gone gets ``[]``."""
    host_ns = ns_inode("self", "pid", proc)
    out: dict[str, list[int]] = {key: [] for key in inits}
    by_ns: dict[str, list[str]] = {}
    in_host: list[str] = []
    for key, pid in inits.items():
        ns = ns_inode(pid, "pid", proc)
        if ns is None:
            continue
        if ns == host_ns:
            in_host.append(key)
        else:
            by_ns.setdefault(ns, []).append(key)
    pids = _all_pids(proc) if by_ns or in_host else []
    if by_ns:
        for pid in pids:
            ns = ns_inode(pid, "pid", proc)
            for key in by_ns.get(ns, ()) if ns else ():
                out[key].append(pid)
    if in_host:
        children: dict[int, list[int]] = {}
        for pid in pids:
            fields = _stat_fields(pid, proc)
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(pid)
        for key in in_host:
            found, todo = [], [inits[key]]
            while todo:
                pid = todo.pop()
                found.append(pid)
                todo.extend(children.get(pid, ()))
            out[key] = found
    for key, found in out.items():
        init = inits[key]
        out[key] = sorted(found, key=lambda p: (p != init, p))
    return out


class Usage:
    """What a set of processes uses, summed: CPU time in ns (user and system, reaped children included),
    resident memory in bytes, threads, bytes read from and written to storage."""

    __slots__ = ("user_ns", "system_ns", "rss", "threads", "read_bytes", "write_bytes")

    def __init__(self) -> None:
        self.user_ns = self.system_ns = self.rss = self.threads = self.read_bytes = self.write_bytes = 0

    @property
    def total_ns(self) -> int:
        return self.user_ns + self.system_ns


def usage(pids: Iterable[int], proc: str = "/proc") -> Usage:
    """The summed usage of ``pids`` (from /proc/PID/stat and /proc/PID/io)."""
    total = Usage()
    tick_ns = 1_000_000_000 // CLK_TCK
    for pid in pids:
        fields = _stat_fields(pid, proc)
        if fields is None or fields[0] in (b"Z", b"X"):
            continue
        total.user_ns += (int(fields[11]) + int(fields[13])) * tick_ns
        total.system_ns += (int(fields[12]) + int(fields[14])) * tick_ns
        total.threads += int(fields[17])
        total.rss += int(fields[21]) * PAGE_SIZE
        try:
            with open(f"{proc}/{pid}/io", "rb") as f:
                for line in f:
                    if line.startswith(b"read_bytes:"):
                        total.read_bytes += int(line.split()[1])
                    elif line.startswith(b"write_bytes:"):
                        total.write_bytes += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


_NET_KEYS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", None, None, None, None,
             "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def net_dev(pid: int, proc: str = "/proc", *, read: Callable[[str], str] | None = None,
            host_ns: str | None = None) -> dict[str, dict[str, int]] | None:
    """The counters of each interface but ``lo`` in ``pid``'s network namespace, as Docker's ``networks``
    (``{"eth0": {"rx_bytes": ..., ...}}``); None when the process is gone or shares the host's namespace
    (Docker reports no networks for ``--network host``). ``read`` reads the file (a ``cgroupfs.Files`` keeps
    it open for the next sample); ``host_ns``: this process's ``ns_inode("self", "net")``, when known."""
    ns = ns_inode(pid, "net", proc)
    if ns is None or ns == (host_ns or ns_inode("self", "net", proc)):
        return None
    try:
        if read is None:
            with open(f"{proc}/{pid}/net/dev") as f:
                text = f.read()
        else:
            text = read(f"{proc}/{pid}/net/dev")
    except OSError:
        return None
    lines = text.splitlines()[2:]
    out = {}
    for line in lines:
        name, _, rest = line.partition(":")
        name = name.strip()
        if name == "lo" or not rest:
            continue
        values = rest.split()
        out[name] = {key: int(v) for key, v in zip(_NET_KEYS, values) if key}
    return out


def system_cpu_ns(proc: str = "/proc") -> int:
    """The host's CPU time since boot in ns, as Docker computes ``system_cpu_usage`` (the first seven fields
    of the ``cpu`` line of /proc/stat: user, nice, system, idle, iowait, irq, softirq)."""
    with open(f"{proc}/stat", "rb") as f:
        first = f.readline().split()
    return sum(int(v) for v in first[1:8]) * 1_000_000_000 // CLK_TCK


def online_cpus() -> int:
    return os.sysconf("SC_NPROCESSORS_ONLN")


def mem_total(proc: str = "/proc") -> int:
    """The host's memory in bytes (the limit Docker reports for a container without one)."""
    with open(f"{proc}/meminfo", "rb") as f:
        for line in f:
            if line.startswith(b"MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0
