"""Limits, update, pause and unpause through the daemon with the real docker CLI and docker-py."""
from __future__ import annotations

import json

NONE = ("--network", "none")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _paths(daemon, name: str) -> dict:
    out = json.loads(daemon.docker("inspect", name, check=True).stdout)[0]
    return out["Nsrun"]["Info"]["Cgroup"]["paths"]


def test_docker_run_limits_update_pause_unpause(daemon):
    daemon.docker("run", "-d", *NONE, "--name", "cglapi", "--memory", "32m", "--cpus", "0.5", "--pids-limit",
                  "50", "busybox", "sleep", "30", check=True)
    try:
        p = _paths(daemon, "cglapi")
        assert _read(p["memory"] + "/memory.limit_in_bytes") == str(32 << 20)
        assert _read(p["cpu"] + "/cpu.cfs_quota_us") == "50000" and _read(p["pids"] + "/pids.max") == "50"
        fmt = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
        assert daemon.docker("inspect", "-f", fmt, "cglapi", check=True).stdout.split() == \
            [str(32 << 20), "500000000", "50"]
        daemon.docker("update", "--memory", "48m", "--memory-swap", "96m", "--pids-limit", "60", "cglapi", check=True)
        assert _read(p["memory"] + "/memory.limit_in_bytes") == str(48 << 20) and _read(p["pids"] + "/pids.max") == "60"
        daemon.docker("pause", "cglapi", check=True)
        assert _read(p["freezer"] + "/freezer.state") == "FROZEN"
        assert daemon.docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "cglapi",
                             check=True).stdout.split() == ["paused", "true"]
        assert "(Paused)" in daemon.docker("ps", check=True).stdout
        daemon.docker("unpause", "cglapi", check=True)
        assert _read(p["freezer"] + "/freezer.state") == "THAWED"
    finally:
        daemon.docker("rm", "-f", "cglapi", check=True)


def test_docker_bad_limits_are_400_with_one_line(daemon):
    r = daemon.docker("run", "--rm", *NONE, "--memory", "5m", "busybox", "true")
    assert r.returncode == 125 and "Minimum memory limit allowed is 6MB" in r.stderr
    r = daemon.docker("run", "--rm", *NONE, "--cpuset-cpus", "99", "busybox", "true")
    assert r.returncode == 125 and "Requested CPUs are not available" in r.stderr


def test_docker_py_mem_limit_and_oom(docker_client):
    import docker
    c = docker_client.containers.run("busybox", ["sleep", "30"], detach=True, name="cglpy", mem_limit="32m",
                                     pids_limit=40, network_mode="none")
    try:
        c.reload()
        assert c.attrs["HostConfig"]["Memory"] == 32 << 20 and c.attrs["HostConfig"]["PidsLimit"] == 40
        p = c.attrs["Nsrun"]["Info"]["Cgroup"]["paths"]
        assert _read(p["memory"] + "/memory.limit_in_bytes") == str(32 << 20)
        c.update(mem_limit="40m", memswap_limit="80m")
        assert _read(p["memory"] + "/memory.limit_in_bytes") == str(40 << 20)
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
    finally:
        c.remove(force=True)
    try:
        docker_client.containers.run("busybox", ["sh", "-c", "head -c 64m /dev/zero | tail"], mem_limit="16m",
                                     name="cgloompy", network_mode="none")
    except docker.errors.ContainerError as exc:
        assert exc.exit_status == 137
    oom = docker_client.containers.get("cgloompy")
    assert oom.attrs["State"]["OOMKilled"] is True
    oom.remove()
