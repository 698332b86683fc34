"""Mount namespace: the container's own root — overlayfs over the image, fresh /proc, a minimal /dev, read-only
/sys, ``-v`` bind mounts, ``--device`` nodes, /etc/hostname, /etc/hosts, /etc/resolv.conf — entered with pivot_root.

``--read-only`` (``HostConfig.ReadonlyRootfs``) makes the root mount read-only once everything is mounted on
it: /tmp too (it is part of the root, as in Docker), while /proc, /dev, /dev/shm, volumes and the /etc files
keep their own mounts. ``--shm-size`` (``ShmSize``) sizes the /dev/shm tmpfs (default 64m). With
``ctx.privileged`` (``--privileged``, owned by sec) every host device node is bound in, /dev is not nodev and
/sys is writable. ``--device-cgroup-rule`` is refused by name: there is no devices cgroup here.

The overlay's upper and work directories live in the container's directory, so the image is never written
and ``rm`` discards the writes. Every mount is made inside the container's mount namespace: the host's
mount table never changes, and nothing can be left mounted when the container is gone.

Every path inside the image (mount targets, volume targets, the /etc files, masked and read-only paths) is
resolved inside the container's root, so an image's symlinks can never point a mount or a write at the host.
A container can open only Docker's default devices (null, zero, full, random, urandom, tty, pts, ptmx) and
those given with ``--device``: every mount it can create files in is nodev (see ``rootfs``; a devices cgroup
comes later with the cgroup plugin). ``:ro`` volumes are read-only with every submount.

Without this plugin there is no root switch: the command runs in nsrun's own file system view (like
``unshare`` without ``--mount``), and the image is not used.
"""
from __future__ import annotations

import os

from nsrun import CLONE_NEWNS, ConfigError, Mount, Option, RunContext, StashKey, hookimpl

DEFAULT = True
ORDER = 80
COMMANDS = {"volume": "nsrun_ns_mnt.volume_cli:volume"}
OPTIONS = [Option(("-v", "--volume"), "volumes", multiple=True, metavar="[SRC:]DST[:ro]",
                  help="Bind mount a host path (/SRC), mount a named volume (NAME) or an anonymous one (DST only)"),
           Option(("--mount",), "mounts", multiple=True, metavar="type=bind|volume|tmpfs,...",
                  help="Mount a bind, volume or tmpfs (source=,target=,readonly,volume-nocopy,tmpfs-size=,tmpfs-mode=)"),
           Option(("--tmpfs",), "tmpfs", multiple=True, metavar="PATH[:OPTIONS]",
                  help="Mount a tmpfs at PATH (options: ro, nosuid, noexec, strictatime, size=, mode=, uid=, gid=)"),
           Option(("--volumes-from",), "volumes_from", multiple=True, metavar="CONTAINER[:ro|rw]",
                  help="Mount the volumes and binds of another container"),
           Option(("--device",), "devices", multiple=True, metavar="HOST[:CTR[:PERMS]]",
                  help="Bind a host device node into the container (PERMS: rw only)"),
           Option(("--read-only",), "read_only", is_flag=True, help="Mount the container's root filesystem read-only"),
           Option(("--shm-size",), "shm_size", metavar="SIZE", help="Size of /dev/shm (default 64m)"),
           Option(("--device-cgroup-rule",), "device_cgroup_rules", multiple=True, metavar="RULE",
                  help="Refused: the devices cgroup is not enforced by nsrun"),
           Option(("--rootfs-as-is",), "rootfs_as_is", is_flag=True,
                  help="Use --rootfs itself as the writable root: no overlay and no /etc files of nsrun's "
                       "(an OCI bundle's root)")]
_MS_BIND = 4096
MOUNT_OPTIONS = ("volumes", "mounts", "tmpfs", "volumes_from")  # the options plan.plan reads
PLAN_KEY = StashKey[list]()      # the checked mounts (plan.Planned), from configure
COPY_UP_KEY = StashKey[tuple]()  # volume directories to fill from the image when empty
DEVICES_KEY = StashKey[tuple]()  # ((host node, target), ...) from --device (and every host node: --privileged)
NO_DEVICE_CGROUP = ("the devices cgroup is not enforced by nsrun (the mnt plugin binds the allowed nodes in "
                    "and makes every writable mount nodev instead): use --device HOST[:CTR] for a node")


