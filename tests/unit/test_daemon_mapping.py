"""The daemon's pure parts: -H parsing and the loopback/TLS rule, Docker JSON <-> nsrun data."""
from __future__ import annotations

import types

import pytest

from nsrun import ConfigError
from nsrun._context import ContainerSpec
from nsrun._plugins import default_selection, installed_manager
from nsrun.daemon.convert import BadRequest, container_json, create_args, parse_bool, ps_item, rfc3339
from nsrun.daemon.hosts import Host, TlsFiles, check_hosts, parse_host
from nsrun_ns_net.docker_fields import port_strings

HOOK = installed_manager().subset("docker_create", default_selection())  # each plugin maps its own fields


def view_hook(rec):
    return installed_manager().subset("docker_view", rec.spec.plugins)


@pytest.mark.parametrize("text, host", [
    ("unix:///run/nsrun.sock", Host("unix", path="/run/nsrun.sock")),
    ("/tmp/x.sock", Host("unix", path="/tmp/x.sock")),
    ("tcp://127.0.0.1:2375", Host("tcp", ip="127.0.0.1", port=2375)),
    ("tcp://[::1]:2376", Host("tcp", ip="::1", port=2376)),
    ("tcp://0.0.0.0:2376", Host("tcp", ip="0.0.0.0", port=2376)),
])
def test_parse_host(text, host):
    assert parse_host(text) == host


@pytest.mark.parametrize("text", ["", "unix://relative.sock", "tcp://127.0.0.1", "tcp://:80", "http://x:1",
                                  "ssh://me@host", "tcp://127.0.0.1:99999", "tcp://1.2.3.4:80/path"])
def test_parse_host_rejects(text):
    with pytest.raises(ConfigError):
        parse_host(text)


def test_plain_tcp_only_on_loopback():
    check_hosts([parse_host("unix:///x.sock"), parse_host("tcp://127.0.0.1:1"), parse_host("tcp://127.9.9.9:1"),
                 parse_host("tcp://[::1]:1"), parse_host("tcp://localhost:1")], None)
    for addr in ("tcp://0.0.0.0:1", "tcp://[::]:1", "tcp://10.1.2.3:1", "tcp://example.com:1"):
        with pytest.raises(ConfigError, match="without TLS"):
            check_hosts([parse_host(addr)], None)
        check_hosts([parse_host(addr)], TlsFiles("ca", "cert", "key"))
    assert str(parse_host("tcp://[::1]:5")) == "tcp://[::1]:5"


@pytest.mark.parametrize("raw, value", [("1", True), ("true", True), ("True", True), ("0", False),
                                        ("False", False), ("false", False), (None, False), ("", False)])
def test_parse_bool_takes_what_both_clients_send(raw, value):
    assert parse_bool(raw) is value


def test_parse_bool_rejects_garbage():
    with pytest.raises(BadRequest):
        parse_bool("maybe", "all")


def test_port_bindings_become_publish_strings():
    assert port_strings({"80/tcp": [{"HostIp": "", "HostPort": "18080"}],
                         "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
                         "81/tcp": [{"HostIp": "", "HostPort": ""}], "82/tcp": None,
                         "83": [{"HostIp": "127.0.0.1", "HostPort": ""}]}) == \
        ["18080:80/tcp", "127.0.0.1:5353:53/udp", "81/tcp", "82/tcp", "127.0.0.1::83/tcp"]
    for bad in ({"http/tcp": []}, {"80/tcp": ["x"]}, {"80/tcp": "18080"}):
        with pytest.raises(ConfigError):
            port_strings(bad)


CLI_BODY = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
            "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": ["A=1"],
            "Cmd": ["echo", "hi"], "Image": "busybox", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
            "OnBuild": None, "Labels": {},
            "HostConfig": {"Binds": None, "NetworkMode": "default", "PortBindings": {}, "AutoRemove": True,
                           "ConsoleSize": [0, 0], "RestartPolicy": {"Name": "no"}, "MemorySwappiness": -1,
                           "Privileged": False, "CapAdd": None, "CapDrop": None, "Devices": [],
                           "DeviceCgroupRules": None, "CgroupnsMode": ""},
            "NetworkingConfig": {"EndpointsConfig": {"default": {}}}}


def test_create_body_from_the_docker_cli():
    args = create_args(CLI_BODY, "web", HOOK)
    assert args == {"argv": ["echo", "hi"], "image": "busybox", "name": "web", "env": {"A": "1"}, "workdir": None,
                    "user": None, "tty": False, "interactive": False, "detach": True, "remove": True,
                    "options": {}, "entrypoint": None, "stop_signal": None, "group_add": [], "labels": {},
                    "restart": "", "log_opts": {}, "stdin_once": False, "attach": (False, True, True)}


