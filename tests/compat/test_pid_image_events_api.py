"""Through ``nsrun daemon`` with the real docker CLI: ``--pid host`` (the pid plugin's ``HostConfig.PidMode``,
inspect showing it back, a 400 naming the field for what it refuses) and image events (``docker tag``, ``rmi``,
``image load`` seen by ``events --since`` with ``type=image``/``image=NAME`` filters). Names pdv*, TCP ports
19050-19099."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from conftest import Daemon

_PORTS = iter(range(19050 + (os.getpid() % 5) * 10, 19100))
NONE = ("--network", "none")


@pytest.fixture
def pdv(nsrun_root: str, docker_cli: str):
    d = Daemon(nsrun_root)
    d.port = next(_PORTS)
    d.start()
    yield d
    d.stop()
    assert d.leftovers() == [], "the test left containers behind"


def test_pid_host_with_init_and_inspect(pdv):
    d = pdv
    host_ns = os.readlink("/proc/self/ns/pid")
    out = d.docker("run", "--rm", *NONE, "--pid", "host", "--init", "busybox", "sh", "-c",
                   f"readlink /proc/self/ns/pid; test -d /proc/{os.getpid()} && echo seen", check=True).stdout
    assert out.split() == [host_ns, "seen"]
    d.docker("create", "--name", "pdvpid", *NONE, "--pid", "host", "busybox", "true", check=True)
    d.docker("create", "--name", "pdvpriv", *NONE, "busybox", "true", check=True)
    try:
        views = json.loads(d.docker("inspect", "pdvpid", "pdvpriv", check=True).stdout)
        assert [v["HostConfig"]["PidMode"] for v in views] == ["host", ""]
    finally:
        d.docker("rm", "pdvpid", "pdvpriv", check=True)
    res = d.docker("create", *NONE, "--pid", "container:pdvpid", "busybox", "true")
    assert res.returncode != 0 and "joining another container's PID namespace is not supported" in res.stderr
    status, body = _post(d, "/containers/create?name=pdvbad", {"Image": "busybox", "HostConfig": {"PidMode": "bogus"}})
    assert status == 400 and "HostConfig.PidMode 'bogus'" in body["message"], body   # the CLI checks this itself


def _post(d: Daemon, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
