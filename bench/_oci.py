"""Section "oci": nsrun-oci against runc — each lifecycle verb on a bundle, and the engines' ``run --rm
/bin/true`` with either runtime (ctr with a private containerd; podman and a private dockerd when installed).

Placement: runc makes the cgroup the engine names; every engine here is given a cgroup parent *beneath the cgroup
this harness runs in* (``_cgroups.own_parent``), so nothing lands outside it; nsrun-oci puts its cgroups there by itself.
podman runs nsrun-oci with ``cgroups = "disabled"`` (else it moves conmon to ``/libpod_parent`` at the top of
every hierarchy) and runc with ``--cgroup-parent``. Everything made (engines, their directories, the cgroup
parent) is removed at the end.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid

from _cgroups import own_parent, remove_parent

from _common import Bench, Section, Target
from _measure import Case, measure, paired_ratio, spawn_timed

__all__ = ["section_oci"]

VERBS = ("create", "start", "state", "delete")


def _oci_bin(b: Bench) -> str:
    return os.path.join(os.path.dirname(b.nsrun.cmd()[0]), "nsrun-oci")


class _Verbs:
    """One runtime's lifecycle on a bundle; ``case(verb)`` times that verb of a fresh container, the others
    untimed (every run creates, starts, looks at and deletes its own container)."""

    def __init__(self, tool: list[str], root: str, bundle: str) -> None:
        self.tool, self.root, self.bundle = tool, root, bundle

    def _call(self, *args: str) -> float:
        return spawn_timed([*self.tool, "--root", self.root, *args])

    def run_once(self, timed: str) -> float:
        cid = f"nsrbench-{uuid.uuid4().hex[:10]}"
        times = {"create": self._call("create", "--bundle", self.bundle, cid)}
        try:
            times["start"] = self._call("start", cid)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # /bin/true: stopped at once (init reaps it)
                out = subprocess.run([*self.tool, "--root", self.root, "state", cid], capture_output=True, text=True)
                if '"stopped"' in out.stdout:
                    break
                time.sleep(0.002)
            times["state"] = self._call("state", cid)
        finally:
            times["delete"] = self._call("delete", "--force", cid)
        return times[timed] / 1000

    def case(self, name: str, verb: str, role: str) -> Case:
        return Case(name, [], fn=lambda: self.run_once(verb), role=role)


def _verb_cases(b: Bench, work: str) -> list[Case]:
    bundle = b.anchors.bundle()  # runc spec's config: busybox rootfs read-only, /bin/true, no terminal
    oci = _Verbs([_oci_bin(b)], os.path.join(work, "nsrun-oci-root"), bundle)
    runc = _Verbs(["runc"], os.path.join(work, "runc-root"), bundle)
    no_runc = None if shutil.which("runc") else "runc is not installed"
    cases = []
    for verb in VERBS:
        cases.append(oci.case(f"nsrun-oci {verb}", verb, "subject"))
        c = runc.case(f"runc {verb}", verb, "anchor")
        c.not_run = no_runc
        cases.append(c)
    return cases


# -- engines ------------------------------------------------------------------------------------------------
def _busybox_tar(rootfs: str, path: str) -> None:
    subprocess.run(["tar", "-C", rootfs, "-cf", path, "."], check=True)


def _script(path: str, body: str) -> str:
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


class _Containerd:
    def __init__(self, work: str, oci: str) -> None:
        self.base = os.path.join(work, "ctd")
        os.makedirs(self.base)
        self.sock = os.path.join(self.base, "c.sock")
        self.oci_root = os.path.join(self.base, "oci")  # ctr run --runc-root: nsrun-oci's own, as a user gives it
        self.runtime = oci
        cfg = os.path.join(self.base, "config.toml")
        with open(cfg, "w") as f:
            f.write(f'version = 2\nroot = "{self.base}/root"\nstate = "{self.base}/state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{self.sock}"\n'
                    f'[ttrpc]\n  address = "{self.sock}.ttrpc"\n[debug]\n  address = "{self.base}/d.sock"\n')
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while subprocess.run(self.ctr("version"), capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start")
            time.sleep(0.1)

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "-a", self.sock, "-n", "nsrbench", *args]

    def close(self) -> None:
        for name in subprocess.run(self.ctr("container", "ls", "-q"), capture_output=True, text=True).stdout.split():
            subprocess.run(self.ctr("task", "delete", "-f", name), capture_output=True)
            subprocess.run(self.ctr("container", "rm", name), capture_output=True)
        self.proc.terminate()
        self.proc.wait(30)
        try:  # the runc shim keeps runc's state for our namespace there (empty once every task is deleted)
            os.rmdir("/run/containerd/runc/nsrbench")
        except OSError:
            pass


def _ctr_cases(b: Bench, work: str, parent: str | None) -> tuple[list[Case], list]:
    names = ("ctr run --rm --runc-binary nsrun-oci /bin/true", "ctr run --rm (runc) /bin/true")
    if not (shutil.which("containerd") and shutil.which("ctr")):
        return [Case(n, [], not_run="containerd is not installed") for n in names], []
    ctd = _Containerd(work, _oci_bin(b))
    image_tar = os.path.join(work, "ctr-image.tar")
    subprocess.run([*b.nsrun.cmd("image", "save", "busybox", "-o", image_tar)], check=True, capture_output=True)
    subprocess.run(ctd.ctr("images", "import", image_tar), check=True, capture_output=True)
    image = "docker.io/library/busybox:latest"

    def go(runtime: str | None) -> float:
        cid = f"b{uuid.uuid4().hex[:10]}"
        extra = (["--runc-binary", runtime, "--runc-root", ctd.oci_root] if runtime
                 else ["--cgroup", f"{parent}/{cid}"])
        return spawn_timed(ctd.ctr("run", "--rm", *extra, image, cid, "/bin/true")) / 1000
    cases = [Case(names[0], [], fn=lambda: go(ctd.runtime), role="subject"),
             Case(names[1], [], fn=lambda: go(None), not_run=None if parent else "no cgroup parent beneath ours")]
    return cases, [ctd.close]


def _podman_cases(b: Bench, work: str, parent: str | None) -> tuple[list[Case], list]:
    names = ("podman run --rm --runtime nsrun-oci /bin/true", "podman run --rm (runc) /bin/true")
    if not (shutil.which("podman") and shutil.which("conmon")):
        return [Case(n, [], not_run="podman/conmon are not installed") for n in names], []
    base = tempfile.mkdtemp(prefix="nsrb-pm-", dir="/tmp")  # short: podman's runroot must stay < 50 chars
    runtime = _script(os.path.join(base, "nsrun-oci"), f'exec {_oci_bin(b)} --root {base}/oci "$@"')
    confs = {}
    for kind, extra in (("nsrun", 'cgroups = "disabled"\n'), ("runc", "")):
        confs[kind] = os.path.join(base, f"{kind}.conf")
        with open(confs[kind], "w") as f:
            f.write(f'[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\npids_limit = 0\n'
                    f'{extra}[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    f'runtime = "{kind}"\nruntime_supports_nocgroup = ["nsrun"]\n[engine.runtimes]\n'
                    f'nsrun = ["{runtime}"]\n')
    glob = ["podman", "--root", f"{base}/st", "--runroot", f"{base}/rr", "--tmpdir", f"{base}/tmp",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    tar = os.path.join(base, "bb.tar")
    _busybox_tar(b.rootfs, tar)
    subprocess.run(glob + ["import", tar, "localhost/nsrbench"], check=True, capture_output=True,
                   env={**os.environ, "CONTAINERS_CONF": confs["nsrun"]})

    def go(kind: str) -> float:
        extra = ["--cgroup-parent", parent] if kind == "runc" else []
        return spawn_timed(glob + ["run", "--rm", "--network", "none", *extra, "localhost/nsrbench", "/bin/true"],
                           env={"CONTAINERS_CONF": confs[kind]}) / 1000

    def close() -> None:
        env = {**os.environ, "CONTAINERS_CONF": confs["nsrun"]}
        subprocess.run(glob + ["rm", "-af"], capture_output=True, env=env)
        subprocess.run(glob + ["rmi", "-af"], capture_output=True, env=env)
        with open("/proc/self/mountinfo") as f:
            for target in sorted((line.split()[4] for line in f if line.split()[4].startswith(base)), reverse=True):
                subprocess.run(["umount", "-l", target], capture_output=True)
        # conmon's exit command (`podman container cleanup`) can still be running: it would make its storage
        # directories again beneath base after they are gone (a 01:32 FULL run left /tmp/nsrb-pm-*/st, rr)
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-f", base], capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)
    cases = [Case(names[0], [], fn=lambda: go("nsrun"), role="subject"),
             Case(names[1], [], fn=lambda: go("runc"), not_run=None if parent else "no cgroup parent beneath ours")]
    return cases, [close]


def _docker_cases(b: Bench, work: str, parent: str | None) -> tuple[list[Case], list]:
    names = ("docker run --rm --runtime nsrun /bin/true", "docker run --rm (runc) /bin/true")
    if not (shutil.which("dockerd") and shutil.which("docker")):
        return [Case(n, [], not_run="docker.io is not installed") for n in names], []
    base = os.path.join(work, "dk")
    os.makedirs(base)
    runtime = _script(os.path.join(base, "nsrun-oci"),
                      f'if [ "$1" = "--root" ]; then shift 2; fi\nexec {_oci_bin(b)} --root {base}/oci "$@"')
    sock = os.path.join(base, "d.sock")
    proc = subprocess.Popen(["dockerd", "--data-root", f"{base}/data", "--exec-root", f"{base}/ex", "-H",
                             f"unix://{sock}", "--pidfile", f"{base}/d.pid", "--bridge=none", "--iptables=false",
                             "--ip6tables=false", "--ip-masq=false", "--add-runtime", f"nsrun={runtime}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cli = ["docker", "-H", f"unix://{sock}"]
    deadline = time.monotonic() + 30
    while subprocess.run(cli + ["version"], capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            return [Case(n, [], not_run="the private dockerd did not start") for n in names], []
        time.sleep(0.2)
    tar = os.path.join(base, "bb.tar")
    _busybox_tar(b.rootfs, tar)
    subprocess.run(cli + ["import", tar, "nsrbench"], check=True, capture_output=True)

    def go(kind: str) -> float:
        extra = ["--runtime", "nsrun"] if kind == "nsrun" else ["--cgroup-parent", parent or "/"]
        return spawn_timed(cli + ["run", "--rm", "--network", "none", *extra, "nsrbench", "/bin/true"]) / 1000

    def close() -> None:
        ids = subprocess.run(cli + ["ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(cli + ["rm", "-f", *ids], capture_output=True)
        proc.terminate()
        proc.wait(30)
        with open("/proc/self/mountinfo") as f:
            for target in sorted((line.split()[4] for line in f if line.split()[4].startswith(base)), reverse=True):
                subprocess.run(["umount", "-l", target], capture_output=True)
    cases = [Case(names[0], [], fn=lambda: go("nsrun"), role="subject"),
             Case(names[1], [], fn=lambda: go("runc"), not_run=None if parent else "no cgroup parent beneath ours")]
    return cases, [close]


def section_oci(b: Bench) -> Section:
    sec = Section("oci", "7. OCI runtime: nsrun-oci against runc, each verb and under engines (ms)")
    work = tempfile.mkdtemp(prefix="nsrbench-oci-", dir=b.workdir)
    parent = own_parent("nsrbench-oci")
    closers: list = []
    try:
        cases = _verb_cases(b, work)
        for make in (_ctr_cases, _podman_cases, _docker_cases):
            try:
                more, close = make(b, work, parent)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
                sec.notes.append(f"{make.__name__[1:-6]}: not run: {exc}")
                continue
            cases += more
            closers += close
        sec.figures = measure(cases, b.runs, b.warmup, b.log)
    finally:
        for close in closers:
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - report, go on with the others
                sec.notes.append(f"cleanup failed: {exc}")
        if parent:
            remove_parent(parent)
        shutil.rmtree(work, ignore_errors=True)
    sec.notes.append("runc is given a cgroup parent beneath ours; podman runs nsrun-oci with cgroups disabled "
                     "(conmon stays in our cgroup)")
    for subject, anchor in (("ctr run --rm --runc-binary nsrun-oci /bin/true", "ctr run --rm (runc) /bin/true"),
                            ("podman run --rm --runtime nsrun-oci /bin/true", "podman run --rm (runc) /bin/true"),
                            ("docker run --rm --runtime nsrun /bin/true", "docker run --rm (runc) /bin/true")):
        s, a = sec.figure(subject), sec.figure(anchor)
        ratio = paired_ratio(s, a) if s and a and s.samples and a.samples else None
        sec.targets.append(Target(f"{subject.split(' ')[0]} with nsrun-oci <= 1.3x runc", None if ratio is None
                                  else ratio <= 1.3, "not judged: not run" if ratio is None
                                  else f"{ratio:.2f}x runc"))
    return sec
