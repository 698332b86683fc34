"""Section 6: memory. The daemon's resident set when idle, and the proportional set (PSS: shared pages split
among the processes sharing them) of the supervisor that keeps each running container."""
from __future__ import annotations

import os
import statistics
import time
import uuid

from _common import Bench, Section, Target
from _env import run
from _measure import Figure

__all__ = ["section_memory", "rss_kb", "pss_kb", "supervisors"]


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


def supervisors(root: str) -> dict[int, str]:
    """Pids of nsrun supervisor processes (``python -m nsrun._supervisor ROOT RUN ID FD``) of this root, with
    the container id each keeps. A container with a pid namespace has two: the supervisor and its forked
    stage-1 child (which waits for PID 1 and relays its status): both are that container's cost."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"nsrun._supervisor" in cmd and root.encode() in cmd:
            i = cmd.index(b"nsrun._supervisor")
            found[int(pid)] = cmd[i + 3].decode() if len(cmd) > i + 3 else "?"
    return found


def section_memory(b: Bench) -> Section:
    sec = Section("memory", "6. memory (MB)", ratios=False)
    count = 2 if b.quick else 5
    names = [f"nsrbench-mem-{uuid.uuid4().hex[:6]}-{i}" for i in range(count)]
    started = []
    try:
        before = set(supervisors(b.nsrun.root))
        per, procs, pss, rss = {}, [], [], []
        for name in names:
            res = run(b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "-d", "--name", name, "busybox", "sleep", "120"))
            if res.returncode != 0:
                sec.notes.append(f"`nsrun run -d` failed: {(res.stderr or res.stdout).strip()[-200:]}")
                break
            started.append(name)
        time.sleep(0.3)   # let the supervisors settle after the start
        per: dict[str, list[int]] = {}
        for pid, cid in supervisors(b.nsrun.root).items():
            if pid not in before:
                per.setdefault(cid, []).append(pid)
        pss = [sum(pss_kb(p) or 0 for p in pids) / 1024 for pids in per.values()]
        rss = [sum(rss_kb(p) or 0 for p in pids) / 1024 for pids in per.values()]
        procs = sorted({len(pids) for pids in per.values()})
    finally:
        if started:
            run(b.nsrun.cmd("rm", "-f", *started), timeout=120)
    fig = Figure(f"supervisor PSS per running container ({len(pss)} running, run -d)", "subject", "MB",
                 pss, cmd="nsrun run -d busybox sleep 120",
                 note=f"{'/'.join(map(str, procs))} python processes per container: supervisor + stage-1" if pss else "")
    if not pss:
        fig.not_run = "no supervisor process found" + (f": {sec.notes[-1]}" if sec.notes else "")
    sec.figures.append(fig)
    sec.figures.append(Figure("supervisor RSS per running container (sum, for reference)", "reference", "MB", rss,
                              not_run=None if rss else fig.not_run))
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
    med = statistics.median(pss) if pss else None
    sec.targets.append(Target("<= 5 MB PSS per running container (supervisor)", None if med is None else med <= 5,
                              f"not judged: {fig.not_run}" if med is None else f"{med:.1f} MB"))
    return sec
