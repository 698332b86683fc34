"""Pure parts of the create options: the net plugin's /etc/hosts and resolv.conf contents, and each owner's
mapping of its Docker create fields (``HostConfig.ExtraHosts``, ``Dns*``, ``IpcMode``, ``UTSMode``,
``Domainname``, ``StopTimeout``)."""
from __future__ import annotations

import pytest

from nsrun import ConfigError
from nsrun._plugins import default_selection, installed_manager
from nsrun.daemon.convert import create_args
from nsrun_ns_net import names

HOOK = installed_manager().subset("docker_create", default_selection())
BODY = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}
HOST = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan corp\noptions edns0\n"


def test_extra_hosts_forms():
    assert names.extra_hosts(["db:10.0.0.5", "v6:::1", "b=[fd00::1]", "gw:host-gateway"]) == \
        [("db", "10.0.0.5"), ("v6", "::1"), ("b", "fd00::1"), ("gw", "host-gateway")]
    for bad in ("db", "db:", ":1.2.3.4", "db:1.2.3.4.5", "db:gateway"):
        with pytest.raises(ConfigError, match="invalid --add-host"):
            names.extra_hosts([bad])


def test_resolv_conf_replaces_only_the_parts_given():
    assert names.resolv_conf(HOST, ["1.1.1.1"], [], []) == "nameserver 1.1.1.1\nsearch lan corp\noptions edns0\n"
    assert names.resolv_conf(HOST, [], ["x.example"], ["ndots:2"]) == \
        "nameserver 10.0.0.2\nsearch x.example\noptions ndots:2\n"
    assert names.resolv_conf("nameserver 127.0.0.1\n", [], ["."], []) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    with pytest.raises(ConfigError, match="not an IP address"):
        names.check_dns(["1.2.3"])
    with pytest.raises(ConfigError, match="not a valid domain"):
        names.check_search(["-bad"])
    assert names.check_search([".", "a.example."]) == [".", "a.example."]


def test_each_owner_maps_its_create_fields():
    body = {**BODY, "Domainname": "ex.org", "StopTimeout": 0,
            "HostConfig": {"NetworkMode": "none", "ExtraHosts": ["a:1.2.3.4"], "Dns": ["9.9.9.9"],
                           "DnsSearch": ["x.example"], "DnsOptions": ["ndots:1"], "IpcMode": "container:db",
                           "UTSMode": "host"}}
    args = create_args(body, None, HOOK)
    assert args["stop_timeout"] == 0                                  # a pointer in Docker's API: 0 is a value
    assert args["options"] == {"network": "none", "add_hosts": ["a:1.2.3.4"], "dns": ["9.9.9.9"],
                               "dns_search": ["x.example"], "dns_options": ["ndots:1"], "ipc": "container:db",
                               "uts": "host", "domainname": "ex.org"}
    assert "stop_timeout" not in create_args(BODY, None, HOOK)
    for host, field in (({"Dns": ["x"]}, "HostConfig.Dns"), ({"ExtraHosts": ["x"]}, "HostConfig.ExtraHosts"),
                        ({"IpcMode": "none"}, "HostConfig.IpcMode"), ({"UTSMode": "bogus"}, "HostConfig.UTSMode")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            create_args({**BODY, "HostConfig": {"NetworkMode": "none", **host}}, None, HOOK)
    with pytest.raises(ConfigError, match="StopTimeout"):
        create_args({**BODY, "StopTimeout": "5"}, None, HOOK)


def test_pid_and_ipc_join_modes_are_mapped_by_their_owners():
    def options(**host):
        return create_args({**BODY, "HostConfig": {"NetworkMode": "none", **host}}, None, HOOK)["options"]
    assert options(PidMode="container:db")["pid"] == "container:db"
    assert options(IpcMode="shareable")["ipc"] == "shareable"        # kept: it says who may join
    assert "ipc" not in options(IpcMode="private") and "pid" not in options(PidMode="")
    for host, field in (({"PidMode": "container:"}, "HostConfig.PidMode"), ({"PidMode": "cont:x"}, "HostConfig.PidMode")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            create_args({**BODY, "HostConfig": {"NetworkMode": "none", **host}}, None, HOOK)
