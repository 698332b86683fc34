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
                "cwd": "/", "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
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
                               "cgroupns": "host"}


def test_what_nobody_owns_is_refused_by_name():
    with pytest.raises(ConfigError) as excinfo:
        from_oci(RUNC_SPEC, "/bundle", HOOK)
    for part in ("process.capabilities", "process.rlimits", "process.noNewPrivileges", "root.readonly"):
        assert part in str(excinfo.value)
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
    (lambda s: s["linux"]["namespaces"][1].update(path="/proc/1/ns/net"), "network namespace (path)"),
    (lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "uidMappings"),
])
def test_bad_configs_say_what(change, words):
    spec = _plain()
    change(spec)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        from_oci(spec, "/bundle", HOOK)
