"""Shared by the nsrun-oci engine tests: a busybox image tarball (no network), the runtime script an engine
is given (``.venv/bin/nsrun-oci`` with the test's own ``--root``), and the records left under a root."""
from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tempfile

BIN = os.path.dirname(sys.executable)  # the venv's bin (as tests/conftest.py has it: "conftest" may be compat's here)

OCI = os.path.join(BIN, "nsrun-oci")
APPLETS = ("sh", "echo", "cat", "sleep", "id", "hostname", "tty", "ls", "true", "grep", "kill", "ps")


def busybox_tar(path: str) -> None:
    """A root filesystem tarball: the host's busybox-static and a few applets, /etc and /tmp."""
    with tempfile.TemporaryDirectory(prefix="ocih-img-") as tmp:
        for d in ("bin", "etc", "tmp"):
            os.makedirs(os.path.join(tmp, d))
        shutil.copy("/bin/busybox", os.path.join(tmp, "bin", "busybox"))
        for applet in APPLETS:
            os.symlink("busybox", os.path.join(tmp, "bin", applet))
        with tarfile.open(path, "w") as tar:
            for name in os.listdir(tmp):
                tar.add(os.path.join(tmp, name), arcname=name)


def write_runtime(path: str, root: str, drop_root: bool = False) -> None:
    """The runtime an engine calls: nsrun-oci with ``--root root``. ``drop_root``: the engine passes its own
    ``--root DIR`` first (containerd's shim does), which the script replaces by ours."""
    drop = 'if [ "$1" = "--root" ]; then shift 2; fi\n' if drop_root else ""
    with open(path + ".tmp", "w") as f:
        f.write(f"#!/bin/sh\n{drop}exec {OCI} --root {root} \"$@\"\n")
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)


def records(root: str) -> list[str]:
    try:
        return [d for d in os.listdir(os.path.join(root, "containers")) if len(d) == 64]
    except FileNotFoundError:
        return []


def unmount_under(base: str) -> None:
    import subprocess
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f.read().splitlines()]
    for target in sorted((t for t in targets if t.startswith(base)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
