"""Restart policies kept by each container's supervisor (``--restart on-failure[:N]|always|unless-stopped``,
``HostConfig.RestartPolicy``): counted in ``RestartCount``, never after ``stop``/``kill``, and still kept while
the daemon is down; ``docker rename``; bad policies refused with one line."""
from __future__ import annotations

import json
import time
from waiting import wait_for

NONE = ("--network", "none")


def _state(d, name):
    return json.loads(d.docker("inspect", "-f", "{{json .State}} {{.RestartCount}}", name, check=True)
                      .stdout.rsplit(" ", 1)[0]), int(d.docker("inspect", "-f", "{{.RestartCount}}", name,
                                                              check=True).stdout)


def test_on_failure_with_a_limit(daemon):
    d = daemon
    d.docker("run", "-d", "--name", "dmnh-of", *NONE, "--restart", "on-failure:2", "busybox", "sh", "-c",
             "echo run; exit 3", check=True)
    try:
        assert wait_for(lambda: _state(d, "dmnh-of")[1] == 2 and _state(d, "dmnh-of")[0]["Status"] == "exited")
        state, count = _state(d, "dmnh-of")
        assert state["ExitCode"] == 3 and not state["Restarting"]
        assert d.docker("logs", "dmnh-of", check=True).stdout == "run\nrun\nrun\n"
        policy = json.loads(d.docker("inspect", "-f", "{{json .HostConfig.RestartPolicy}}", "dmnh-of", check=True).stdout)
        assert policy == {"Name": "on-failure", "MaximumRetryCount": 2}
        time.sleep(0.5)
        assert _state(d, "dmnh-of")[1] == 2       # no more after the limit
    finally:
        d.docker("rm", "-f", "dmnh-of", check=True)


def test_always_survives_a_daemon_restart_and_stops_on_stop(daemon):
    d = daemon
    d.docker("run", "-d", "--name", "dmnh-al", *NONE, "--restart", "always", "busybox", "sh", "-c", "sleep 0.2",
             check=True)
    try:
        assert wait_for(lambda: _state(d, "dmnh-al")[1] >= 1)
        # docker ps (without -a) lists it while it runs and while it waits to run again
        assert wait_for(lambda: "Restarting" in d.docker("ps", "--format", "{{.Status}}", check=True).stdout)
        d.stop()                                   # the supervisor keeps the policy on its own
        time.sleep(1.0)
        d.start()
        before = _state(d, "dmnh-al")[1]
        assert before >= 2 and wait_for(lambda: _state(d, "dmnh-al")[1] > before)
        d.docker("stop", "-t", "1", "dmnh-al", check=True)
        assert wait_for(lambda: _state(d, "dmnh-al")[0]["Status"] == "exited")
        after = _state(d, "dmnh-al")[1]
        time.sleep(1.0)
        assert _state(d, "dmnh-al")[1] == after and _state(d, "dmnh-al")[0]["Status"] == "exited"
        # killed: not restarted either
        d.docker("start", "dmnh-al", check=True)
        d.docker("kill", "dmnh-al")
        assert wait_for(lambda: _state(d, "dmnh-al")[0]["Status"] == "exited")
        time.sleep(0.8)
        assert _state(d, "dmnh-al")[0]["Status"] == "exited"
    finally:
        d.docker("rm", "-f", "dmnh-al", check=True)


def test_docker_py_restart_policy_and_bad_policies(daemon, docker_client, nsrun):
    c = docker_client.containers.run("busybox", "sh -c 'exit 1'", detach=True, network_mode="none",
                                     restart_policy={"Name": "on-failure", "MaximumRetryCount": 1}, name="dmnh-py")
    try:
        assert wait_for(lambda: (c.reload() or True) and c.attrs["RestartCount"] == 1 and c.status == "exited")
    finally:
        c.remove(force=True)
    res = daemon.docker("run", "-d", *NONE, "--restart", "on-failure:x", "busybox", "true")
    assert res.returncode == 125, res.stderr
    res = nsrun("run", "-d", *NONE, "--restart", "sometimes", "busybox", "true")
    assert res.returncode == 125 and res.stderr.count("\n") == 1 and "invalid restart policy" in res.stderr
    res = nsrun("run", "--rm", *NONE, "--restart", "always", "busybox", "true")
    assert res.returncode == 125 and "Conflicting options" in res.stderr
    import docker.errors
    import pytest
    with pytest.raises(docker.errors.APIError) as err:
        docker_client.containers.create("busybox", "true", restart_policy={"Name": "always", "MaximumRetryCount": 3})
    assert err.value.status_code == 400 and "maximum retry count" in str(err.value)
    assert daemon.docker("ps", "-aq", check=True).stdout == ""


def test_rename(daemon, nsrun):
    d = daemon
    d.docker("create", "--name", "dmnh-one", *NONE, "busybox", "true", check=True)
    d.docker("create", "--name", "dmnh-two", *NONE, "busybox", "true", check=True)
    try:
        d.docker("rename", "dmnh-one", "dmnh-uno", check=True)
        names = d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
        assert sorted(names) == ["dmnh-two", "dmnh-uno"]
        assert d.docker("inspect", "-f", "{{.Name}}", "dmnh-uno", check=True).stdout.strip() == "/dmnh-uno"
        res = d.docker("rename", "dmnh-uno", "dmnh-two")
        assert res.returncode == 1 and "is already in use" in res.stderr
        res = d.docker("rename", "dmnh-nosuch", "dmnh-x")
        assert res.returncode == 1 and "No such container" in res.stderr
        res = nsrun("rename", "dmnh-uno", "bad name")
        assert res.returncode == 125 and "Invalid container name" in res.stderr
        nsrun("rename", "dmnh-uno", "dmnh-one", check=True)
        d.docker("start", "dmnh-one", check=True)          # the new name is used from then on
    finally:
        d.docker("rm", "-f", "dmnh-one", "dmnh-uno", "dmnh-two")
