"""Section 6: memory. The daemon's resident set when idle, and the proportional set (PSS: shared pages split
among the processes sharing them) of what keeps each running container alive.

"What keeps a container" is found, not assumed: from each container's PID 1 (``State.Pid``) walk up the parent
chain; the ancestors that belong to that container alone (supervisor, a stage-1 relay, ...) are its keepers,
while shared ones (the daemon, a fork server, the shell) are not. Their PSS, summed, is the container's cost.
"""
from __future__ import annotations

import json
import os
import statistics
import time
import uuid

from _common import Bench, NotRun, Section, Target
from _env import run
from _measure import Figure

__all__ = ["section_memory", "rss_kb", "pss_kb"]


def _field(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_kb(pid: int | None) -> int | None:
    return _field(f"/proc/{pid}/status", "VmRSS") if pid else None


def pss_kb(pid: int) -> int | None:
    return _field(f"/proc/{pid}/smaps_rollup", "Pss")


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1 and len(chain) < 50:
        ppid = _field(f"/proc/{pid}/status", "PPid")
        if not ppid or ppid <= 1:
            break
        chain.append(ppid)
        pid = ppid
    return chain


def keepers(pids: list[int], shared: int | None = None) -> list[list[int]]:
    """For each container PID 1, the ancestor processes that no other container shares; never the caller,
    ``shared`` (the daemon) or their ancestors. Needs two or more containers to tell shared from own."""
    chains = [_ancestors(p) for p in pids]
    own = {os.getpid(), *_ancestors(os.getpid())}
    if shared:
        own |= {shared, *_ancestors(shared)}
    counts: dict[int, int] = {}
    for chain in chains:
        for p in chain:
            counts[p] = counts.get(p, 0) + 1
    return [[p for p in chain if counts[p] == 1 and p not in own] for chain in chains]


def _measure_keepers(sec: Section, label: str, pids: list[int], cmd: str, shared: int | None = None
                     ) -> float | None:
    groups = keepers(pids, shared)
    pss = [sum(pss_kb(p) or 0 for p in g) / 1024 for g in groups if g]
    rss = [sum(rss_kb(p) or 0 for p in g) / 1024 for g in groups if g]
    sizes = sorted({len(g) for g in groups})
    why = None if pss else "no per-container process found above the containers' PID 1"
    sec.figures.append(Figure(f"{label}: PSS per running container ({len(pss)} running)", "subject", "MB", pss,
                              not_run=why, cmd=cmd,
                              note=f"{'/'.join(map(str, sizes))} process(es) per container" if pss else ""))
    sec.figures.append(Figure(f"{label}: RSS per running container (for reference)", "reference", "MB", rss,
                              not_run=why))
    return statistics.median(pss) if pss else None


def _embedded(b: Bench, sec: Section, count: int) -> float | None:
    names = [f"nsrbench-mem-{uuid.uuid4().hex[:6]}-{i}" for i in range(count)]
    started, pids = [], []
    try:
        for name in names:
            res = run(b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "-d", "--name", name, "busybox", "sleep", "120"))
            if res.returncode != 0:
                sec.notes.append(f"`nsrun run -d` failed: {(res.stderr or res.stdout).strip()[-200:]}")
                break
            started.append(name)
        time.sleep(0.3)   # let the keepers settle after the start
        if started:
            for info in json.loads(run(b.nsrun.cmd("inspect", *started)).stdout or "[]"):
                if info.get("State", {}).get("Pid"):
                    pids.append(info["State"]["Pid"])
        return _measure_keepers(sec, "embedded run -d", pids, "nsrun run -d busybox sleep 120")
    finally:
        if started:
            run(b.nsrun.cmd("rm", "-f", *started), timeout=120)


