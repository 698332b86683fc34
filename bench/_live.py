"""Section 9: live operations. ``nsrun stats --no-stream`` of N running containers (the scale count: 100, 10 with
--quick), against the issue's target: the table renders in under 100 ms after the sample interval.

``--no-stream`` takes two samples one interval (1 s, Docker's collector interval) apart, every container in
one pass over /proc each time — as the first line of ``docker stats --no-stream`` also needs two samples
(dockerd primes its collector, then answers). The figure is the command's wall time minus that interval:
the CLI's own start, listing the records, both samples and the table."""
from __future__ import annotations

import statistics
import uuid

from _common import Bench, Section, Target
from _env import run
from _measure import CmdFailed, Figure, spawn_timed

__all__ = ["section_stats"]

INTERVAL_MS = 1000.0
TARGET_MS = 100.0


def section_stats(b: Bench) -> Section:
    n = b.scale
    sec = Section("stats", f"9. live operations: `nsrun stats --no-stream` of {n} running containers (ms)",
                  ratios=False)
    tag, names = uuid.uuid4().hex[:4], []
    fig = Figure(f"stats --no-stream of {n} containers, minus the {INTERVAL_MS:.0f} ms sample interval", "subject",
                 cmd=" ".join(b.nsrun.cmd("stats", "--no-stream")))
    top = Figure("top of one of them", "subject")
    floor = Figure("`nsrun version` in the same loop (the CLI's own start: the floor of both)", "subject")
    try:
        for i in range(n):
            name = f"nsrst-{tag}-{i}"
            res = run(b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "-d", "--name", name, "busybox", "sleep", "600"),
                      timeout=60)
            if res.returncode != 0:
                raise CmdFailed(res.stderr.strip()[-200:])
            names.append(name)
        for _ in range(3 if b.quick else max(3, b.runs // 2)):
            try:
                fig.samples.append(spawn_timed(b.nsrun.cmd("stats", "--no-stream"), timeout=60) - INTERVAL_MS)
                top.samples.append(spawn_timed(b.nsrun.cmd("top", names[-1]), timeout=60))
                floor.samples.append(spawn_timed(b.nsrun.cmd("version"), timeout=60))
            except CmdFailed as exc:
                fig.failures += 1
                fig.last_error = str(exc)
    except CmdFailed as exc:   # a start that failed: say so, measure nothing
        fig.not_run = f"could not start {n} containers: {exc}"
    finally:
        if names:
            run(b.nsrun.cmd("rm", "-f", *names), timeout=300)
    sec.figures += [fig, top, floor]
    if fig.samples:
        med = statistics.median(fig.samples)
        base = f"; the CLI's start alone {statistics.median(floor.samples):.1f} ms" if floor.samples else ""
        sec.targets.append(Target(f"stats for {n} running containers renders in under {TARGET_MS:.0f} ms",
                                  med < TARGET_MS, f"{med:.1f} ms (median wall time minus the interval{base})"))
    return sec
