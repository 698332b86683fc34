"""Health checks run by the container's supervisor: ``--health-cmd`` and its timings, Docker's
``Config.Healthcheck`` from docker-py, ``State.Health`` (``starting`` -> ``healthy``/``unhealthy``, the
failing streak, the last probes' output), ``(healthy)`` in ``docker ps``, the ``health`` filter; bad timings
refused."""
from __future__ import annotations

import json
from waiting import wait_for

NONE = ("--network", "none")


def _health(d, name):
    return json.loads(d.docker("inspect", "-f", "{{json .State.Health}}", name, check=True).stdout)


def test_health_cmd_healthy_then_unhealthy(daemon, nsrun):
    d = daemon
    d.docker("run", "-d", "--name", "dmnh-hc", *NONE, "--health-cmd", "cat /tmp/ok", "--health-interval", "200ms",
             "--health-retries", "2", "--health-timeout", "2s", "busybox", "sh", "-c", "sleep 0.5; touch /tmp/ok; sleep 60",
             check=True)
    try:
        assert _health(d, "dmnh-hc")["Status"] == "starting"
        assert wait_for(lambda: _health(d, "dmnh-hc")["Status"] == "healthy")
        ps = d.docker("ps", "--format", "{{.Names}} {{.Status}}", check=True).stdout
        assert "dmnh-hc Up" in ps and "(healthy)" in ps
        names = d.docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}", check=True).stdout.split()
        assert names == ["dmnh-hc"]
        d.docker("exec", "dmnh-hc", "rm", "/tmp/ok", check=True)
        assert wait_for(lambda: _health(d, "dmnh-hc")["Status"] == "unhealthy")
        health = _health(d, "dmnh-hc")
        assert health["FailingStreak"] >= 2 and len(health["Log"]) <= 5
        assert health["Log"][-1]["ExitCode"] == 1 and "No such file" in health["Log"][-1]["Output"]
        config = json.loads(d.docker("inspect", "-f", "{{json .Config.Healthcheck}}", "dmnh-hc", check=True).stdout)
        assert config == {"Test": ["CMD-SHELL", "cat /tmp/ok"], "Interval": 200_000_000, "Timeout": 2_000_000_000,
                          "Retries": 2}
    finally:
        d.docker("rm", "-f", "dmnh-hc", check=True)
    for args, words in ((("--health-interval", "500us", "--health-cmd", "true"), "cannot be less than 1ms"),
                        (("--health-retries", "x", "--health-cmd", "true"), "--health-retries"),
                        (("--health-interval", "soon", "--health-cmd", "true"), "--health-interval")):
        res = nsrun("run", "--rm", *NONE, *args, "busybox", "true")
        assert res.returncode == 125 and words in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_docker_py_healthcheck_and_timeout(daemon, docker_client):
    import docker.errors
    import pytest
    c = docker_client.containers.run("busybox", "sleep 60", detach=True, network_mode="none", name="dmnh-hpy",
                                     healthcheck={"Test": ["CMD", "sleep", "5"], "Interval": 300_000_000,
                                                  "Timeout": 300_000_000, "Retries": 1})
    try:
        assert wait_for(lambda: (c.reload() or True) and c.attrs["State"]["Health"]["Status"] == "unhealthy")
        log = c.attrs["State"]["Health"]["Log"][-1]
        assert log["ExitCode"] == -1 and "exceeded timeout" in log["Output"]
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.APIError) as err:
        docker_client.containers.create("busybox", "true", healthcheck={"Test": ["CMD", "true"], "Interval": 10})
    assert err.value.status_code == 400 and "1ms" in str(err.value)
    assert daemon.docker("ps", "-aq", check=True).stdout == ""
