"""A cgroup per limited container with Docker's limits, its own cgroup namespace and a read-only cgroup file
system inside, as Docker does.

A container started with a limit (``-m``, ``--cpus``, ``--pids-limit``, ... or the API's HostConfig fields)
or ``--cgroup-parent`` gets a cgroup of its own; others stay in the cgroup nsrun runs in (their cgroup
namespace is rooted there, mounted read-only, as before). Why not every container, as Docker: on this
machine's kernel, moving a process into a cgroup after an idle gap waits for an RCU grace period (10-15 ms:
rcu_sync of the cgroup threadgroup lock, taken for every migration), and measured in ``make bench`` that put
+14 ms on every start and +15 ms on every exec (it was +0 before). Without its own cgroup a container has no
``pause``/``update`` (refused with a line saying how to get one) and ``stats`` reads /proc instead.

Such a container gets a cgroup in every hierarchy (``tree``), beneath the cgroup nsrun itself runs in
(``--cgroup-parent`` relative to it), made in ``pre_clone`` with its limits written (``limits``), and joined
by the parked child from outside in ``post_start`` (last, so the kernel's RCU wait for the first migration
after an idle gap, started early by a no-op write in ``pre_clone``, is over by then). The child makes its
cgroup namespace itself in ``in_child`` — after it is in its cgroup, which thereby becomes the namespace's
root. ``teardown`` reads whether the OOM killer struck (``info["State"]["OOMKilled"]``), then removes the
cgroups; ``gc`` removes those of dead containers. ``ctx.info["Cgroup"]`` = ``{"version": 1|2, "paths":
{controller: dir}, "dirs": {hierarchy: dir}}`` tells other commands (``update``, ``pause``, stats) where.


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
can be written or created — not even the limits of the cgroup nsrun itself runs in, nor the container's own
(the namespace root). Remounting them read-write needs CAP_SYS_ADMIN, which
the sec plugin drops. Without the mnt plugin the mounts are not applied (there is no private mount table).
"""
from __future__ import annotations

import os

from typing import Any

from nsrun import ConfigError, Option, RunContext, StashKey, hookimpl
from nsrun.syscalls import CLONE_NEWCGROUP, unshare

DEFAULT = True
ORDER = 25
MODES = ("private", "host")
OPTIONS = [
    Option(("--cgroupns",), "cgroupns", metavar="private|host",
           help="Cgroup namespace to use: a private one (default) or the host's (cgroup plugin)"),
    Option(("--cgroup-parent",), "cgroup_parent", metavar="PATH",
           help="Cgroup to make the container's in, relative to the one nsrun runs in"),
    Option(("-m", "--memory"), "memory", metavar="BYTES", help="Memory limit (e.g. 64m; at least 6m)"),
    Option(("--memory-swap",), "memory_swap", metavar="BYTES",
           help="Memory plus swap limit; -1 unlimited (default: twice --memory)"),
    Option(("--memory-reservation",), "memory_reservation", metavar="BYTES", help="Memory soft limit"),
    Option(("--oom-kill-disable",), "oom_kill_disable", is_flag=True, help="Disable the OOM killer (cgroup v1)"),
    Option(("--cpus",), "cpus", metavar="N", help="Number of CPUs (CFS quota over a 100 ms period)"),
    Option(("-c", "--cpu-shares"), "cpu_shares", metavar="N", help="CPU shares (relative weight)"),
    Option(("--cpu-period",), "cpu_period", metavar="US", help="CFS period in microseconds"),
    Option(("--cpu-quota",), "cpu_quota", metavar="US", help="CFS quota in microseconds"),
    Option(("--cpuset-cpus",), "cpuset_cpus", metavar="LIST", help="CPUs to run on (0-1, 0,1)"),
    Option(("--cpuset-mems",), "cpuset_mems", metavar="LIST", help="Memory nodes to allocate from"),
    Option(("--pids-limit",), "pids_limit", metavar="N", help="Process limit (-1 unlimited)"),
    Option(("--blkio-weight",), "blkio_weight", metavar="N", help="Block I/O weight (10-1000) where the kernel has it"),
    Option(("--own-cgroup",), "own_cgroup", is_flag=True,
           help="A cgroup of its own even without a limit (for pause and update later; what OCI engines ask)"),
]
COMMANDS = {"update": "nsrun_cgroup.commands:update", "pause": "nsrun_cgroup.commands:pause",
            "unpause": "nsrun_cgroup.commands:unpause"}

