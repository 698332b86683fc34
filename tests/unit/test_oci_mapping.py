"""An OCI config.json is mapped by the core and each plugin (the oci_config hook): what nobody owns is refused
by name. Ready for the OCI runtime front end; here against what `runc spec` writes."""
from __future__ import annotations

import copy

import pytest

from nsrun import ConfigError
from nsrun._oci import from_oci
from nsrun._plugins import default_selection, installed_manager

HOOK = installed_manager().subset("oci_config", default_selection())
# `runc spec` (runc 1.1), as engines start from it
RUNC_SPEC = {
    "ociVersion": "1.0.2-dev",
    "process": {"terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                "cwd": "/", "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "noNewPrivileges": True},
    "root": {"path": "rootfs", "readonly": True}, "hostname": "runc",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
               {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance"]},
               {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nodev"]},
               {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nodev"]},
               {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
               {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                             {"type": "mount"}]},
}


def _plain() -> dict:
    spec = copy.deepcopy(RUNC_SPEC)
    for key in ("capabilities", "rlimits", "noNewPrivileges"):
        del spec["process"][key]
    spec["root"]["readonly"] = False
    return spec


def test_each_plugin_maps_its_sections():
    spec = _plain()
    spec["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]})
    args = from_oci(spec, "/bundle", HOOK)
    assert args["argv"] == ["sh"] and args["tty"] is True and args["rootfs"] == "/bundle/rootfs"
    assert args["env"]["TERM"] == "xterm" and args["workdir"] == "/" and args["user"] is None
    assert args["options"] == {"hostname": "runc", "network": "none", "volumes": ["/srv/data:/data:ro"],
                               "cgroupns": "host", "rootfs_as_is": True}


def test_runc_spec_maps_onto_sec_rlimit_and_mnt():
    args = from_oci(RUNC_SPEC, "/bundle", HOOK)
    opts = args["options"]
    assert opts["cap_drop"] == ["ALL"] and opts["cap_add"] == ["CAP_KILL"]
    assert opts["ulimits"] == ["nofile=1024:1024"] and opts["read_only"] is True


def test_podman_shaped_parts_map():
    spec = _plain()
    spec["process"]["user"].update(umask=18, additionalGids=[10, 20])
    spec["process"]["consoleSize"] = {"height": 24, "width": 80}
    spec["process"]["oomScoreAdj"] = 100
    spec["mounts"].append({"destination": "/dev/shm", "type": "bind", "source": "/srv/shm",
                           "options": ["bind", "rprivate", "nosuid", "noexec", "nodev"]})
    spec["linux"].update(cgroupsPath="/libpod_parent/libpod-x", maskedPaths=["/sys/fs/selinux"],
                         readonlyPaths=["/proc/asound"], resources={"devices": [{"allow": False, "access": "rwm"}],
                                                                    "pids": {"limit": 2048}},
                         seccomp={"defaultAction": "SCMP_ACT_ALLOW"})
    args = from_oci(spec, "/bundle", HOOK)
    assert args["umask"] == 18 and args["group_add"] == ["10", "20"] and args["console_size"] == (24, 80)
    opts = args["options"]
    assert opts["volumes"] == ["/srv/shm:/dev/shm:rw,noexec,nosuid"] and opts["oom_score_adj"] == "100"
    assert "own_cgroup" not in opts and opts["pids_limit"] == "2048"  # every container has its own cgroup
    assert opts["masked_paths"] == ["/sys/fs/selinux"] and opts["readonly_paths"] == ["/proc/asound"]
    assert opts["security_opt"] == ['seccomp={"defaultAction": "SCMP_ACT_ALLOW"}']


@pytest.mark.parametrize("change, words", [
    (lambda s: s["process"].update(capabilities={"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                                 "permitted": ["CAP_KILL"], "inheritable": ["CAP_CHOWN"]}),
     "inheritable"),
    (lambda s: s["process"].update(user={"uid": 1000, "gid": 1000}, capabilities={
        "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]}),
     "ambient"),
    (lambda s: s["process"].update(capabilities={"bounding": ["CAP_KILL"], "effective": []}), "equal bounding"),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]), "RLIMIT_BOGUS"),
    (lambda s: s["linux"].update(resources={"devices": [{"allow": True, "type": "b", "major": 8, "minor": 0,
                                                         "access": "rw"}]}), "allowing b 8:0"),
    (lambda s: s["linux"].update(devices=[{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]),
     "linux.devices"),
    (lambda s: s["mounts"].append({"destination": "/x", "type": "bind", "source": "/x",
                                   "options": ["rbind", "rslave"]}), "rslave"),
    (lambda s: s["process"].update(apparmorProfile="x"), "apparmorProfile"),
])
def test_what_plugins_cannot_honour_is_refused(change, words):
    spec = _plain()
    change(spec)
    with pytest.raises(ConfigError, match=words):
        from_oci(spec, "/bundle", HOOK)


def test_what_nobody_owns_is_refused_by_name():
    spec = _plain()
    spec["linux"]["namespaces"].append({"type": "time"})
    with pytest.raises(ConfigError, match=r'linux\.namespaces: \{"type": "time"\}'):
        from_oci(spec, "/bundle", HOOK)
    spec = _plain()
    spec["mounts"].append({"destination": "/x", "type": "nfs", "source": "h:/x"})
    with pytest.raises(ConfigError, match="mounts"):
        from_oci(spec, "/bundle", HOOK)


@pytest.mark.parametrize("change, words", [
    (lambda s: s.update(ociVersion="0.9.0"), "unsupported ociVersion"),
    (lambda s: s["process"].update(args=[]), "process.args"),
    (lambda s: s["process"].update(cwd="rel"), "absolute"),
    (lambda s: s["linux"]["namespaces"][0].update(path=7), "the pid path must be a string"),
    (lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "uidMappings"),
])
def test_bad_configs_say_what(change, words):
    spec = _plain()
    change(spec)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        from_oci(spec, "/bundle", HOOK)


def test_ipc_uts_and_pid_paths_become_their_plugins_join_options():
    spec = _plain()
    spec["linux"]["namespaces"][0].update(path="/proc/1/ns/pid")
    spec["linux"]["namespaces"][2].update(path="/run/ipc.ns")
    spec["linux"]["namespaces"][3].update(path="/run/uts.ns")
    args = from_oci(spec, "/bundle", HOOK)
    assert args["options"]["ipc"] == "ns:/run/ipc.ns" and args["options"]["uts"] == "ns:/run/uts.ns"
    assert args["options"]["pid"] == "ns:/proc/1/ns/pid"


def test_hooks_are_checked_and_in_container_ones_refused():
    from nsrun.oci.hooks import check_hooks
    assert check_hooks({"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}], "poststop": []}) == \
        {"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]}
    for bad, words in (({"createContainer": [{"path": "/x"}]}, "createContainer"),
                       ({"prestart": [{"path": "rel"}]}, "absolute path"),
                       ({"prestart": [{"path": "/x", "timeout": 0}]}, "timeout"),
                       ({"bogus": []}, "not a hook")):
        with pytest.raises(ConfigError, match=words):
            check_hooks(bad)


def test_a_network_namespace_path_is_joined():
    spec = _plain()
    spec["linux"]["namespaces"][1].update(path="/run/netns/x")
    assert from_oci(spec, "/bundle", HOOK)["options"]["network"] == "ns:/run/netns/x"