def test_stdin_once_and_the_attach_flags_are_kept_as_the_client_sent_them():
    """``docker run -i``: OpenStdin, AttachStdin and StdinOnce; ``run -di`` / ``create -i``: OpenStdin only."""
    attached = create_args({**CLI_BODY, "OpenStdin": True, "AttachStdin": True, "StdinOnce": True}, None, HOOK)
    assert (attached["interactive"], attached["stdin_once"], attached["attach"]) == (True, True, (True, True, True))
    detached = create_args({**CLI_BODY, "OpenStdin": True, "AttachStdout": False, "AttachStderr": False}, None,
                           HOOK)
    assert (detached["interactive"], detached["stdin_once"], detached["attach"]) == (True, False,
                                                                                     (False, False, False))


def test_create_body_maps_onto_plugin_options():
    body = {**CLI_BODY, "Hostname": "box", "Entrypoint": ["/bin/sh", "-c"], "Cmd": "date", "Tty": True,
            "OpenStdin": True, "HostConfig": {"Binds": ["/src:/dst:ro"], "Init": True, "NetworkMode": "none",
                                              "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
            "ExposedPorts": {"80/tcp": {}}}
    args = create_args(body, None, HOOK)
    assert args["entrypoint"] == ["/bin/sh", "-c"] and args["argv"] == ["date"]  # merged by Engine.prepare
    assert args["tty"] and args["interactive"]
    assert args["options"] == {"hostname": "box", "init": True, "volumes": ["/src:/dst:ro"], "network": "none",
                               "publish": ["8080:80/tcp"], "expose": ["80/tcp"]}
    assert create_args({"Image": "busybox"}, None, HOOK)["options"] == {}
    assert create_args({"Image": "busybox"}, None, HOOK)["argv"] == []  # the image's Cmd, in prepare


def test_entrypoint_and_stop_signal_as_the_docker_cli_sends_them():
    cleared = create_args({**CLI_BODY, "Entrypoint": [""], "Cmd": None}, None, HOOK)
    assert cleared["entrypoint"] == [""] and cleared["argv"] == []  # --entrypoint "": clear the image's
    args = create_args({**CLI_BODY, "StopSignal": "SIGUSR1"}, None, HOOK)
    assert args["stop_signal"] == "SIGUSR1"
    assert create_args({**CLI_BODY, "HostConfig": {"PublishAllPorts": True}}, None, HOOK)["options"] == \
        {"publish_all": True}
    # labels are the container's metadata: kept, all of them (a plugin may read one too)
    assert create_args({**CLI_BODY, "Labels": {"a": "1"}}, None, HOOK)["labels"] == {"a": "1"}
    with pytest.raises(ConfigError, match="Labels"):
        create_args({**CLI_BODY, "Labels": {"a": 1}}, None, HOOK)


@pytest.mark.parametrize("host, field", [({"Isolation": "hyperv"}, "HostConfig.Isolation"),
                                         ({"VolumeDriver": "x"}, "HostConfig.VolumeDriver"),
                                         ({"CpuRealtimePeriod": 1000}, "HostConfig.CpuRealtimePeriod"),
                                         ({"LogConfig": {"Type": "syslog"}}, "HostConfig.LogConfig.Type")])
def test_a_field_nobody_maps_is_refused_by_name(host, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        create_args({**CLI_BODY, "HostConfig": {**CLI_BODY["HostConfig"], **host}}, None, HOOK)



def test_fixed_address_mac_and_links_are_the_net_plugins():
    body = {**CLI_BODY, "MacAddress": "02:42:AC:11:00:02",
            "HostConfig": {**CLI_BODY["HostConfig"], "NetworkMode": "ncr-n", "Links": ["/web:/me/db", "cache"]},
            "NetworkingConfig": {"EndpointsConfig": {"ncr-n": {"IPAMConfig": {"IPv4Address": "10.218.5.9",
                                                                              "IPv6Address": "fd18:5::9"}}}}}
    options = create_args(body, None, HOOK)["options"]
    assert options["mac_address"] == "02:42:ac:11:00:02" and options["links"] == ["web:db", "cache:cache"]
    assert options["ip"] == "10.218.5.9" and options["ip6"] == "fd18:5::9"
    for bad, field in (({"MacAddress": "01:00:5e:00:00:01"}, "MacAddress"),
                       ({"HostConfig": {**CLI_BODY["HostConfig"], "Links": [":x"]}}, "HostConfig.Links"),
                       ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"LinkLocalIPs": ["x"]}}}}},
                        "IPAMConfig.LinkLocalIPs")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            create_args({**CLI_BODY, **bad}, None, HOOK)


