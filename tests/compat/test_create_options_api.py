"""The docker CLI's create options mapped by their owners through ``nsrun daemon``: ``--add-host``, ``--dns*``
(net), ``--domainname``, ``--uts``, ``--ipc`` (uts, ipc), ``--stop-timeout`` (core): the effect inside the
container, inspect showing them back, bad values a 400 naming the field. Names cop*."""
from __future__ import annotations

import json
import os
import time


from conftest import Daemon

NONE = ("--network", "none")


def test_hosts_dns_domainname_and_inspect(daemon):
    d = daemon
    out = d.docker("run", "--rm", "--add-host", "db:10.9.8.7", "--add-host", "gw:host-gateway",
                   "--dns", "192.0.2.53", "--dns-search", "corp.example", "--dns-option", "ndots:3",
                   "-h", "box", "--domainname", "example.org", "busybox", "sh", "-c",
                   "grep -v localhost /etc/hosts; cat /etc/resolv.conf /proc/sys/kernel/domainname", check=True).stdout
    assert "10.9.8.7\tdb\n" in out and "\tgw\n" in out
    assert "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:3\nexample.org\n" in out
    d.docker("create", "--name", "copi", *NONE, "--add-host", "a:1.2.3.4", "--dns", "192.0.2.1",
             "--dns-search", "x.example", "--dns-option", "ndots:1", "--domainname", "ex.org",
             "--stop-timeout", "3", "--ipc", "host", "busybox", "true", check=True)
    try:
        view = json.loads(d.docker("inspect", "copi", check=True).stdout)[0]
        host = view["HostConfig"]
        assert (host["ExtraHosts"], host["Dns"], host["DnsSearch"], host["DnsOptions"], host["IpcMode"],
                host["UTSMode"]) == (["a:1.2.3.4"], ["192.0.2.1"], ["x.example"], ["ndots:1"], "host", "")
        assert (view["Config"]["Domainname"], view["Config"]["StopTimeout"]) == ("ex.org", 3)
    finally:
        d.docker("rm", "copi", check=True)


def test_ipc_and_uts_of_a_running_container_and_stop_timeout(daemon):
    d = daemon
    d.docker("run", "-d", "--name", "copsrv", *NONE, "-h", "copbox", "--stop-timeout", "1", "--ipc", "shareable",
             "busybox", "sh", "-c",
             "trap '' TERM; touch /dev/mqueue/copq; while :; do sleep 0.1; done", check=True)
    try:
        time.sleep(0.5)
        out = d.docker("run", "--rm", *NONE, "--ipc", "container:copsrv", "--uts", "host", "busybox",
                       "sh", "-c", "ls /dev/mqueue; hostname", check=True).stdout
        assert out.split() == ["copq", os.uname().nodename]   # (the docker CLI knows no --uts container:)
        start = time.monotonic()
        d.docker("stop", "copsrv", check=True)                  # no -t: the container's StopTimeout (1 s)
        assert time.monotonic() - start < 6
        res = d.docker("run", "--rm", *NONE, "--ipc", "container:copsrv", "busybox", "true")
        assert res.returncode == 125 and "cannot join IPC of a non running container: copsrv" in res.stderr
    finally:
        d.docker("rm", "-f", "copsrv")


def test_bad_values_are_a_400_naming_the_field(daemon):
    d = daemon
    for body, words in (({"HostConfig": {"Dns": ["1.2.3"]}}, "HostConfig.Dns"),
                        ({"HostConfig": {"ExtraHosts": ["nocolon"]}}, "HostConfig.ExtraHosts"),
                        ({"HostConfig": {"DnsSearch": ["bad_domain!"]}}, "HostConfig.DnsSearch"),
                        ({"HostConfig": {"IpcMode": "none"}}, "HostConfig.IpcMode"),
                        ({"HostConfig": {"UTSMode": "host"}, "Hostname": "box"}, "hostname and the UTS mode"),
                        ({"StopTimeout": "5"}, "StopTimeout")):
        status, reply = _post(d, body)
        assert status == 400 and words in reply["message"], (body, reply)
    assert "copbad" not in d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout  # nothing made


def _post(d: Daemon, extra: dict) -> tuple[int, dict]:
    body = {"Image": "busybox", "Cmd": ["true"], **extra}
    body["HostConfig"] = {"NetworkMode": "none", **extra.get("HostConfig", {})}
    return d.post_json("/v1.41/containers/create?name=copbad", body)
