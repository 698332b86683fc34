"""Section 4: scaling. N containers on one bridge with 10 published ports each, per firewall backend: the 1st
vs the Nth start, the total teardown, and the cost of one more published port with 0 vs N*10 already published."""
from __future__ import annotations

import os
import re
import statistics
import time
import uuid

from _common import Bench, NotRun, Section, Target
from _env import free_ports, run
from _measure import CmdFailed, Figure, spawn_timed
from _start import bench_network

__all__ = ["section_scale"]

BACKENDS = ("nft", "iptables")
PORTS_EACH = 10


def _publish_ms(b: Bench, args: list[str], net: str, ports: list[int]) -> float:
    """The firewall backend's own time for one start (the ``post_start:net`` phase of NSRUN_TRACE: veth,
    addresses and publishing) of a ``run --rm`` publishing ``ports``."""
    argv = b.nsrun.cmd(*args, "run", "--rm", "--network", net, *[a for p in ports for a in ("-p", f"{p}:80")],
                       "busybox", "true")
    res = run(argv, timeout=60, env={**os.environ, "NSRUN_TRACE": "1"})
    if res.returncode != 0:
        raise CmdFailed(f"{' '.join(argv)}: {res.stderr.strip()[-200:]}")
    m = re.search(r"post_start:net\s+([0-9.]+)", res.stderr)
    if m is None:
        raise CmdFailed("no post_start:net phase in NSRUN_TRACE output")
    return float(m.group(1))


def _probe(b: Bench, args: list[str], net: str, port: int, tag: str, reps: int) -> tuple[float, float]:
    """Median ``post_start:net`` time with 1 published port and with none (paired, ``reps`` each): what one
    more published port costs, without the noise of a whole start."""
    with_port, without = [], []
    for _ in range(reps):
        with_port.append(_publish_ms(b, args, net, [port]))
        without.append(_publish_ms(b, args, net, []))
    return statistics.median(with_port), statistics.median(without)


def _one_backend(b: Bench, sec: Section, backend: str, net: str) -> None:
    n = b.scale
    args = b.nsrun.plugin_args("net", backend=backend)
    tag = uuid.uuid4().hex[:4]
    ports = free_ports(n * PORTS_EACH + 1, start=21000)
    probe_port, ports = ports[-1], ports[:-1]
    reps = 1 if b.quick else 7
    names, starts = [], Figure(f"{backend}: start of container k of {n} (10 ports each)", "subject")
    extra: dict = {}
    try:
        extra["one_more_port_at_0_ms"] = _probe(b, args, net, probe_port, tag, reps)
        for i in range(n):
            name = f"nsrb-{tag}-{i}"
            mine = ports[i * PORTS_EACH:(i + 1) * PORTS_EACH]
            argv = b.nsrun.cmd(*args, "run", "-d", "--name", name, "--network", net,
                               *[a for p in mine for a in ("-p", f"{p}:80")], "busybox", "sleep", "600")
            try:
                starts.samples.append(spawn_timed(argv, timeout=60))
                names.append(name)
            except CmdFailed as exc:
                starts.failures += 1
                starts.last_error = str(exc)
                b.log(f"  {backend}: container {i + 1} failed: {exc}")
                if starts.failures >= 3:
                    break
        extra[f"one_more_port_at_{len(names) * PORTS_EACH}_ms"] = _probe(b, args, net, probe_port, tag, reps)
    finally:
        t0 = time.perf_counter()
        res = run(b.nsrun.cmd("rm", "-f", *names), timeout=300) if names else None
        teardown = (time.perf_counter() - t0) * 1000
    s = starts.samples
    sec.figures.append(starts)
    if not s:
        starts.not_run = f"no container started: {starts.last_error}"
        return
    window = max(1, min(10, len(s) // 5))
    first, last = Figure(f"{backend}: 1st start", "subject", samples=s[:1]), \
        Figure(f"{backend}: start #{len(s)} (the last)", "subject", samples=s[-1:])
    fw = Figure(f"{backend}: median of the first {window} starts", "subject", samples=s[:window])
    lw = Figure(f"{backend}: median of the last {window} starts", "subject", samples=s[-window:])
    td = Figure(f"{backend}: teardown of all {len(names)} (one `nsrun rm -f`)", "subject", samples=[teardown])
    if res is not None and res.returncode != 0:
        td.failures, td.last_error = 1, res.stderr.strip()[-200:]
    sec.figures += [first, last, fw, lw, td]
    for key, (w, wo) in sorted(extra.items()):
        published = key.split("_")[4]
        sec.figures.append(Figure(f"{backend}: one more published port with {published} already published",
                                  "subject", samples=[w - wo], note=f"post_start:net {w:.1f} ms with 1 port - {wo:.1f} ms without"))
    ratio = statistics.median(s[-window:]) / statistics.median(s[:window])
    sec.targets.append(Target(f"{backend}: container #{len(s)} (10 ports each) starts <= 1.2x the 1st",
                              ratio <= 1.2, f"{ratio:.2f}x (median of last {window} / first {window}); "
                              f"single #{len(s)}/#1: {s[-1] / s[0]:.2f}x"))
    probes = [v for k, v in sorted(extra.items(), key=lambda kv: int(kv[0].split("_")[4]))]
    if len(probes) == 2:
        d0, d1 = probes[0][0] - probes[0][1], probes[1][0] - probes[1][1]
        sec.targets.append(Target(f"{backend}: one more port costs no more with {len(names) * PORTS_EACH} published",
                                  d1 <= max(2 * d0, d0 + 5), f"{d0:+.1f} ms at 0, {d1:+.1f} ms at "
                                  f"{len(names) * PORTS_EACH} (met if <= max(2x, +5 ms))"))


def section_scale(b: Bench) -> Section:
    sec = Section("scale", f"4. scaling: {b.scale} containers x {PORTS_EACH} published ports per firewall backend (ms)",
                  ratios=False)
    try:
        net = bench_network(b)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    for backend in BACKENDS:
        if not b.nsrun.has(backend):
            sec.figures.append(Figure(f"{backend}: start of container k", "subject",
                                      not_run=f"the `{backend}` plugin is not installed"))
            continue
        b.log(f"  scaling with {backend} ...")
        try:
            _one_backend(b, sec, backend, net)
        except (RuntimeError, CmdFailed) as exc:   # no free ports; a probe start failed
            sec.figures.append(Figure(f"{backend}: start of container k", "subject", not_run=str(exc)))
    return sec
