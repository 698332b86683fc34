"""Cgroup namespace and a read-only cgroup file system inside, as Docker does.

``--cgroupns private`` (the default, Docker's on cgroup v2 and what this plugin always picks) gives the
container a new cgroup namespace: /proc/self/cgroup shows ``/`` paths, and the cgroup file systems mounted at
/sys/fs/cgroup (see ``layout``) are rooted at the cgroup nsrun runs in. ``--cgroupns host`` keeps the caller's
namespace: /proc/self/cgroup shows the host's paths and the caller's own cgroup directories are bound
read-only instead.

With the user plugin the fresh mounts still work: nsrun unshares the user namespace first, so the cgroup
namespace made after it belongs to the container's user namespace, where the child holds CAP_SYS_ADMIN until
sec drops it (a v1 mount is refused only without that, e.g. in the host's cgroup namespace — which is why
``host`` binds instead). Files owned by unmapped host root also give EACCES before EROFS there.

Every cgroup file system inside is read-only (the mounts, and the tmpfs holding them), so no cgroup file
can be written or created — not even the limits of the cgroup nsrun itself runs in, which is what the
namespace root is until a cgroup per container exists. Remounting them read-write needs CAP_SYS_ADMIN, which
the sec plugin drops. Without the mnt plugin the mounts are not applied (there is no private mount table).
"""
from __future__ import annotations

from nsrun import ConfigError, Option, RunContext, hookimpl
from nsrun.syscalls import CLONE_NEWCGROUP

DEFAULT = True
ORDER = 25
MODES = ("private", "host")
OPTIONS = [Option(("--cgroupns",), "cgroupns", metavar="private|host",
                  help="Cgroup namespace to use: a private one (default) or the host's (cgroup plugin)")]


def cgroupns_mode(ctx: RunContext) -> str:
    mode = ctx.options.get("cgroupns") or "private"
    if mode not in MODES:
        raise ConfigError(f"invalid --cgroupns {mode!r}: use private or host")
    return mode


@hookimpl
def configure(ctx: RunContext) -> None:
    ctx.info["CgroupnsMode"] = cgroupns_mode(ctx)


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    from .layout import plan_mounts
    host = cgroupns_mode(ctx) == "host"
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open("/proc/self/cgroup") as f:
        own = f.read()
    mounts, notes = plan_mounts(mountinfo, own, host_ns=host)
    ctx.mounts.extend(mounts)
    if notes:
        ctx.info["CgroupNotes"] = notes
    return 0 if host else CLONE_NEWCGROUP


@hookimpl
def docker_create(fields):
    mode = fields.take("HostConfig.CgroupnsMode", str)
    if mode and mode not in MODES:
        raise ConfigError(f"invalid HostConfig.CgroupnsMode {mode!r}: use private or host")
    return {"cgroupns": mode} if mode else None


@hookimpl
def docker_view(options, view) -> None:
    view["HostConfig"]["CgroupnsMode"] = options.get("cgroupns") or "private"


@hookimpl
def oci_config(fields):
    namespaces = fields.take_items("linux.namespaces", "cgroup", by="type")
    if any(ns.get("path") for ns in namespaces):
        raise ConfigError("config.json: joining an existing cgroup namespace (path) is not supported")
    fields.take_where("mounts", lambda m: isinstance(m, dict) and m.get("type") == "cgroup"
                      and m.get("destination") == "/sys/fs/cgroup")  # this plugin mounts them read-only
    return None if namespaces else {"cgroupns": "host"}
