"""containerd 1.6 (Debian) and its runc shim drive nsrun-oci: ``ctr run --runc-binary``.

The containerd is private to this module: its own config (root, state, grpc/ttrpc/debug sockets, the CRI plugin
disabled), started and stopped here; its shim sockets still go to /run/containerd/s/ (containerd's choice). The
shim passes ``--root /run/containerd/runc/<namespace>``; the runtime script puts the test's root in its place.
The image is nsrun's own busybox, saved as an OCI archive by ``nsrun image save`` and imported with ``ctr``.
ctr's default spec has no network namespace path: the container gets an empty one (no traffic anywhere).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import NSRUN
from ocienv import records, unmount_under, write_runtime

IMAGE = "docker.io/library/busybox:latest"
NAMESPACE = "ocih"


class Containerd:
    def __init__(self, base: str) -> None:
        self.base = base
        self.sock = os.path.join(base, "c.sock")
        self.runtime = os.path.join(base, "nsrun-oci-runtime")
        write_runtime(self.runtime, os.path.join(base, "oci"), drop_root=True)
        config = os.path.join(base, "config.toml")
        with open(config, "w") as f:
            f.write(f"""version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = "{base}/debug.sock"
""")
        self.log = open(os.path.join(base, "containerd.log"), "wb")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while self("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"containerd did not start: see {base}/containerd.log")
            time.sleep(0.1)

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "-a", self.sock, "-n", NAMESPACE, *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self("run", "--runc-binary", self.runtime, *args, **kw)

    def remove(self, name: str) -> None:
        self("task", "kill", "-s", "KILL", name)
        self("task", "delete", "-f", name)
        self("container", "rm", name)

    def close(self) -> None:
        for name in self("container", "ls", "-q").stdout.split():
            self.remove(name)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd_env():
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed: apt-get install containerd (Makefile APT_PACKAGES)")
    base = tempfile.mkdtemp(prefix="ocih-ct-", dir="/tmp")
    engine = Containerd(base)
    try:
        image_root = tempfile.mkdtemp(prefix="img", dir=base)
        archive = os.path.join(base, "busybox.tar")
        subprocess.run([NSRUN, "--root", image_root, "image", "save", "busybox", "-o", archive], check=True,
                       capture_output=True)
        subprocess.run([NSRUN, "--root", image_root, "system", "reset"], capture_output=True)
        imported = engine("images", "import", archive)
        assert imported.returncode == 0, imported.stderr
        yield engine
    finally:
        engine.close()


@pytest.fixture
def ctr(containerd_env: Containerd, nsrun_root: str):
    write_runtime(containerd_env.runtime, nsrun_root, drop_root=True)
    yield containerd_env
    for name in containerd_env("container", "ls", "-q").stdout.split():
        containerd_env.remove(name)
    assert records(nsrun_root) == []


def test_run_rm_echo_exit_codes_and_a_refused_executable(ctr, unique):
    ok = ctr.run("--rm", IMAGE, f"ocih{unique}a", "echo", "hello")
    assert ok.returncode == 0 and ok.stdout == "hello\n", ok.stderr
    assert ctr.run("--rm", IMAGE, f"ocih{unique}b", "sh", "-c", "exit 3").returncode == 3
    missing = ctr.run("--rm", IMAGE, f"ocih{unique}c", "nosuchcmd")
    # ctr itself exits 1 for a task it could not create (with runc too); the shim shows our log line
    assert missing.returncode == 1 and 'exec: "nosuchcmd": executable file not found in $PATH' in missing.stderr


def test_detached_pause_resume_exec_ps_update_kill(ctr, nsrun_root, unique):
    name = f"ocih{unique}"
    script = "trap 'exit 9' USR1; while true; do sleep 0.05; done"
    assert ctr.run("-d", IMAGE, name, "sh", "-c", script).returncode == 0
    assert ctr("task", "pause", name).returncode == 0
    assert f"{name} " in ctr("task", "ls").stdout and "PAUSED" in ctr("task", "ls").stdout
    assert ctr("task", "resume", name).returncode == 0
    assert "RUNNING" in ctr("task", "ls").stdout
    ex = ctr("task", "exec", "--exec-id", "e1", name, "sh", "-c", "echo in exec; exit 4")
    assert ex.returncode == 4 and ex.stdout == "in exec\n", ex.stderr
    assert len(ctr("task", "ps", name).stdout.splitlines()) >= 2
    updated = subprocess.run([os.path.join(os.path.dirname(NSRUN), "nsrun-oci"), "--root", nsrun_root, "update",
                              "--pids-limit", "77", name], capture_output=True, text=True)
    assert updated.returncode == 0, updated.stderr
    pid = ctr("task", "ls").stdout.split()[-2]
    with open(f"/proc/{pid}/cgroup") as f:
        pids = [line for line in f.read().splitlines() if ":pids:" in line][0].split(":", 2)[2]
    with open(f"/sys/fs/cgroup/pids{pids}/pids.max") as f:
        assert f.read().strip() == "77"
    assert ctr("task", "kill", "-s", "USR1", name).returncode == 0
    deadline = time.monotonic() + 10
    while "STOPPED" not in ctr("task", "ls").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "STOPPED" in ctr("task", "ls").stdout
    ctr.remove(name)
