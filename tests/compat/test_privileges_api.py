"""The privilege and process fields of ``HostConfig`` through the real docker CLI and docker-py: each is
mapped by the plugin that applies it, works inside the container, shows in inspect, and bad values are a
400 that creates nothing."""
from __future__ import annotations

import pytest

NONE = ("--network", "none")


def _mask(out: str, field: str) -> int:
    return int(next(l for l in out.splitlines() if l.startswith(field + ":")).split()[1], 16)


def test_docker_run_cap_add_privileged_read_only(daemon):
    out = daemon.docker("run", "--rm", *NONE, "--cap-add", "NET_ADMIN", "busybox", "sh", "-c",
                        "grep CapEff /proc/self/status; ip link set lo mtu 1300 && echo net-admin-ok",
                        check=True).stdout
    assert _mask(out, "CapEff") == 0xA80425FB | 1 << 12 and "net-admin-ok" in out, out
    out = daemon.docker("run", "--rm", *NONE, "--privileged", "busybox", "sh", "-c",
                        "grep Seccomp: /proc/self/status; mkdir -p /m && mount -t tmpfs prv /m && echo mounted",
                        check=True).stdout
    assert "Seccomp:\t0" in out and "mounted" in out, out
    r = daemon.docker("run", "--rm", *NONE, "--read-only", "busybox", "sh", "-c", "touch /x 2>&1; touch /tmp/y 2>&1")
    assert r.stdout.count("Read-only file system") == 2, r.stdout
    assert daemon.leftovers() == []


def test_docker_run_ulimit_sysctl_shm_size_and_inspect(daemon):
    out = daemon.docker("run", "--rm", *NONE, "--ulimit", "nofile=1024:2048", "--sysctl", "net.ipv4.ip_forward=1",
                        "--sysctl", "kernel.shmmax=654321", "--shm-size", "8m", "busybox", "sh", "-c",
                        "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; "
                        "df -k /dev/shm | tail -1", check=True).stdout.split()
    assert out[:5] == ["1024", "2048", "1", "654321", "shm"] and out[5] == "8192", out
    daemon.docker("create", "--name", "prvinspect", *NONE, "--cap-add", "SYS_PTRACE", "--cap-drop", "CHOWN",
                  "--read-only", "--ulimit", "nofile=100:200", "--sysctl", "kernel.shmmax=1000",
                  "--oom-score-adj", "300", "--group-add", "10", "--security-opt", "no-new-privileges=false",
                  "busybox", "true", check=True)
    try:
        fmt = ("{{.HostConfig.CapAdd}} {{.HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}} "
               "{{.HostConfig.OomScoreAdj}} {{.HostConfig.GroupAdd}} {{.HostConfig.Sysctls}} "
               "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}} {{.HostConfig.SecurityOpt}}")
        out = daemon.docker("inspect", "--format", fmt, "prvinspect", check=True).stdout.strip()
        assert out == ("[CAP_SYS_PTRACE] [CAP_CHOWN] true 300 [10] map[kernel.shmmax:1000] nofile=100:200 "
                       "[no-new-privileges=false]"), out
    finally:
        daemon.docker("rm", "prvinspect", check=True)
    assert daemon.leftovers() == []


@pytest.mark.parametrize("flags, message", [
    (["--cap-add", "NOPE"], "unknown capability"),
    (["--ulimit", "nofile=999999:999999"], "above nsrun's own"),
    (["--sysctl", "kernel.shmmax=1", "--ipc", "host"], "not allowed when IpcMode is host"),  # dockerd's words
    (["--oom-score-adj", "-999"], "CAP_SYS_RESOURCE"),
])
def test_bad_privilege_values_are_one_line_and_create_nothing(daemon, flags, message):
    result = daemon.docker("run", "--rm", *NONE, *flags, "busybox", "true")
    assert result.returncode == 125 and message in result.stderr, result.stderr
    assert daemon.leftovers() == []
    assert daemon.docker("ps", "-aq", check=True).stdout.strip() == ""


def test_docker_py_privilege_options(docker_client):
    out = docker_client.containers.run(
        "busybox", ["sh", "-c", "grep -E 'CapEff|NoNewPrivs' /proc/self/status; ulimit -n; "
                    "cat /proc/self/oom_score_adj; id -G; touch / 2>&1; true"],
        network_mode="none", remove=True, cap_drop=["ALL"], cap_add=["KILL"], read_only=True,
        ulimits=[{"Name": "nofile", "Soft": 333, "Hard": 333}], oom_score_adj=444, group_add=["10"],
        security_opt=["no-new-privileges"], sysctls={"kernel.domainname": "prv.example"}).decode()
    assert _mask(out, "CapEff") == 1 << 5 and "NoNewPrivs:\t1" in out, out
    lines = out.splitlines()
    assert "333" in lines and "444" in lines and "0 10" in lines and "Read-only file system" in out, out
    out = docker_client.containers.run("busybox", ["grep", "Seccomp:", "/proc/self/status"], network_mode="none",
                                       remove=True, privileged=True).decode()
    assert "Seccomp:\t0" in out
    import docker
    with pytest.raises(docker.errors.APIError, match=r"HostConfig\.Sysctls\.vm\.swappiness is not supported"):
        docker_client.containers.create("busybox", ["true"], network_mode="none", sysctls={"vm.swappiness": "1"})
    assert docker_client.containers.list(all=True) == []