_LIMITS: StashKey[dict] = StashKey()
_MADE: StashKey[tuple] = StashKey()
_PRIMER: StashKey[Any] = StashKey()
_JOIN: StashKey[list] = StashKey()


def cgroupns_mode(ctx: RunContext) -> str:
    mode = ctx.options.get("cgroupns") or "private"
    if mode not in MODES:
        raise ConfigError(f"invalid --cgroupns {mode!r}: use private or host")
    return mode


@hookimpl
def configure(ctx: RunContext) -> None:
    ctx.info["CgroupnsMode"] = cgroupns_mode(ctx)
    if any(ctx.options.get(opt.dest) for opt in OPTIONS[1:]):  # no import on the plain start path
        from .host import checked_limits
        ctx.stash[_LIMITS] = checked_limits(ctx.options)


def wants_own_cgroup(ctx: RunContext) -> bool:
    """A cgroup of its own for a container started with a limit or ``--cgroup-parent`` (see the module doc:
    moving a process into a cgroup costs this kernel an RCU grace period, 10-15 ms, on every start)."""
    return bool(ctx.stash.get(_LIMITS)) or bool(ctx.options.get("cgroup_parent")) or bool(ctx.options.get("own_cgroup"))


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    from .layout import plan_mounts
    host = cgroupns_mode(ctx) == "host"
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open("/proc/self/cgroup") as f:
        own = f.read()
    if not wants_own_cgroup(ctx):  # the namespace is rooted at the cgroup nsrun runs in, mounted read-only
        mounts, notes = plan_mounts(mountinfo, own, host_ns=host)
        ctx.mounts.extend(mounts)
        if notes:
            ctx.info["CgroupNotes"] = notes
        return 0 if host else CLONE_NEWCGROUP
    from .host import prime_migration, write_files
    from .tree import Cgroup, cgroup_name, hierarchies
    hiers = hierarchies(mountinfo, own)
    cg = Cgroup.plan(hiers, cgroup_name(ctx.paths.tag, ctx.spec.id), ctx.options.get("cgroup_parent") or "")
    made: list[str] = []
    ctx.stash[_MADE] = (cg, made)
    cg.create(made)
    cg.apply(write_files(cg, ctx.stash.get(_LIMITS) or {}))
    ctx.stash[_PRIMER] = prime_migration(hiers)  # after the mkdirs: its first write holds cgroup_mutex
    ctx.info["Cgroup"] = cg.info()
    rel = cg.dirs
    inside = "".join(_own_line(line, hiers, rel) for line in own.splitlines(keepends=True))
    mounts, notes = plan_mounts(mountinfo, inside, host_ns=host)
    ctx.mounts.extend(mounts)
    if notes:
        ctx.info["CgroupNotes"] = notes
    return 0  # the cgroup namespace is made by the child (in_child), once it is in its cgroup


def _own_line(line: str, hiers: list[Any], dirs: dict[str, str]) -> str:
    """A /proc/self/cgroup line rewritten to the container's cgroup (what the mounts are rooted at)."""
    num, sep, rest = line.partition(":")
    key, _, path = rest.rstrip("\n").partition(":")
    h = next((h for h in hiers if h.controllers == key), None)
    if h is None or key not in dirs:
        return line
    return f"{num}:{key}:{path.rstrip('/')}{dirs[key][len(h.own):]}\n"


@hookimpl(trylast=True)
def post_start(ctx: RunContext, pid: int) -> None:
    entry = ctx.stash.get(_MADE)
    try:
        if entry is not None:
            entry[0].enter(pid)
    finally:
        _stop_primer(ctx)


def _stop_primer(ctx: RunContext) -> None:
    primer = ctx.stash.pop(_PRIMER)
    if primer is not None:
        primer.stop()


@hookimpl
def in_child(ctx: RunContext) -> None:
    if cgroupns_mode(ctx) == "private" and ctx.stash.get(_MADE) is not None:
        unshare(CLONE_NEWCGROUP)  # rooted at the cgroup the parent put us in


