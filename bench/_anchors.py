"""The other tools nsrun is compared with, set up so each runs /bin/true in the same namespaces
(pid, mnt, uts, ipc; no network namespace unless a section asks) on the same busybox root filesystem."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import uuid

from _env import run
from _measure import Case

__all__ = ["Anchors"]


class Anchors:
    """Owns every OCI bundle, state dir and container id it makes, and removes them in ``close()``."""

    def __init__(self, workdir: str, rootfs: str) -> None:
        self.workdir = workdir
        self.rootfs = os.path.realpath(rootfs)   # runc refuses a rootfs path through a symlink
        self.ids: dict[str, list[str]] = {"runc": [], "crun": []}
        self._counter = itertools.count()
        self._holder: subprocess.Popen | None = None
        self.crun_mntns: int | None = None
        self.crun_note = ""

    # -- util-linux, bubblewrap ----------------------------------------------------------------------------
    def unshare(self, net: bool = False) -> Case:
        argv = ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", *(["--net"] if net else []), "true"]
        return Case("unshare --pid --fork --mount --uts --ipc" + (" --net" if net else "") + " true", argv,
                    not_run=None if shutil.which("unshare") else "unshare (util-linux) is not installed")

    def bwrap(self, net: bool = False) -> Case:
        argv = ["bwrap", "--unshare-pid", "--unshare-uts", "--unshare-ipc", *(["--unshare-net"] if net else []),
                "--ro-bind", self.rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"]
        return Case("bwrap --unshare-pid/uts/ipc" + ("/net" if net else "") + " (busybox rootfs) /bin/true", argv,
                    not_run=None if shutil.which("bwrap") else "bwrap (bubblewrap) is not installed")

    # -- OCI runtimes ----------------------------------------------------------------------------------------
    def bundle(self, net: bool = False) -> str:
        """An OCI bundle from ``runc spec``: the busybox rootfs read-only, our namespaces, no terminal, /bin/true."""
        path = os.path.join(self.workdir, "bundle-net" if net else "bundle")
        if os.path.exists(os.path.join(path, "config.json")):
            return path
        os.makedirs(path, exist_ok=True)
        res = run(["runc", "spec", "--bundle", path])
        if res.returncode != 0:
            raise RuntimeError(f"runc spec failed: {res.stderr.strip()}")
        with open(os.path.join(path, "config.json")) as f:
            spec = json.load(f)
        spec["root"] = {"path": self.rootfs, "readonly": True}
        spec["process"].update(terminal=False, args=["/bin/true"])
        wanted = ["pid", "mount", "uts", "ipc", *(["network"] if net else [])]
        spec["linux"]["namespaces"] = [{"type": t} for t in wanted]
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(spec, f, indent=1)
        return path

    def _state(self, tool: str) -> str:
        path = os.path.join(self.workdir, f"{tool}-state")
        os.makedirs(path, exist_ok=True)
        return path

    def _argv(self, tool: str, bundle: str) -> list[str]:
        cid = f"nsrbench-{uuid.uuid4().hex[:8]}-{next(self._counter)}"
        self.ids[tool].append(cid)
        return [tool, "--root", self._state(tool), "run", "--bundle", bundle, cid]

    def runc(self, net: bool = False) -> Case:
        case = Case("runc run (OCI bundle, busybox rootfs)" + (" +netns" if net else ""), [],
                    not_run=None if shutil.which("runc") else "runc is not installed")
        if case.not_run is None:
            case.fn = _fresh_id_runner(self, "runc", self.bundle(net), None)
        return case

    def crun(self, net: bool = False) -> Case:
        case = Case("crun run (OCI bundle, busybox rootfs)" + (" +netns" if net else ""), [],
                    not_run=None if shutil.which("crun") else "crun is not installed")
        if case.not_run is None:
            reason = self._crun_namespace()
            if reason:
                case.not_run = reason
            else:
                case.fn = _fresh_id_runner(self, "crun", self.bundle(net), self.crun_mntns)
        return case

    def _crun_namespace(self) -> str | None:
        """crun 1.8 refuses this host's v1/v2 hybrid cgroups; it runs in a mount namespace where
        /sys/fs/cgroup/unified is unmounted (ENVIRONMENT.md). The harness makes that namespace once and starts
        crun inside it directly, so the workaround's own unshare+sh (~3 ms) is not charged to crun."""
        if self.crun_mntns is not None or self.crun_note:
            return self.crun_note or None
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             "umount -l /sys/fs/cgroup/unified 2>/dev/null; echo ready; exec sleep 3600"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self._holder.stdout.readline().strip() != "ready":
            self.crun_note = "could not make the mount namespace crun needs here"
            return self.crun_note
        self.crun_mntns = os.open(f"/proc/{self._holder.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self._holder.send_signal(signal.SIGTERM)
        self._holder.wait(timeout=10)
        self._holder = None
        return None

    def close(self) -> list[str]:
        """Delete every container id handed out (``delete -f`` is harmless for ones already gone)."""
        problems = []
        for tool, ids in self.ids.items():
            state = os.path.join(self.workdir, f"{tool}-state")
            if not os.path.isdir(state):
                continue
            leftover = set(os.listdir(state)) & set(ids)
            for cid in leftover:
                res = run([tool, "--root", state, "delete", "-f", cid], timeout=30)
                if res.returncode != 0:
                    problems.append(f"{tool} delete -f {cid}: {res.stderr.strip()[:200]}")
        if self._holder is not None:
            self._holder.kill()
            self._holder.wait()
        if self.crun_mntns is not None:
            os.close(self.crun_mntns)
            self.crun_mntns = None
        return problems


def _fresh_id_runner(anchors: Anchors, tool: str, bundle: str, mntns: int | None):
    """A Case.fn that runs ``<tool> run`` with a new container id each time (runc/crun remove a container
    that exits unless told to keep it; unique ids make a leftover harmless and findable)."""
    from _measure import spawn_timed

    def go() -> float:
        return spawn_timed(anchors._argv(tool, bundle), mntns=mntns) / 1000
    return go
