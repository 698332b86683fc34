"""nsrun benchmark harness: ``make bench`` (or ``.venv/bin/python bench/run.py [--quick] [--runs N]``).

nsrun against the tools installed here, measured side by side in one run: start latency (sections 1-3; 1b: exec),
scaling with published ports (4), bridge throughput (5) and memory (6). Prints a table, writes
bench/results.json. Everything nsrun does happens under a private ``--root`` that is reset at the end; every
anchor container, bundle, daemon and bridge the benchmark makes is removed. See docs/bench.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _anchors import Anchors  # noqa: E402
from _common import Bench, Section  # noqa: E402
from _env import Nsrun, machine, run, versions  # noqa: E402

SECTIONS = ("start", "exec", "network", "daemon", "scale", "iperf", "memory", "images", "build", "stats", "oci")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="measured runs per case (default 20; --quick 10)")
    p.add_argument("--warmup", type=int, help="warm-up runs per case, discarded (default 3; --quick 1)")
    p.add_argument("--quick", action="store_true", help="fewer runs, 10 containers to scale, 1 s iperf")
    p.add_argument("--scale", type=int, help="containers in the scaling section (default 100; --quick 10)")
    p.add_argument("--iperf-seconds", type=int, help="length of each iperf3 run (default 1)")
    p.add_argument("--iperf-rounds", type=int, default=0, help="iperf3 rounds, every path in each (default 10; --quick 3)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--full", action="store_true", default=os.environ.get("FULL") == "1",
                   help="also start a private dockerd and compare with it (FULL=1)")
    p.add_argument("--nsrun", default=os.path.join(os.path.dirname(sys.executable), "nsrun"),
                   help="the nsrun to measure (default: the one beside this interpreter)")
    p.add_argument("--nsrun-installed", metavar="PATH",
                   help="also time another nsrun installation beside the main one")
    p.add_argument("--root", help="use this nsrun root (kept; reset at the end) instead of a private temporary one")
    p.add_argument("--json", default=os.path.join(HERE, "results.json"), help="where to write the results")
    p.add_argument("--update-docs", metavar="MD", help="put the table into this markdown file's bench block")
    a = p.parse_args(argv)
    a.runs = a.runs or (10 if a.quick else 20)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 3)
    a.scale = a.scale or (10 if a.quick else 100)
    a.iperf_seconds = a.iperf_seconds or 1
    a.sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    unknown = set(a.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    return a


def _trace(b: Bench, runs: int = 5) -> list[str]:
    """NSRUN_TRACE=1 per-phase timing of an embedded start: the median of each phase over ``runs`` starts."""
    import re
    import statistics
    phases: dict[str, list[float]] = {}
    for _ in range(runs):
        res = run(b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "--rm", "busybox", "true"),
                  env={**os.environ, "NSRUN_TRACE": "1"})
        for line in res.stderr.splitlines():
            m = re.match(r"\s*(.*?)\s+(-?[0-9.]+)\s*$", line)
            if m:
                phases.setdefault(m.group(1).replace("nsrun trace (ms): ", ""), []).append(float(m.group(2)))
    return [f"{name:<40} {statistics.median(v):8.2f} ms" for name, v in phases.items()]


def _section(b: Bench, key: str) -> Section:
    from _build import section_build
    from _daemon import section_daemon
    from _exec import section_exec
    from _iperf import section_iperf
    from _memory import section_memory
    from _live import section_stats
    from _oci import section_oci
    from _pull import section_images
    from _scale import section_scale
    from _start import section_network, section_start
    fn = {"start": section_start, "exec": section_exec, "network": section_network, "daemon": section_daemon, "scale": section_scale,
          "iperf": section_iperf, "memory": section_memory, "images": section_images, "build": section_build,
          "stats": section_stats, "oci": section_oci}[key]
    b.log(f"section {key} ...")
    try:
        return fn(b)
    except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others' figures
        import traceback
        b.log(traceback.format_exc())
        return Section(key, key, not_run=f"the harness failed: {exc!r}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if os.geteuid() != 0:
        print("bench: needs root (namespaces, OCI runtimes, netfilter)", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="nsrbench-", dir="/tmp")
    os.chmod(workdir, 0o755)
    root = os.path.abspath(args.root) if args.root else os.path.join(workdir, "root")
    nsrun = Nsrun(os.path.abspath(args.nsrun), root)
    b = Bench(nsrun=nsrun, anchors=None, workdir=workdir, runs=args.runs, warmup=args.warmup, quick=args.quick,
              scale=args.scale, iperf_seconds=args.iperf_seconds, full=args.full,
              iperf_rounds=args.iperf_rounds)
    if args.nsrun_installed:
        b.shared["nsrun_installed"] = os.path.abspath(args.nsrun_installed)
    sections: list[Section] = []
    problems: list[str] = []
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "runs": args.runs, "warmup": args.warmup, "quick": args.quick,
            "scale": args.scale, "full": args.full, "root": root}
    try:
        # One run makes the busybox image (<root>/images/busybox/rootfs) that every anchor uses too.
        first = run(nsrun.cmd(*nsrun.no_net_args(), "run", "--rm", "busybox", "true"), timeout=120)
        if first.returncode != 0 or not os.path.isdir(b.rootfs):
            print(f"bench: nsrun cannot run a container: {(first.stderr or first.stdout).strip()}", file=sys.stderr)
            return 1
        b.anchors = Anchors(workdir, b.rootfs)
        meta["versions"] = versions(nsrun.bin)
        meta["trace"] = _trace(b)
        if args.full:
            from _docker import Dockerd
            docker = Dockerd(workdir, b.rootfs)
            b.cleanups.append(docker.close)
            try:
                b.log("starting a private dockerd ...")
                docker.start()
                b.shared["dockerd"] = docker
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                b.shared["dockerd_error"] = f"dockerd not compared: {exc}"
        for key in SECTIONS:
            if key in args.sections:
                sections.append(_section(b, key))
            else:
                sections.append(Section(key, key, not_run="not selected (--sections)"))
    finally:
        for cleanup in reversed(b.cleanups):
            try:
                problems += cleanup() or []
            except Exception as exc:  # noqa: BLE001 - every cleanup gets its turn
                problems.append(f"cleanup {cleanup!r}: {exc!r}")
        if b.anchors is not None:
            problems += b.anchors.close()
        res = run(nsrun.cmd("system", "reset"), timeout=300)
        if res.returncode != 0:
            problems.append(f"nsrun system reset: {(res.stderr or res.stdout).strip()[-300:]}")
        shutil.rmtree(workdir, ignore_errors=True)
    from _report import table, update_doc, write_json
    meta["cleanup_problems"] = problems
    text = table(sections, meta)
    print(text)
    for p in problems:
        print(f"cleanup problem: {p}", file=sys.stderr)
    write_json(args.json, sections, meta)
    print(f"\nwrote {args.json}")
    if args.update_docs and update_doc(args.update_docs, text):
        print(f"updated {args.update_docs}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
