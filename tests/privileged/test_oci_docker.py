"""dockerd (Debian's docker.io 20.10, through its own containerd and the runc shim) drives nsrun-oci:
``docker run --runtime nsrun``.

The dockerd is private to this module: its own --data-root, --exec-root, unix socket and pidfile,
``--bridge=none --iptables=false --ip6tables=false --ip-masq=false`` (the host's docker0 and firewall are never
touched), ``--add-runtime nsrun=<script>``. The shim passes its own ``--root`` first; the script puts the test's
root in its place, so the leak check sees every record and cgroup. Every container runs ``--network none``; the
image is imported from a busybox tarball. The docker CLI is the one at /usr/local/bin (or Debian's).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from ocienv import busybox_tar, records, unmount_under, write_runtime

IMAGE = "ocih-busybox"


class Dockerd:
    def __init__(self, base: str) -> None:
        self.base = base
        self.sock = os.path.join(base, "d.sock")
        self.runtime = os.path.join(base, "nsrun-oci-runtime")
        write_runtime(self.runtime, os.path.join(base, "oci"), drop_root=True)
        self.log = open(os.path.join(base, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(base, "data"), "--exec-root", os.path.join(base, "ex"),
             "-H", f"unix://{self.sock}", "--pidfile", os.path.join(base, "d.pid"), "--bridge=none",
             "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--add-runtime", f"nsrun={self.runtime}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while self("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dockerd did not start: see {base}/dockerd.log")
            time.sleep(0.2)

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", f"unix://{self.sock}", *args], capture_output=True, text=True,
                              timeout=timeout)

    def close(self) -> None:
        self("rm", "-f", *self("ps", "-aq").stdout.split())
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
def dockerd_env():
    for tool in ("dockerd", "docker", "containerd", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed: apt-get install docker.io containerd (Makefile APT_PACKAGES)")
    base = tempfile.mkdtemp(prefix="ocih-dk-", dir="/tmp")
    engine = Dockerd(base)
    try:
        tar = os.path.join(base, "busybox.tar")
        busybox_tar(tar)
        imported = engine("import", tar, IMAGE)
        assert imported.returncode == 0, imported.stderr
        yield engine
    finally:
        engine.close()


@pytest.fixture
def docker(dockerd_env: Dockerd, nsrun_root: str):
    write_runtime(dockerd_env.runtime, nsrun_root, drop_root=True)
    yield dockerd_env
    ids = dockerd_env("ps", "-aq").stdout.split()
    if ids:
        dockerd_env("rm", "-f", *ids)
    deadline = time.monotonic() + 10
    while records(nsrun_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert records(nsrun_root) == []


def run(docker: Dockerd, *args: str, **kw) -> subprocess.CompletedProcess:
    return docker("run", "--runtime", "nsrun", "--network", "none", *args, **kw)


def test_run_rm_echo_exit_codes_and_a_missing_executable(docker):
    ok = run(docker, "--rm", IMAGE, "echo", "hello")
    assert ok.returncode == 0 and ok.stdout == "hello\n", ok.stderr
    assert run(docker, "--rm", IMAGE, "sh", "-c", "exit 3").returncode == 3
    missing = run(docker, "--rm", IMAGE, "nosuchcmd")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr


def test_detached_exec_logs_kill_with_a_trapped_signal_and_rm(docker, unique):
    name = f"ocih{unique}"
    script = "trap 'echo got USR1; exit 9' USR1; echo started; while true; do sleep 0.05; done"
    started = run(docker, "-d", "--name", name, IMAGE, "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 10
    while "started" not in docker("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    ex = docker("exec", name, "sh", "-c", "echo in exec; exit 4")
    assert ex.returncode == 4 and ex.stdout == "in exec\n", ex.stderr
    missing = docker("exec", name, "nosuchcmd")
    assert missing.returncode == 126 and "executable file not found" in missing.stdout  # as with runc, here
    assert docker("kill", "-s", "USR1", name).returncode == 0
    assert docker("wait", name).stdout.strip() == "9"
    assert docker("logs", name).stdout == "started\ngot USR1\n"
    assert docker("rm", name).returncode == 0


def test_a_terminal_stop_and_no_network(docker, unique):
    tty = subprocess.run(["script", "-qec", f"docker -H unix://{docker.sock} run --rm -it --runtime nsrun "
                          f"--network none {IMAGE} sh -c 'tty; exit 5'", "/dev/null"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert tty.returncode == 5 and "/dev/pts/0" in tty.stdout
    name = f"ocih{unique}"
    assert run(docker, "-d", "--name", name, IMAGE, "sleep", "60").returncode == 0
    links = docker("exec", name, "cat", "/proc/net/dev").stdout
    assert [line.split(":")[0].strip() for line in links.splitlines()[2:]] == ["lo"]
    assert docker("stop", "-t", "1", name).returncode == 0
    assert docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split() == \
        ["exited", "137"]
    assert docker("rm", name).returncode == 0


def test_pause_unpause_and_update_of_a_limit(docker, nsrun_root, unique):
    name = f"ocih{unique}"
    assert run(docker, "-d", "--name", name, IMAGE, "sleep", "60").returncode == 0
    paused = docker("pause", name)
    assert paused.returncode == 0, paused.stderr
    assert docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip() == "paused"
    pid = docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    with open(f"/proc/{pid}/cgroup") as f:
        freezer = [line for line in f.read().splitlines() if ":freezer:" in line][0].split(":", 2)[2]
    with open(f"/sys/fs/cgroup/freezer{freezer}/freezer.state") as f:
        assert f.read().strip() == "FROZEN"
    assert docker("unpause", name).returncode == 0
    assert docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip() == "running"
    updated = docker("update", "--pids-limit", "64", name)
    assert updated.returncode == 0, updated.stderr
    with open(f"/proc/{pid}/cgroup") as f:
        own = [line for line in f.read().splitlines() if ":pids:" in line][0].split(":", 2)[2]
    with open(f"/sys/fs/cgroup/pids{own}/pids.max") as f:
        assert f.read().strip() == "64"
    assert docker("rm", "-f", name).returncode == 0