@hookimpl
def configure(ctx: RunContext) -> None:
    if any(ctx.options.get(k) for k in MOUNT_OPTIONS) or ctx.spec.config.get("Volumes"):
        from .plan import plan  # only then: planning imports the volume store (~2 ms a start otherwise)
        ctx.stash[PLAN_KEY] = plan(ctx.paths, ctx.spec.id, ctx.options, ctx.spec.config.get("Volumes"))
    else:
        ctx.stash[PLAN_KEY] = []
    if texts := ctx.options.get("devices"):
        from .devices import check_device, parse_device
        ctx.stash[DEVICES_KEY] = tuple(tuple(check_device(parse_device(text))) for text in texts)
    if ctx.options.get("device_cgroup_rules"):
        from nsrun import ConfigError
        raise ConfigError(f"--device-cgroup-rule is not supported: {NO_DEVICE_CGROUP}")
    if ctx.options.get("rootfs_as_is") and not ctx.spec.rootfs or ctx.options.get("rootfs_as_is") and ctx.spec.layers:
        from nsrun import ConfigError
        raise ConfigError("--rootfs-as-is needs --rootfs DIR (an image's layers are never written)")
    if text := ctx.options.get("shm_size"):
        from .sizes import parse_size
        parse_size(str(text), "--shm-size")


@hookimpl
def docker_create(fields):
    out = {}
    if binds := fields.take_strings("HostConfig.Binds"):
        out["volumes"] = binds
    if (mounts := fields.take("HostConfig.Mounts", list)) is not None:
        from .volumes import mounts_from_docker
        out["mounts"] = mounts_from_docker(mounts)
    if (tmpfs := fields.take("HostConfig.Tmpfs", dict)) is not None:
        if not all(isinstance(v, str) for v in tmpfs.values()):
            from nsrun import FieldError
            raise FieldError("HostConfig.Tmpfs: expected an object of strings")
        out["tmpfs"] = [f"{k}:{v}" if v else k for k, v in tmpfs.items()]
    if volumes_from := fields.take_strings("HostConfig.VolumesFrom"):
        out["volumes_from"] = volumes_from
    if anonymous := fields.take("Volumes", dict):  # `-v /path`: an anonymous volume, unless something else is
        from .volumes import parse_mount, parse_volume  # mounted there (docker-py lists every target here)
        try:
            taken = {parse_volume(v, check_exists=False).target for v in out.get("volumes", [])}
            taken |= {parse_mount(m, check_exists=False).target for m in out.get("mounts", [])}
        except ConfigError:
            taken = set()       # refused with its own message at configure
        taken |= {t.partition(":")[0].rstrip("/") or "/" for t in out.get("tmpfs", [])}
        out["volumes"] = [*out.get("volumes", []),
                          *sorted(t for t in anonymous if os.path.normpath(t) not in taken)]
    devices = fields.take("HostConfig.Devices", list) or []
    if devices:
        from .devices import from_docker
        out["devices"] = [from_docker(d) for d in devices]
    if fields.take("HostConfig.DeviceCgroupRules", list):
        from nsrun import FieldError
        raise FieldError(f"HostConfig.DeviceCgroupRules is not supported: {NO_DEVICE_CGROUP}")
    if fields.take("HostConfig.ReadonlyRootfs", bool):
        out["read_only"] = True
    if (shm := fields.take("HostConfig.ShmSize", int)) is not None:
        if shm < 0:
            from nsrun import FieldError
            raise FieldError("HostConfig.ShmSize: SHM size can not be less than 0")
        out["shm_size"] = str(shm)
    return out or None


@hookimpl
def docker_view(options, info, view) -> None:
    from .plan import docker_mounts
    view["HostConfig"]["Binds"] = [v for v in options.get("volumes") or [] if ":" in v]
    view["HostConfig"]["Tmpfs"] = {t.partition(":")[0]: t.partition(":")[2] for t in options.get("tmpfs") or ()} or None
    view["HostConfig"]["VolumesFrom"] = list(options.get("volumes_from") or []) or None
    view["Mounts"] = docker_mounts(options, info)
    from .devices import to_docker
    view["HostConfig"]["Devices"] = [to_docker(text) for text in options.get("devices") or ()]
    view["HostConfig"]["ReadonlyRootfs"] = bool(options.get("read_only"))
    from .sizes import parse_size
    view["HostConfig"]["ShmSize"] = parse_size(str(options["shm_size"]), "--shm-size") \
        if options.get("shm_size") else 64 << 20


@hookimpl
def daemon_routes():
    from .volume_api import routes
    return routes()


@hookimpl
def event_objects(paths):
    """Volumes for ``/events``: created/destroyed, mounted by (members: the running containers using them)."""
    from nsrun import list_containers

    from .volstore import VolumeStore, volumes_of
    metas = VolumeStore(paths).list()
    if not metas:
        return []
    running = [c for c in list_containers(paths) if c["pid"] is not None]
    return [{"Type": "volume", "ID": m["Name"], "Attributes": {"driver": "local", **(m.get("Labels") or {})},
             "members": {c["id"]: {} for c in running if m["Name"] in volumes_of(c["options"])},
             "join": "mount", "leave": "unmount"} for m in metas]