def _via_daemon(b: Bench, sec: Section, count: int) -> float | None:
    from _daemon import API, nsrun_daemon
    try:
        d = nsrun_daemon(b)
    except NotRun as exc:
        sec.figures.append(Figure("via nsrun daemon: PSS per running container", "subject", "MB", not_run=str(exc)))
        return None
    ids, pids = [], []
    try:
        for _ in range(count):
            status, out = d.request("POST", f"{API}/containers/create", {"Image": "busybox", "Cmd": ["sleep", "120"]})
            if status != 201:
                sec.notes.append(f"daemon create: HTTP {status}: {out}")
                break
            ids.append(out["Id"])
            status, out = d.request("POST", f"{API}/containers/{ids[-1]}/start")
            if status not in (204, 304):
                sec.notes.append(f"daemon start: HTTP {status}: {out}")
                break
        time.sleep(0.3)
        for cid in ids:
            status, info = d.request("GET", f"{API}/containers/{cid}/json")
            if status == 200 and isinstance(info, dict) and info.get("State", {}).get("Pid"):
                pids.append(info["State"]["Pid"])
        return _measure_keepers(sec, "via nsrun daemon", pids, "POST /containers/create + start: sleep 120",
                                shared=d.pid())
    finally:
        for cid in ids:
            try:
                d.request("DELETE", f"{API}/containers/{cid}?force=1")
            except OSError:
                pass


def _on_conmon(b: Bench, sec: Section, count: int) -> float | None:
    """podman's container monitor (conmon, C) holding containers nsrun-oci made: the keeper issue 13 weighs
    against nsrun's own Python supervisor for ``run -d``. Its keepers are found the same way (conmon)."""
    import _podman
    label = "conmon (podman run -d --runtime nsrun-oci)"
    if not _podman.available():
        sec.figures.append(Figure(f"{label}: PSS per running container", "anchor", "MB",
                                  not_run="podman/conmon are not installed"))
        return None
    pm = _podman.Podman(os.path.join(os.path.dirname(b.nsrun.cmd()[0]), "nsrun-oci"), b.rootfs)
    try:
        pids = []
        for _ in range(count):
            res = pm.run("nsrun", "run", "-d", "--network", "none", pm.image, "sleep", "120")
            if res.returncode != 0:
                sec.notes.append(f"podman run -d (nsrun-oci) failed: {(res.stderr or res.stdout).strip()[-200:]}")
                break
            out = pm.run("nsrun", "inspect", "-f", "{{.State.Pid}}", res.stdout.strip()).stdout.strip()
            if out.isdigit() and int(out):
                pids.append(int(out))
        time.sleep(0.3)
        groups = keepers(pids)
        pss = [sum(pss_kb(p) or 0 for p in g) / 1024 for g in groups if g]
        sec.figures.append(Figure(f"{label}: PSS per running container ({len(pss)} running)", "anchor", "MB", pss,
                                  not_run=None if pss else "no per-container process found",
                                  cmd="podman run -d --runtime nsrun-oci busybox sleep 120"))
        return statistics.median(pss) if pss else None
    finally:
        pm.close()


def section_memory(b: Bench) -> Section:
    sec = Section("memory", "6. memory (MB)", ratios=False)
    count = 2 if b.quick else 5
    meds = [m for m in (_embedded(b, sec, count), _via_daemon(b, sec, count)) if m is not None]
    idle = b.shared.get("daemon_rss_idle_kb")
    after = b.shared.get("daemon_rss_after_kb")
    reason = b.shared.get("daemon_error") or ("the daemon section did not run" if idle is None else None)
    sec.figures.append(Figure("nsrun daemon RSS, idle after start", "subject", "MB",
                              [idle / 1024] if idle else [], not_run=reason))
    sec.figures.append(Figure("nsrun daemon RSS, idle after the daemon section", "subject", "MB",
                              [after / 1024] if after else [], not_run=reason))
    docker = b.shared.get("dockerd")
    drss = docker.rss_kb() if docker else None
    sec.figures.append(Figure("dockerd RSS, idle (for comparison)", "anchor", "MB", [drss / 1024] if drss else [],
                              not_run=None if drss else "dockerd not running (make bench FULL=1)"))
    conmon = _on_conmon(b, sec, count)
    best = min(meds) if meds else None
    sec.targets.append(Target("<= 5 MB PSS per running container", None if best is None else best <= 5,
                              "not judged: no container measured" if best is None else
                              " / ".join(f"{f.name.split(':')[0]} {statistics.median(f.samples):.1f} MB"
                                         for f in sec.figures if f.role == "subject" and "PSS" in f.name
                                         and f.samples)))
    if conmon is not None and meds:
        sec.notes.append(f"conmon keeps an nsrun-oci container for {conmon:.2f} MB PSS, nsrun's own supervisor for "
                         f"{min(meds):.1f} MB: the <= 2 MB keeper issue 13 weighs is a C monitor (see docs/oci.md)")
    return sec
