"""Sections 1 and 2: start latency of /bin/true, without and with networking, nsrun against the anchors."""
from __future__ import annotations

import os
import uuid

from _common import Bench, NotRun, Section, Target
from _env import free_ports, free_subnet, run
from _measure import Case, measure, paired_difference, paired_ratio

__all__ = ["section_start", "section_network", "bench_network", "NSRUN_TRUE"]

NSRUN_TRUE = "nsrun run --rm busybox true (embedded)"
NSRUN_INSTALLED = "nsrun run --rm busybox true (embedded, the other install: --nsrun-installed)"
NSRUN_SAME_SET = "nsrun run --rm busybox true (embedded, with the other install's plugin set)"
# a default plugin the start pays for, and the issue whose speed rule caps what it may add (ms, paired median)
PLUGIN_COSTS = (("seccomp", "issue 9: seccomp (devices: nodev mounts, always on)", 2.0),
                ("cgroup", "issue 12: creating and joining the container's cgroup", 2.0))
HERE = os.path.dirname(os.path.abspath(__file__))


def _median(fig) -> float | None:
    import statistics
    return statistics.median(fig.samples) if fig and fig.samples else None


def _default_set(b: Bench) -> list[str]:
    """The plugins section 1 times: the default set without networking."""
    args = b.nsrun.no_net_args()
    return args[1].split(",") if args else [n for n, d in b.nsrun.plugins.items() if d]


def _plugin_costs(b: Bench) -> list[tuple[str, str, float]]:
    """The PLUGIN_COSTS whose plugin is in this install's default set (the others cannot be timed apart)."""
    return [c for c in PLUGIN_COSTS if c[0] in _default_set(b)]


def _without(plugin: str) -> str:
    return f"nsrun run --rm busybox true (embedded, default set without {plugin})"


def section_start(b: Bench) -> Section:
    sec = Section("start", "1. start latency: /bin/true in pid+mnt+uts+ipc namespaces (ms)")
    py = os.path.join(os.path.dirname(b.nsrun.bin), "python")
    cases = [
        Case(NSRUN_TRUE, b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "--rm", "busybox", "true"), role="subject"),
        b.anchors.unshare(), b.anchors.bwrap(), b.anchors.crun(), b.anchors.runc(),
        Case("python floor: -I -S, ctypes unshare+fork+chroot+/proc+exec", [py, "-I", "-S",
             os.path.join(HERE, "_floor.py"), b.rootfs], role="reference"),
        Case("python interpreter alone: venv python -c pass", [py, "-c", "pass"], role="reference"),
    ]
    for plugin, _why, _cap in _plugin_costs(b):
        kept = [n for n in _default_set(b) if n != plugin]
        cases.insert(1, Case(_without(plugin), b.nsrun.cmd("--plugins", ",".join(kept), "run", "--rm", "busybox",
                                                            "true"), role="subject"))
    installed = b.shared.get("nsrun_installed")
    if installed:  # before/after in one run: the other install with ITS default set (without networking),
        # and this one with that same set, so the core's own cost is compared apart from new default plugins
        from _env import Nsrun
        other = Nsrun(installed, b.nsrun.root) if os.access(installed, os.X_OK) else None
        other_args = other.no_net_args() if other else []
        cases.insert(1, Case(NSRUN_INSTALLED, [installed, "--root", b.nsrun.root, *other_args, "run", "--rm",
                                               "busybox", "true"],
                             role="subject", not_run=None if other else f"{installed}: missing"))
        if other_args and other_args != b.nsrun.no_net_args():
            cases.insert(2, Case(NSRUN_SAME_SET, b.nsrun.cmd(*other_args, "run", "--rm", "busybox", "true"),
                                 role="subject"))
    sec.figures = measure(cases, b.runs, b.warmup, b.log)
    if b.nsrun.no_net_args():
        sec.notes.append(f"nsrun runs with {' '.join(b.nsrun.no_net_args())}: the default set without networking, "
                         "so it does the same work as the anchors (section 2 adds the network)")
    sec.notes.append("crun runs in a mount namespace without /sys/fs/cgroup/unified (ENVIRONMENT.md); the harness "
                     "enters it itself, so the workaround's unshare+sh is not counted")
    nsrun, runc = sec.figure(NSRUN_TRUE), sec.figure(b.anchors.runc().name)
    ratio = paired_ratio(nsrun, runc) if nsrun and runc else None
    sec.targets.append(Target("embedded nsrun run --rm busybox true <= 3x runc run (aim 2x)",
                              None if ratio is None else ratio <= 3,
                              "not judged: " + (runc.not_run or nsrun.not_run or "no samples") if ratio is None
                              else f"{ratio:.2f}x runc (aim 2x {'met' if ratio <= 2 else 'not met'})"))
    for plugin, why, cap in _plugin_costs(b):
        without = sec.figure(_without(plugin))
        d = paired_difference(nsrun, without) if nsrun and without else None
        md = _median(nsrun) - _median(without) if d is not None else None
        sec.targets.append(Target(f"{why} adds <= {cap:g} ms to the median start (same run)",
                                  None if d is None else d <= cap,
                                  "not judged: " + ((without and without.not_run) or "no samples") if d is None
                                  else f"{d:+.1f} ms paired ({md:+.1f} ms in medians)"))
    inst = sec.figure(NSRUN_INSTALLED)
    if inst and nsrun and paired_ratio(nsrun, inst):
        import statistics
        d = statistics.median(nsrun.samples) - statistics.median(inst.samples)
        sec.notes.append(f"this install vs the other one (default sets): {paired_ratio(nsrun, inst):.3f}x paired, "
                         f"{d:+.1f} ms in medians")
        same = sec.figure(NSRUN_SAME_SET)
        if same and paired_ratio(same, inst):
            d = statistics.median(same.samples) - statistics.median(inst.samples)
            sec.notes.append(f"this install with the other's plugin set vs the other: {paired_ratio(same, inst):.3f}x "
                             f"paired, {d:+.1f} ms in medians")
    return sec