@hookimpl
def disk_usage(paths):
    """``system df``'s volumes: each with its size and how many containers (any status) use it."""
    from nsrun import list_containers

    from .volstore import VolumeStore, volumes_of
    store = VolumeStore(paths)
    metas = store.list()
    if not metas:
        return None
    used = [volumes_of(c["options"]) for c in list_containers(paths)]
    return {"Volumes": [{**store.view(m), "UsageData": {"Size": store.size(m["Name"]),
                                                        "RefCount": sum(m["Name"] in u for u in used)}}
                        for m in metas]}


@hookimpl
def gc(paths, live, reset):
    from .volstore import VolumeStore
    store = VolumeStore(paths)
    return store.reset() if reset else store.leftovers()


@hookimpl
def collect(paths, cid, info):
    """Nothing of one container's outlives its processes on the host: its mounts are made in its own mount
    namespace, its files in its directory (removed with its record); volumes outlive containers by design,
    and half-made volume directories are ``gc``'s (no container's)."""
    return None


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    if planned := ctx.stash.get(PLAN_KEY):  # volumes made (named ones on first use), mounts contributed
        from .plan import realize
        mounts, copy_up, view = realize(ctx.paths, ctx.spec.id, ctx.container_dir, planned)
        ctx.mounts.extend(mounts)
        ctx.stash[COPY_UP_KEY] = copy_up
        ctx.info["Mounts"] = view
    else:
        ctx.info["Mounts"] = []
    if ctx.options.get("rootfs_as_is"):  # the caller's root, as it is: its /etc files are the caller's too
        ctx.root, ctx.lowerdirs = ctx.spec.rootfs, []
        if ctx.privileged:
            from .devices import host_devices
            ctx.stash[DEVICES_KEY] = host_devices() + ctx.stash.get(DEVICES_KEY, ())
        return CLONE_NEWNS
    from . import etcfiles
    cdir = ctx.container_dir
    for name in ("upper", "work", "merged"):
        os.makedirs(os.path.join(cdir, name), exist_ok=True)
    uid, gid = ctx.host_uid(0), ctx.host_gid(0)
    os.chown(os.path.join(cdir, "upper"), uid, gid)
    os.chown(os.path.join(cdir, "work"), uid, gid)
    try:
        with open("/etc/resolv.conf") as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    files = {
        "hostname": etcfiles.hostname_file(ctx.hostname or os.uname().nodename),
        "hosts": etcfiles.hosts_file(ctx.hosts + ([("127.0.1.1", ctx.hostname)] if ctx.hostname else [])),
        "resolv.conf": ctx.resolv_conf or etcfiles.resolv_conf(host_resolv),
    }
    for name, text in files.items():
        path = os.path.join(cdir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, uid, gid)
    ctx.root = os.path.join(cdir, "merged")
    if ctx.privileged:  # every host device, as Docker gives a privileged container (``ctx.privileged``: sec's)
        from .devices import host_devices
        ctx.stash[DEVICES_KEY] = host_devices() + ctx.stash.get(DEVICES_KEY, ())
    return CLONE_NEWNS


@hookimpl(trylast=True)
def in_child(ctx: RunContext) -> None:
    from .rootfs import prepare_root, switch_root
    cdir = ctx.container_dir
    root = ctx.root or os.path.join(cdir, "merged")
    overlay = None
    if ctx.lowerdirs:  # top-most first; inside a user namespace trusted.* xattrs are invisible: user.* ones
        overlay = {"lowers": ctx.lowerdirs, "upper": f"{cdir}/upper", "work": f"{cdir}/work",
                   "userxattr": bool(ctx.uid_maps)}
    as_is = bool(ctx.options.get("rootfs_as_is"))
    etc = {} if as_is else {f"/etc/{name}": os.path.join(cdir, name) for name in ("hostname", "hosts", "resolv.conf")}
    shm = ctx.options.get("shm_size")
    prepare_root(root, overlay, ctx.mounts, ctx.masked_paths, ctx.readonly_paths, etc, ctx.stash.get(DEVICES_KEY, ()),
                 read_only=bool(ctx.options.get("read_only")), shm_size=_size(str(shm)) if shm else None,
                 privileged=ctx.privileged, bind_root=as_is,
                 copy_up=ctx.stash.get(COPY_UP_KEY, ()))
    switch_root(root)


def _size(text: str) -> int:
    from .sizes import parse_size  # imported in the parent (configure checked it): the child only calls it
    return parse_size(text, "--shm-size")


