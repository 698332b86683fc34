"""Section "build": ``nsrun build`` of a 10-instruction Dockerfile (two RUN steps, a COPY, config steps).

- rebuild: the same build again with nothing changed (every step from the layer cache: no container runs);
- cold: ``--no-cache`` (two RUN containers, two layers committed), next to dockerd's classic builder
  (``DOCKER_BUILDKIT=0 docker build --no-cache``, FULL=1) of the same Dockerfile and context, same rounds.
The RUN containers run with the default plugins minus networking, as section 1's runs.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import time

from _common import Bench, Section, Target
from _measure import Case, CmdFailed, measure, paired_ratio

__all__ = ["section_build"]

REBUILD = "nsrun build, unchanged rebuild (10 instructions, all cached)"
COLD = "nsrun build --no-cache (10 instructions, 2 RUN)"
DOCKER_COLD = "DOCKER_BUILDKIT=0 docker build --no-cache (dockerd, FULL=1)"

DOCKERFILE = """\
ARG BASE=busybox
FROM $BASE
ENV APP=/srv/app GREETING=hello
WORKDIR /srv/app
COPY app/ ./
RUN echo "$GREETING" > greeting && mkdir -p /var/data
RUN chmod 0755 run.sh && mkdir -p /usr/local && ln -s /srv/app/run.sh /usr/local/run
LABEL org.example.bench=build
EXPOSE 8080
CMD ["/usr/local/run"]
"""


def _context(workdir: str) -> str:
    ctx = os.path.join(workdir, "build-ctx")
    os.makedirs(os.path.join(ctx, "app"), exist_ok=True)
    files = {"Dockerfile": DOCKERFILE, "app/run.sh": "#!/bin/sh\ncat /srv/app/greeting\n",
             "app/data.txt": "x" * 100_000}
    for name, text in files.items():
        with open(os.path.join(ctx, name), "w") as f:
            f.write(text)
    return ctx


def _timed(argv: list[str], env: dict[str, str] | None = None):
    def fn() -> float:
        t0 = time.perf_counter()
        res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300,
                             env={**os.environ, **(env or {})})
        dt = time.perf_counter() - t0
        if res.returncode != 0:
            raise CmdFailed(res.stderr.decode(errors="replace").strip()[-200:])
        return dt
    return fn


def section_build(b: Bench) -> Section:
    sec = Section("build", "7. build: a 10-instruction Dockerfile (ms)")
    ctx = _context(b.workdir)
    build = b.nsrun.cmd(*b.nsrun.no_net_args(), "build", "-q")
    res = subprocess.run([*build, "-t", "bench-build", ctx], capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        sec.not_run = f"nsrun build failed: {(res.stderr or res.stdout).strip()[-200:]}"
        return sec
    docker = b.shared.get("dockerd")
    cases = [
        Case(REBUILD, [*build, "-t", "bench-build", ctx], role="subject"),
        Case(COLD, fn=_timed([*build, "--no-cache", ctx]), role="subject", timeout=300),
        Case(DOCKER_COLD, timeout=300,
             fn=_timed(docker.cli("build", "-q", "--no-cache", "--build-arg", f"BASE={docker.image}", ctx),
                       {**docker.full_env, "DOCKER_BUILDKIT": "0"}) if docker else None,
             not_run=None if docker else (b.shared.get("dockerd_error") or "needs FULL=1")),
    ]
    sec.figures = measure(cases, max(5, b.runs // 4), 1, b.log)
    sec.ratios = False
    rebuild = sec.figure(REBUILD)
    med = statistics.median(rebuild.samples) if rebuild and rebuild.samples else None
    sec.targets.append(Target("an unchanged rebuild of a 10-instruction Dockerfile < 1 s", None if med is None
                              else med < 1000, "not judged" if med is None else f"{med:.0f} ms"))
    cold, dcold = sec.figure(COLD), sec.figure(DOCKER_COLD)
    r = paired_ratio(cold, dcold) if cold and dcold and cold.samples and dcold.samples else None
    sec.targets.append(Target("a cold build no slower than dockerd's classic builder (FULL=1)",
                              None if r is None else r <= 1.0, "not judged (needs FULL=1)" if r is None
                              else f"{r:.2f}x docker build"))
    sec.notes.append("every --no-cache build leaves its untagged steps in the store (as docker's); the bench's "
                     "root is reset at the end")
    return sec
