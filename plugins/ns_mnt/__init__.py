"""Mount namespace: the container's own root — overlayfs over the image, fresh /proc, a minimal /dev, read-only
/sys, ``-v`` bind mounts, /etc/hostname, /etc/hosts, /etc/resolv.conf — entered with pivot_root.

The overlay's upper and work directories live in the container's directory, so the image is never written
and ``rm`` discards the writes. Every mount is made inside the container's mount namespace: the host's
mount table never changes, and nothing can be left mounted when the container is gone.

Without this plugin there is no root switch: the command runs in nsrun's own file system view (like
``unshare`` without ``--mount``), and the image is not used.
"""
from __future__ import annotations

import os

from nsrun import CLONE_NEWNS, Mount, Option, RunContext, hookimpl

DEFAULT = True
ORDER = 80
OPTIONS = [Option(("-v", "--volume"), "volumes", multiple=True, metavar="SRC:DST[:ro]",
                  help="Bind mount a host path into the container")]
_MS_BIND = 4096


@hookimpl
def configure(ctx: RunContext) -> None:
    from .volumes import parse_volume
    for text in ctx.options.get("volumes") or ():
        vol = parse_volume(text)
        ctx.mounts.append(Mount(vol.source, vol.target, None, _MS_BIND, readonly=vol.readonly))


@hookimpl
def docker_create(fields):
    binds = fields.take_strings("HostConfig.Binds")
    return {"volumes": binds} if binds else None


@hookimpl
def docker_view(options, view) -> None:
    view["HostConfig"]["Binds"] = list(options.get("volumes") or [])


@hookimpl
def pre_clone(ctx: RunContext) -> int:
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
    return CLONE_NEWNS


@hookimpl(trylast=True)
def in_child(ctx: RunContext) -> None:
    from .rootfs import prepare_root, switch_root
    cdir = ctx.container_dir
    root = ctx.root or os.path.join(cdir, "merged")
    overlay = None
    if ctx.lowerdir:
        overlay = f"lowerdir={ctx.lowerdir},upperdir={cdir}/upper,workdir={cdir}/work"
    etc = {f"/etc/{name}": os.path.join(cdir, name) for name in ("hostname", "hosts", "resolv.conf")}
    prepare_root(root, overlay, ctx.mounts, ctx.masked_paths, ctx.readonly_paths, etc)
    switch_root(root)