# The mounts this plugin makes itself in every container; an OCI config lists them too.
_OWN_MOUNTS = {("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs"),
               ("/sys", "sysfs")}
# Bind options an OCI mount may carry: what a volume honours (nodev holds for every volume anyway).
_BIND_OPTIONS = {"bind", "rbind", "rw", "ro", "rprivate", "private", "nosuid", "noexec", "nodev"}
# The nodes every container may open (``rootfs.DEVICES`` + devpts): an OCI devices cgroup rule list that
# allows nothing beyond them (runc adds these itself) and denies the rest is this plugin's policy.
_DEFAULT_NODES = {("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0), ("c", 5, 1),
                  ("c", 5, 2), ("c", 136, None)}


@hookimpl
def oci_config(fields):
    """``mounts`` of types proc/sysfs/devpts/tmpfs at the places this plugin mounts them anyway, and bind
    mounts (volumes); ``root`` (``rootfs_as_is``: the bundle's root is the container's, written in place)
    and ``root.readonly``; ``linux.resources.devices`` when it allows no node beyond the default ones;
    ``linux.devices`` only empty. Other mount types, options or propagation are refused by name."""
    from nsrun import ConfigError
    for ns in fields.take_items("linux.namespaces", "mount", by="type"):
        if ns.get("path"):
            raise ConfigError("config.json: joining an existing mount namespace (path) is not supported")
    fields.take_where("mounts", lambda m: isinstance(m, dict) and (m.get("destination"), m.get("type")) in _OWN_MOUNTS)
    volumes = []
    for m in fields.take_where("mounts", lambda m: isinstance(m, dict) and "bind" in (m.get("options") or ())
                               or isinstance(m, dict) and m.get("type") == "bind"):
        opts = set(m.get("options") or ())
        if opts - _BIND_OPTIONS:
            raise ConfigError(f"config.json: mount {m.get('destination')}: options {sorted(opts - _BIND_OPTIONS)} "
                              f"are not supported")
        mode = ",".join(["ro" if "ro" in opts else "rw", *sorted(opts & {"nosuid", "noexec"})])
        volumes.append(f"{m.get('source')}:{m.get('destination')}:{mode}")
    tmpfs = []
    for m in fields.take_where("mounts", lambda m: isinstance(m, dict) and m.get("type") == "tmpfs"):
        tmpfs.append(f"{m.get('destination')}:{','.join(m.get('options') or ())}")
    out: dict = {"rootfs_as_is": True}
    if volumes:
        out["volumes"] = volumes
    if tmpfs:
        from .volumes import parse_tmpfs
        for text in tmpfs:
            parse_tmpfs(text)  # refused now, by name, rather than in configure
        out["tmpfs"] = tmpfs
    if fields.take("root.readonly", bool):
        out["read_only"] = True
    if fields.take("linux.devices", list):
        raise ConfigError("config.json: linux.devices (device nodes to create) is not supported: the mnt plugin "
                          "binds the default nodes only")
    _check_device_rules(fields.take("linux.resources.devices", list) or [])
    return out


def _check_device_rules(rules: list) -> None:
    from nsrun import ConfigError
    for rule in rules:
        if not isinstance(rule, dict):
            raise ConfigError("config.json: linux.resources.devices: each entry is an object")
        if not rule.get("allow"):
            continue  # a deny: every node outside the defaults is refused here anyway
        kind, major, minor = rule.get("type", "a"), rule.get("major"), rule.get("minor")
        access = set(rule.get("access") or "rwm")
        if access <= {"m"} or (kind, major, minor) in _DEFAULT_NODES or (kind, major, None) in _DEFAULT_NODES:
            continue  # mknod alone is harmless: every mount a container can create nodes in is nodev
        raise ConfigError(f"config.json: linux.resources.devices: allowing {kind} {major}:{minor} is not "
                          f"supported ({NO_DEVICE_CGROUP})")


# The mount points pre_clone and prepare_root may create in an image that lacks them: left out of a commit
# when they are still empty (Docker keeps them in a container's init layer, never in its diff).
_PLACEHOLDERS = ("etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "sys", "dev", "dev/pts", "dev/shm")


@hookimpl
def container_mount(container_dir, spec, mounts, target):
    from .offline import mount_stopped
    return mount_stopped(container_dir, spec, mounts, target) or None


@hookimpl
def container_changes(container_dir):
    upper = os.path.join(container_dir, "upper")
    if not os.path.isdir(upper):
        return None
    st = os.stat(upper)
    return {"upper": upper, "skip": list(_PLACEHOLDERS), "owner": (st.st_uid, st.st_gid)}
