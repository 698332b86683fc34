"""A private podman for the bench: its own root, runroot, tmpdir and containers.conf under one short /tmp
directory (podman's runroot must stay under ~50 characters), with nsrun-oci as runtime ``nsrun`` and runc
beside it. Nothing of the host's podman is read or touched; ``close()`` removes every container, image and
mount it made.

nsrun-oci runs with ``cgroups = "disabled"`` (else podman 4.3 moves conmon to ``/libpod_parent`` at the top
of every hierarchy, outside the cgroup this harness runs in); runc gets ``--cgroup-parent`` beneath ours.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

__all__ = ["Podman", "available"]


def available() -> bool:
    return bool(shutil.which("podman") and shutil.which("conmon"))


class Podman:
    def __init__(self, oci: str, rootfs: str) -> None:
        self.base = tempfile.mkdtemp(prefix="nsrb-pm-", dir="/tmp")
        runtime = os.path.join(self.base, "nsrun-oci")
        with open(runtime, "w") as f:
            f.write(f'#!/bin/sh\nexec {oci} --root {self.base}/oci "$@"\n')
        os.chmod(runtime, 0o755)
        self.confs = {}
        for kind, extra in (("nsrun", 'cgroups = "disabled"\n'), ("runc", "")):
            self.confs[kind] = os.path.join(self.base, f"{kind}.conf")
            with open(self.confs[kind], "w") as f:
                f.write(f'[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\npids_limit = 0\n'
                        f'{extra}[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                        f'runtime = "{kind}"\nruntime_supports_nocgroup = ["nsrun"]\n[engine.runtimes]\n'
                        f'nsrun = ["{runtime}"]\n')
        self.glob = ["podman", "--root", f"{self.base}/st", "--runroot", f"{self.base}/rr", "--tmpdir",
                     f"{self.base}/tmp", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        tar = os.path.join(self.base, "bb.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        self.run("nsrun", "import", tar, "localhost/nsrbench", check=True)
        self.image = "localhost/nsrbench"

    def env(self, kind: str) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": self.confs[kind]}

    def cmd(self, *args: str) -> list[str]:
        return [*self.glob, *args]

    def run(self, kind: str, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, env=self.env(kind), check=check)

    def close(self) -> None:
        self.run("nsrun", "rm", "-af", "-t", "0")
        self.run("nsrun", "rmi", "-af")
        with open("/proc/self/mountinfo") as f:
            targets = [line.split()[4] for line in f if line.split()[4].startswith(self.base)]
        for target in sorted(targets, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
