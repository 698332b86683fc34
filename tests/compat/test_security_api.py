"""The Docker API never lends the daemon's environment to a container, never accepts and ignores a security
field (the privilege fields themselves: ``test_privileges_api``), and maps ``--cgroupns`` onto the cgroup plugin — through the real docker CLI and docker-py."""
from __future__ import annotations

import os

import pytest

from conftest import Daemon

SECRET = "DECOY_SECRET"
DAEMON_VALUE = "daemon-only-7f3a"


@pytest.fixture
def secret_daemon(nsrun_root, docker_cli, monkeypatch):
    """A daemon whose own environment holds DECOY_SECRET; the test process (and so every client) does not."""
    monkeypatch.setenv(SECRET, DAEMON_VALUE)
    d = Daemon(nsrun_root).start()
    monkeypatch.delenv(SECRET)
    yield d
    d.stop()
    assert not d.leftovers(), "the test left containers behind"


def _env_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(SECRET)]


def test_the_daemons_environment_never_reaches_a_container(secret_daemon, nsrun):
    import docker
    client = docker.DockerClient(base_url=secret_daemon.unix_url, timeout=60)
    try:
        out = client.containers.run("busybox", ["env"], environment=[SECRET, "A=1"], network_mode="none",
                                    remove=True).decode()
    finally:
        client.close()
    assert "A=1" in out.splitlines() and DAEMON_VALUE not in out and not _env_lines(out), out
    # the docker CLI sends a bare NAME when its own environment lacks it: still nothing from the daemon
    out = secret_daemon.docker("run", "--rm", "--network", "none", "-e", SECRET, "busybox", "env", check=True).stdout
    assert DAEMON_VALUE not in out and not _env_lines(out), out
    # nsrun's own client fills -e NAME from ITS environment, before the request leaves it
    result = nsrun("-H", secret_daemon.unix_url, "run", "--rm", "--network", "none", "-e", SECRET, "busybox",
                   "env", env={SECRET: "client-value"})
    assert result.returncode == 0, result.stderr
    assert _env_lines(result.stdout) == [f"{SECRET}=client-value"], result.stdout


def test_exec_never_lends_the_daemons_environment_nor_ignores_privileged(secret_daemon):
    import docker
    client = docker.DockerClient(base_url=secret_daemon.unix_url, timeout=60)
    try:
        ctr = client.containers.run("busybox", ["sleep", "30"], network_mode="none", detach=True)
        try:
            code, out = ctr.exec_run(["env"], environment=[SECRET, "B=2"])
            assert code == 0 and "B=2" in out.decode() and DAEMON_VALUE not in out.decode(), out
            with pytest.raises(docker.errors.APIError, match="Privileged"):
                ctr.exec_run(["true"], privileged=True)
        finally:
            ctr.remove(force=True)
    finally:
        client.close()


def test_the_device_cgroup_rule_field_is_refused_by_name_and_creates_nothing(daemon):
    flags = ["--device-cgroup-rule", "c 1:3 rwm"]
    result = daemon.docker("run", "--rm", "--network", "none", *flags, "busybox", "true")
    assert result.returncode == 125, (result.returncode, result.stderr)
    assert "HostConfig.DeviceCgroupRules is not supported: the devices cgroup is not enforced" in result.stderr
    result = daemon.docker("create", "--network", "none", *flags, "busybox", "true")
    assert result.returncode != 0 and "HostConfig.DeviceCgroupRules" in result.stderr, result.stderr
    assert daemon.leftovers() == []
    assert daemon.docker("ps", "-aq", check=True).stdout.strip() == ""


def test_docker_run_cgroupns(daemon):
    with open("/proc/self/cgroup") as f:
        memory_line = next(line.strip().split(":", 1)[1] for line in f if ":memory:" in line)
    out = daemon.docker("run", "--rm", "--network", "none", "--cgroupns", "host", "busybox", "cat",
                        "/proc/self/cgroup", check=True).stdout
    mine = [line.split(":", 1)[1] for line in out.splitlines() if ":memory:" in line]
    assert mine and mine[0].startswith(memory_line.rstrip("/") + "/nsr"), out  # its own, beneath nsrun's: host paths
    out = daemon.docker("run", "--rm", "--network", "none", "--cgroupns", "private", "busybox", "cat",
                        "/proc/self/cgroup", check=True).stdout
    assert all(line.endswith(":/") for line in out.splitlines()), out
    assert not os.path.exists(os.path.join(daemon.root, "containers")) or daemon.leftovers() == []


def test_a_device_through_the_api_is_the_mnt_plugins_device(daemon):
    out = daemon.docker("run", "--rm", "--network", "none", "--device", "/dev/null:/dev/xnull", "busybox", "sh",
                        "-c", "echo hi > /dev/xnull && stat -c %t:%T /dev/xnull", check=True).stdout
    assert out.strip() == "1:3"   # the host's /dev/null, bound in
    result = daemon.docker("run", "--rm", "--network", "none", "--device", "/etc/hostname", "busybox", "true")
    assert result.returncode == 125 and "not a device node" in result.stderr, result.stderr
    assert daemon.leftovers() == []