def bench_network(b: Bench) -> str:
    """One user-defined bridge network for the whole run, in a free /24 of 10.120.0.0/14; removed at the end."""
    if "network" in b.shared:
        return b.shared["network"]
    reason = b.nsrun.why_no_net()
    if reason:
        raise NotRun(reason)
    name = f"nsrbench{uuid.uuid4().hex[:4]}"
    subnet = free_subnet()
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "create", "--subnet", subnet, name))
    if res.returncode != 0:
        raise NotRun(f"`nsrun network create --subnet {subnet}` failed: {(res.stderr or res.stdout).strip()[-200:]}")
    b.shared["network"] = name
    b.shared["subnet"] = subnet

    def remove() -> list[str]:
        res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "rm", name))
        return [] if res.returncode == 0 else [f"network rm {name}: {res.stderr.strip()[-200:]}"]
    b.cleanups.append(remove)
    return name


def section_network(b: Bench) -> Section:
    sec = Section("network", "2. start latency with a network namespace: none, bridge, bridge + 1 published port (ms)")
    why = None
    try:
        net = bench_network(b)
    except NotRun as exc:       # the anchors are still measured: the nsrun rows say why they are missing
        net, why = "<bridge>", str(exc)
    port = free_ports(2, start=28000)[0]
    pa = b.nsrun.plugin_args("net") if why is None else []
    run_ = [*pa, "run", "--rm"]
    cases = [
        Case("nsrun run --rm --network none busybox true", b.nsrun.cmd(*run_, "--network", "none", "busybox", "true"),
             role="subject", not_run=why),
        Case("nsrun run --rm --network <bridge> busybox true",
             b.nsrun.cmd(*run_, "--network", net, "busybox", "true"), role="subject", not_run=why),
        Case("nsrun run --rm --network <bridge> -p P:80 busybox true",
             b.nsrun.cmd(*run_, "--network", net, "-p", f"{port}:80", "busybox", "true"), role="subject",
             not_run=why),
        b.anchors.unshare(net=True), b.anchors.crun(net=True), b.anchors.runc(net=True),
    ]
    docker = b.shared.get("dockerd")
    dnote = "dockerd not compared: run `make bench FULL=1`" if not b.full else b.shared.get("dockerd_error", "")
    if docker is not None:
        for label, extra in (("none", ["--network", "none"]), ("bridge", []), ("bridge -p", ["-p", f"{port + 1}:80"])):
            cases.append(Case(f"docker run --rm {label} (dockerd)", docker.cli("run", "--rm", *extra,
                              docker.image, "true"), env=docker.env))
    elif dnote:
        sec.notes.append(dnote)
    sec.figures = measure(cases, b.runs, b.warmup, b.log)
    pub = sec.figures[2]
    med = _median(pub)
    dfig = sec.figure("docker run --rm bridge -p (dockerd)")
    dmed = _median(dfig) if dfig else None
    ref, where = (dmed, "dockerd in this run") if dmed else (308.0, "dockerd's 308 ms measured in ENVIRONMENT.md")
    sec.targets.append(Target("bridge + 1 published port <= 1/4 of docker run -p (aim < 60 ms)",
                              None if med is None else med <= ref / 4,
                              f"not judged: {pub.not_run}" if med is None else
                              f"{med:.1f} ms = {med / ref:.2f}x {where} (aim <60 ms "
                              f"{'met' if med < 60 else 'not met'})"))
    return sec