def test_restart_policy_from_the_api():
    def policy(p):
        return create_args({**CLI_BODY, "HostConfig": {"RestartPolicy": p}}, None, HOOK)["restart"]
    assert policy({"Name": "always"}) == "always" and policy({"Name": "no"}) == ""
    assert policy({"Name": "on-failure", "MaximumRetryCount": 3}) == "on-failure:3"
    for bad in ({"Name": "always", "MaximumRetryCount": 2}, {"Name": "on-failure", "MaximumRetryCount": -1}):
        with pytest.raises(ConfigError, match="RestartPolicy"):
            policy(bad)


def test_endpoint_aliases_are_taken_other_endpoint_settings_refused_by_name():
    body = {**CLI_BODY, "HostConfig": {"NetworkMode": "app_default"},
            "NetworkingConfig": {"EndpointsConfig": {"app_default": {"Aliases": ["db", "db"]}}}}
    assert create_args(body, None, HOOK)["options"] == {"network": "app_default", "network_aliases": ["db"]}
    body["NetworkingConfig"]["EndpointsConfig"]["app_default"]["DriverOpts"] = {"a": "b"}
    with pytest.raises(ConfigError, match=r"NetworkingConfig\.EndpointsConfig\.app_default\.DriverOpts"):
        create_args(body, None, HOOK)
    bad = {**CLI_BODY, "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": ["no spaces"]}}}}
    with pytest.raises(ConfigError, match="invalid alias"):
        create_args(bad, None, HOOK)


@pytest.mark.parametrize("body", [None, [], "x", {"Cmd": ["true"]}, {"Image": 5}, {"Image": "b", "Cmd": [1]},
                                  {"Image": "b", "Tty": 1}, {"Image": "b", "HostConfig": "none"},
                                  {"Image": "b", "Env": "A=1B", "HostConfig": {"AutoRemove": "yes"}},
                                  {"Image": "b", "Nsrun": {"Plugins": [1]}}, {"Image": "b", "Env": ["=x"]}])
def test_malformed_create_bodies_are_config_errors(body):
    with pytest.raises(ConfigError):
        create_args(body, None, HOOK)


def test_api_env_never_comes_from_the_daemons_environment(monkeypatch):
    monkeypatch.setenv("DECOY_SECRET", "daemon-only")
    args = create_args({"Image": "busybox", "Env": ["DECOY_SECRET", "A=1", "B=2", "B", "C=x=y"]}, None, HOOK)
    assert args["env"] == {"A": "1", "C": "x=y"}   # a bare NAME removes NAME (dockerd), never fills it


def test_cli_env_is_filled_from_the_clients_environment_only():
    from nsrun._parse import parse_env
    assert parse_env(["NAME", "GONE"], fill_from={"NAME": "client"}) == {"NAME": "client"}


def test_privilege_fields_map_onto_their_owners_options():
    def options(**host):
        return create_args({"Image": "busybox", "HostConfig": host}, None, HOOK)["options"]
    assert options(Privileged=True) == {"privileged": True}
    assert options(CapAdd=["NET_ADMIN"], CapDrop=["ALL"]) == {"cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"]}
    assert options(ReadonlyRootfs=True, ShmSize=1 << 20) == {"read_only": True, "shm_size": str(1 << 20)}
    assert options(SecurityOpt=["no-new-privileges:false", "seccomp=unconfined"]) == {
        "no_new_privileges": ["no-new-privileges:false"], "security_opt": ["seccomp=unconfined"]}
    assert options(Ulimits=[{"Name": "nofile", "Soft": 100, "Hard": 200}], OomScoreAdj=300) == {
        "ulimits": ["nofile=100:200"], "oom_score_adj": "300"}
    assert options(Sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "kernel.domainname": "x"}) == {
        "net_sysctls": ["net.ipv4.ip_forward=1"], "ipc_sysctls": ["kernel.shmmax=1"], "uts_sysctls": ["kernel.domainname=x"]}
    assert create_args({"Image": "busybox", "HostConfig": {"GroupAdd": ["wheel", "10"]}}, None, HOOK)["group_add"] == \
        ["wheel", "10"]


@pytest.mark.parametrize("host, message", [
    ({"DeviceCgroupRules": ["c 1:3 rwm"]}, "devices cgroup is not enforced"),
    ({"Sysctls": {"vm.swappiness": "1"}}, r"HostConfig\.Sysctls\.vm\.swappiness is not supported"),
    ({"ShmSize": -1}, "less than 0")])
