"""Section "exec": ``true`` exec'd into a running container, nsrun exec against runc exec."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid

from _common import Bench, Section, Target
from _env import run
from _measure import Case, measure, paired_ratio

__all__ = ["section_exec", "NSRUN_EXEC", "RUNC_EXEC"]

NSRUN_EXEC = "nsrun exec <running busybox> true (embedded)"
RUNC_EXEC = "runc exec <running runc container> /bin/true"


def _runc_running(b: Bench) -> tuple[str | None, str | None]:
    """A detached runc container running ``sleep`` on the bench's busybox rootfs: (its id, why not)."""
    if not shutil.which("runc"):
        return None, "runc is not installed"
    src = b.anchors.bundle()
    path = os.path.join(b.workdir, "bundle-exec")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["args"] = ["/bin/sleep", "3600"]
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f, indent=1)
    cid = f"nsrbench-exec-{uuid.uuid4().hex[:8]}"
    b.anchors.ids["runc"].append(cid)          # Anchors.close() deletes it (-f) at the end
    state = b.anchors._state("runc")
    # without a terminal the container keeps runc's stdio: a file, not a pipe we would wait on for EOF
    with tempfile.TemporaryFile() as err:
        res = subprocess.run(["runc", "--root", state, "run", "-d", "--bundle", path, cid], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        err.seek(0)
        if res.returncode != 0:
            return None, f"runc run -d failed: {err.read().decode(errors='replace').strip()[-200:]}"
    return cid, None


def section_exec(b: Bench) -> Section:
    sec = Section("exec", "1b. exec latency: true into a running container (ms)")
    name = f"nsrbench-exec-{uuid.uuid4().hex[:6]}"
    res = run(b.nsrun.cmd(*b.nsrun.no_net_args(), "run", "-d", "--name", name, "busybox", "sleep", "3600"))
    why = None if res.returncode == 0 else f"nsrun run -d failed: {(res.stderr or res.stdout).strip()[-200:]}"
    if why is None:
        b.cleanups.append(lambda: [] if run(b.nsrun.cmd("rm", "-f", name)).returncode == 0
                          else [f"nsrun rm -f {name} failed"])
    cid, runc_why = _runc_running(b)
    state = b.anchors._state("runc")
    cases = [Case(NSRUN_EXEC, b.nsrun.cmd("exec", name, "true"), role="subject", not_run=why),
             Case(RUNC_EXEC, ["runc", "--root", state, "exec", cid or "-", "/bin/true"], not_run=runc_why)]
    sec.figures = measure(cases, b.runs, b.warmup, b.log)
    sec.notes.append("nsrun exec is parsed without click (as run) and execs the command through its sealed "
                     "stub (README: what a container gets of nsrun)")
    nsrun, runc = sec.figure(NSRUN_EXEC), sec.figure(RUNC_EXEC)
    ratio = paired_ratio(nsrun, runc) if nsrun and runc else None
    sec.targets.append(Target("nsrun exec <= 2x runc exec", None if ratio is None else ratio <= 2,
                              "not judged: " + (runc.not_run or nsrun.not_run or "no samples") if ratio is None
                              else f"{ratio:.2f}x runc exec"))
    return sec