@hookimpl
def pre_join(ctx: RunContext) -> None:
    """``nsrun exec`` into a paused container is refused (Docker's words); the container's cgroups are read
    for ``post_join``."""
    from nsrun import find_container
    rec = find_container(ctx.paths, ctx.spec.id)
    if (rec["info"].get("State") or {}).get("Paused"):
        raise ConfigError(f"Container {ctx.spec.id[:12]} is paused, unpause the container before exec")
    ctx.stash[_JOIN] = sorted(set(((rec["info"].get("Cgroup") or {}).get("dirs") or {}).values()))


@hookimpl
def post_join(ctx: RunContext, pid: int) -> None:
    """The joining process goes into the container's cgroups, as Docker's exec does: its limits count it."""
    data = str(pid).encode()
    for d in ctx.stash.pop(_JOIN, None) or ():
        fd = os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


@hookimpl
def teardown(ctx: RunContext, status: int | None) -> None:
    _stop_primer(ctx)
    entry = ctx.stash.pop(_MADE)
    if entry is None:
        return
    cg, made = entry
    if status is not None:
        ctx.info["State"] = {**(ctx.info.get("State") or {}), "OOMKilled": cg.oom_killed(), "Paused": False}
    cg.remove(made)


@hookimpl
def gc(paths: Any, live: frozenset, reset: bool) -> list[str]:
    from .host import collect
    return collect(paths, live)


@hookimpl
def docker_create(fields):
    from .api import from_docker
    return from_docker(fields)


@hookimpl
def docker_view(options, info, view) -> None:
    from .api import into_view
    into_view(options, info, view)


@hookimpl
def daemon_routes() -> list[Any]:
    from .api import routes
    return routes()


# linux.resources.<path> -> option (the values are Docker's units: bytes, shares, microseconds)
_OCI_LIMITS = {"memory.limit": "memory", "memory.reservation": "memory_reservation", "memory.swap": "memory_swap",
               "memory.disableOOMKiller": "oom_kill_disable", "cpu.shares": "cpu_shares", "cpu.quota": "cpu_quota",
               "cpu.period": "cpu_period", "cpu.cpus": "cpuset_cpus", "cpu.mems": "cpuset_mems",
               "pids.limit": "pids_limit", "blockIO.weight": "blkio_weight"}


@hookimpl
def oci_config(fields):
    """The ``cgroup`` namespace entry (without one: the host's), the cgroup mount at /sys/fs/cgroup,
    ``linux.resources`` memory/cpu/pids/blockIO.weight limits, and ``linux.cgroupsPath``: the container gets
    a cgroup of its own *beneath the cgroup nsrun-oci runs in* (the path is not honoured as a place on the
    host: nsrun never makes cgroups outside its own subtree), named by nsrun as always."""
    namespaces = fields.take_items("linux.namespaces", "cgroup", by="type")
    if any(ns.get("path") for ns in namespaces):
        raise ConfigError("config.json: joining an existing cgroup namespace (path) is not supported")
    fields.take_where("mounts", lambda m: isinstance(m, dict) and m.get("type") == "cgroup"
                      and m.get("destination") == "/sys/fs/cgroup")  # this plugin mounts them read-only
    out = {} if namespaces else {"cgroupns": "host"}
    for path, dest in _OCI_LIMITS.items():
        value = fields.take(f"linux.resources.{path}", int, str, bool)
        if value is not None and not (dest == "pids_limit" and value in (-1, 0)):
            out[dest] = True if value is True else str(value)
    if fields.take("linux.cgroupsPath", str):
        out["own_cgroup"] = True
    return out or None


def oci_limits(resources: dict) -> dict:
    """A runtime-spec ``LinuxResources`` object -> this plugin's options (``update`` and config.json); a part
    that is set and not among ``_OCI_LIMITS`` is refused by name."""
    from nsrun import FieldSource
    fields = FieldSource(resources, "resources field")
    out = {}
    for path, dest in _OCI_LIMITS.items():
        value = fields.take(path, int, str, bool)
        if value is not None:
            out[dest] = True if value is True else str(value)
    fields.refuse_leftover()
    return out


@hookimpl
def container_freeze(paths, cid, frozen):
    from .ops import pause
    pause(paths, cid, frozen)
    return True


@hookimpl
def container_resources(paths, cid, resources):
    from .ops import update
    changes = oci_limits(resources)
    changes.pop("oom_kill_disable", None)
    if not changes:
        raise ConfigError("update: no resource to change")
    update(paths, cid, changes)
    return True