def test_privilege_fields_nsrun_cannot_honour_are_refused_by_name(host, message):
    with pytest.raises(ConfigError, match=message):
        create_args({"Image": "busybox", "HostConfig": host}, None, HOOK)


def test_cgroupns_mode_maps_onto_the_cgroup_plugins_option():
    for mode in ("private", "host"):
        args = create_args({"Image": "busybox", "HostConfig": {"CgroupnsMode": mode}}, None, HOOK)
        assert args["options"] == {"cgroupns": mode}
    with pytest.raises(ConfigError, match="invalid HostConfig.CgroupnsMode 'bogus'"):
        create_args({"Image": "busybox", "HostConfig": {"CgroupnsMode": "bogus"}}, None, HOOK)
    with pytest.raises(ConfigError, match="cannot unmarshal"):
        create_args({"Image": "busybox", "HostConfig": {"CgroupnsMode": 1}}, None, HOOK)


def test_nsrun_extension_selects_plugins_and_raw_options():
    args = create_args({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "default"},
                        "Nsrun": {"Plugins": ["pid", "mnt"], "Options": {"init": True}, "Detach": False}},
                       None, HOOK)
    assert args["plugins"] == ["pid", "mnt"] and args["options"] == {"init": True} and args["detach"] is False


def _record(status: str = "exited", **state):
    spec = ContainerSpec(id="a" * 64, name="web", argv=["sh", "-c", "exit 3"], image="busybox", tty=True,
                         options={"hostname": "box"}, plugins=["pid", "mnt"])
    return types.SimpleNamespace(id=spec.id, name="web", spec=spec, status=status, running=status == "running",
                                 state={"created": 1.5, "started": 2.0, "finished": 3.0, "exit_code": 3, **state})


def test_container_json_has_what_both_clients_read():
    rec = _record()
    rec.spec.plugins.append("uts")
    data = container_json(rec, view_hook(rec))
    assert data["Name"] == "/web" and data["Path"] == "sh" and data["Args"] == ["-c", "exit 3"]
    assert data["State"]["Status"] == "exited" and data["State"]["ExitCode"] == 3 and not data["State"]["Running"]
    assert data["Config"]["Tty"] is True and data["Config"]["Hostname"] == "box"
    assert data["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert data["State"]["StartedAt"] == rfc3339(2.0) and rfc3339(None) == "0001-01-01T00:00:00Z"


def test_ps_item_status_text():
    item = ps_item(_record(), 63.0, view_hook(_record()))
    assert item["Names"] == ["/web"] and item["State"] == "exited" and item["Status"] == "Exited (3) 1 minutes ago"
    running = ps_item(_record("running", pid=5), 2.5, view_hook(_record()))
    assert running["Status"] == "Up Less than a second" and running["Command"] == "sh -c exit 3"


def test_published_ports_show_in_ps_and_inspect():
    rec = _record()
    rec.spec.plugins.append("net")
    rec.spec.options["publish"] = ["18080:80/tcp"]
    assert ps_item(rec, 63.0, view_hook(rec))["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18080,
                                                          "Type": "tcp"}]
    assert container_json(rec, view_hook(rec))["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0",
                                                                                          "HostPort": "18080"}]}


def test_log_config_json_file_with_its_options_others_refused_by_name():
    def host(log_config):
        return {**CLI_BODY, "HostConfig": {**CLI_BODY["HostConfig"], "LogConfig": log_config}}
    args = create_args(host({"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}}), None, HOOK)
    assert args["log_opts"] == {"max-size": "1k", "max-file": "3"}
    assert create_args(host({"Type": "", "Config": {}}), None, HOOK)["log_opts"] == {}
    with pytest.raises(ConfigError, match=r"HostConfig\.LogConfig\.Config: unknown log opt 'labels'"):
        create_args(host({"Type": "json-file", "Config": {"labels": "a"}}), None, HOOK)
    with pytest.raises(ConfigError, match="max-file can only be used together with max-size"):
        create_args(host({"Type": "json-file", "Config": {"max-file": "2"}}), None, HOOK)
    with pytest.raises(ConfigError, match=r"HostConfig\.LogConfig\.Type.*'local'"):
        create_args(host({"Type": "local", "Config": {}}), None, HOOK)
    rec = _record()
    rec.spec.log_opts = {"max-size": "1k"}
    assert container_json(rec, view_hook(rec))["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                                                              "Config": {"max-size": "1k"}}
