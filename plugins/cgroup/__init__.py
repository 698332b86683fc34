"""A cgroup per container with Docker's limits, its own cgroup namespace and a read-only cgroup file system
inside, as Docker does.

Every detached container (``run -d``, the daemon's, nsrun-oci's) and every container started with a limit or
``--cgroup-parent`` gets a cgroup in every hierarchy (``tree``), beneath the cgroup nsrun itself runs in
(``--cgroup-parent`` relative to it), made in ``pre_clone`` with its limits written (``limits``). A foreground
``run`` asking for neither stays in the cgroup nsrun runs in (``wants_own_cgroup`` says why: the kernel's
cost), its cgroup namespace rooted there, mounted read-only; so does one nsrun may not make a cgroup for
(EACCES/EPERM/EROFS: nsrun runs inside a container, or without delegation) when nothing was asked of it, with a
note in ``info["CgroupNotes"]``. Without a cgroup of its own a container has no ``pause``/``update`` (refused
with a line saying how to get one) and ``stats`` reads /proc instead.

Putting the child into its cgroups costs this kernel an RCU grace period after an idle gap (6-15 ms: rcu_sync of
the cgroup threadgroup lock, taken by every migration). Nobody waits for it in line: ``pre_clone`` starts a
helper process (``host.Placer``) that takes the lock at once with a no-op migration of itself, ``post_start``
hands it the child's pid and returns, and the child, which meanwhile makes its mounts, waits for the helper's
report only in ``before_exec`` — then makes its cgroup namespace (rooted at the cgroup it is now in) and goes on
to exec. The command never runs outside its cgroups. ``nsrun exec`` does the same (``pre_join`` starts the
helper, ``post_join`` hands it the joining process). ``teardown`` reads whether the OOM killer struck
(``info["State"]["OOMKilled"]``), then removes the cgroups; ``gc`` removes those of dead containers.
``ctx.info["Cgroup"]`` = ``{"version": 1|2, "paths": {controller: dir}, "dirs": {hierarchy: dir}}`` tells
other commands (``update``, ``pause``, stats) where.


``--cgroupns private`` (the default, Docker's on cgroup v2 and what this plugin always picks) gives the
container a new cgroup namespace: /proc/self/cgroup shows ``/`` paths. Its own cgroup directories are bound
read-only at /sys/fs/cgroup (see ``layout``: the child is placed in them while it sets up, so the mounts
cannot wait for its namespace). ``--cgroupns host`` keeps the caller's namespace: /proc/self/cgroup shows the
host's paths; the same directories are bound.

With the user plugin the binds still work (a user namespace could not mount a v1 hierarchy afresh outside a
cgroup namespace of its own); files owned by unmapped host root give EACCES before EROFS there.

Every cgroup file system inside is read-only (the mounts, and the tmpfs holding them), so no cgroup file
can be written or created — not even the limits of the cgroup nsrun itself runs in, nor the container's own
(the namespace root). Remounting them read-write needs CAP_SYS_ADMIN, which
the sec plugin drops. Without the mnt plugin the mounts are not applied (there is no private mount table).
"""
from __future__ import annotations

import os


TYPE_CHECKING = False  # no typing import at run time (it imports re): nsrun-oci delete imports this
if TYPE_CHECKING:
    from typing import Any

from nsrun import CLONE_NEWCGROUP, ConfigError, Option, RunContext, StashKey, hookimpl

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
]
COMMANDS = {"update": "nsrun_cgroup.commands:update", "pause": "nsrun_cgroup.commands:pause",
            "unpause": "nsrun_cgroup.commands:unpause"}

_LIMITS: StashKey[dict] = StashKey()
_MADE: StashKey[tuple] = StashKey()
_PLACER: StashKey[Any] = StashKey()
_UNSHARE: StashKey[bool] = StashKey()


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


def _cannot_make(exc: OSError, ctx: RunContext) -> bool:
    """Whether a container may go without a cgroup of its own after ``exc``: only when nothing was asked of
    one (no limit, no ``--cgroup-parent``) and the cgroup nsrun runs in is simply not ours to write
    (EACCES, EPERM, EROFS: nsrun runs inside a container or without delegation)."""
    import errno
    return (exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not ctx.stash.get(_LIMITS)
            and not ctx.options.get("cgroup_parent"))


def wants_own_cgroup(ctx: RunContext) -> bool:
    """A cgroup of its own for every container that outlives the command that starts it (``run -d``, the
    daemon's, the OCI runtime's: Docker's and runc's containers all have one) and for any container started
    with a limit or ``--cgroup-parent``. A foreground ``run`` asking for neither stays in nsrun's cgroup
    (module doc): placing a process costs this kernel an RCU grace period, 15-20 ms on an idle machine, which
    the placing helper hides only in part — measured in ``make bench``: +22 ms on every such start."""
    return bool(ctx.spec.detach or ctx.stash.get(_LIMITS) or ctx.options.get("cgroup_parent"))


def _shared(ctx: RunContext, mountinfo: str, own: str, host: bool, note: str | None = None) -> int:
    """The container stays in the cgroup nsrun runs in; its namespace is rooted there, mounted read-only."""
    from .layout import plan_mounts
    mounts, notes = plan_mounts(mountinfo, own, host_ns=host)
    ctx.mounts.extend(mounts)
    notes = [*notes, note] if note else notes
    if notes:
        ctx.info["CgroupNotes"] = notes
    return 0 if host else CLONE_NEWCGROUP


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    from .layout import plan_mounts
    host = cgroupns_mode(ctx) == "host"
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open("/proc/self/cgroup") as f:
        own = f.read()
    if not wants_own_cgroup(ctx):
        return _shared(ctx, mountinfo, own, host)
    from .host import placer, write_files
    from .tree import Cgroup, cgroup_name, hierarchies
    hiers = hierarchies(mountinfo, own)
    cg = Cgroup.plan(hiers, cgroup_name(ctx.paths.tag, ctx.spec.id), ctx.options.get("cgroup_parent") or "")
    made: list[str] = []
    try:
        cg.create(made)
    except OSError as exc:
        cg.remove(made)
        if not _cannot_make(exc, ctx):
            raise
        return _shared(ctx, mountinfo, own, host, f"no cgroup of its own: {exc.strerror}: {exc.filename}")
    ctx.stash[_MADE] = (cg, made)
    cg.apply(write_files(cg, ctx.stash.get(_LIMITS) or {}))
    ctx.stash[_PLACER] = placer(hiers, cg)  # after the mkdirs: its first write holds cgroup_mutex
    ctx.pass_fds.append(ctx.stash[_PLACER].placed)
    ctx.info["Cgroup"] = cg.info()
    rel = cg.dirs
    inside = "".join(_own_line(line, hiers, rel) for line in own.splitlines(keepends=True))
    # its own cgroup directories, bound read-only (the child is placed in them only later, while it sets
    # up: a fresh mount would have to wait for that, in its new cgroup namespace)
    mounts, notes = plan_mounts(mountinfo, inside, host_ns=True)
    ctx.mounts.extend(mounts)
    if notes:
        ctx.info["CgroupNotes"] = notes
    return 0  # the cgroup namespace is made by the child (before_exec), once it is in its cgroup


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
    placer = ctx.stash.get(_PLACER)
    if placer is not None:
        placer.place(pid)  # the child waits for it in before_exec; we go on


@hookimpl
def post_exec(ctx: RunContext, pid: int) -> None:
    """The command runs, so the helper has placed it and is exiting: reap it now, not at teardown (a detached
    container's supervisor would otherwise keep a zombie for the container's whole life)."""
    _stop_placer(ctx)


def _stop_placer(ctx: RunContext) -> None:
    placer = ctx.stash.pop(_PLACER, None)
    if placer is not None:
        placer.stop()


@hookimpl
def before_exec(ctx: RunContext) -> None:
    """[child] Wait until the placing helper put us into our cgroups (``host.Placer``: the kernel's wait for
    that overlapped our setup), then, for a run, make the cgroup namespace: rooted at the cgroup we are in
    now. An exec joined the container's namespace instead (``_JOIN_ORDER``)."""
    placer = ctx.stash.get(_PLACER)
    if placer is None:
        return
    from .host import wait_placed
    wait_placed(placer)
    if ctx.stash.get(_UNSHARE):
        from nsrun.syscalls import unshare  # loaded long before (the fork needs it): no import in the child
        unshare(CLONE_NEWCGROUP)


@hookimpl
def in_child(ctx: RunContext) -> None:
    if cgroupns_mode(ctx) == "private" and ctx.stash.get(_MADE) is not None:
        ctx.stash[_UNSHARE] = True  # in before_exec, once placed (a forked copy: ours alone)


@hookimpl
def pre_join(ctx: RunContext) -> None:
    """``nsrun exec`` into a paused container is refused (Docker's words); a helper starts placing the
    joining process into the container's cgroups (``post_join`` hands it the pid)."""
    from nsrun import find_container
    rec = find_container(ctx.paths, ctx.spec.id)
    if (rec["info"].get("State") or {}).get("Paused"):
        raise ConfigError(f"Container {ctx.spec.id[:12]} is paused, unpause the container before exec")
    dirs = sorted(set(((rec["info"].get("Cgroup") or {}).get("dirs") or {}).values()))
    if dirs:
        from .host import joiner
        ctx.stash[_PLACER] = joiner(dirs)
        ctx.pass_fds.append(ctx.stash[_PLACER].placed)


@hookimpl
def post_join(ctx: RunContext, pid: int) -> None:
    """The joining process goes into the container's cgroups, as Docker's exec does: its limits count it
    (placed by the helper; the process waits for it in ``before_exec``)."""
    placer = ctx.stash.pop(_PLACER)
    if placer is not None:
        placer.place(pid)
        os.close(placer.placed)  # the joining process holds its own copy
        placer.placed = -1  # the helper exits once it placed it: a zombie of ours until this exec ends


@hookimpl
def teardown(ctx: RunContext, status: int | None) -> None:
    _stop_placer(ctx)
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
def collect(paths: Any, cid: str, info: dict) -> list[str]:
    """The container's cgroups: exactly the directories its record names (``info["Cgroup"]``, written at
    create); for a creation cut short before it recorded them, this container's name is looked for as ``gc``
    looks for every dead container's."""
    if ((info.get("Cgroup") or {}).get("dirs")):
        from .tree import Cgroup
        Cgroup.from_info(info).remove()
        return [f"removed the cgroups of container {cid[:12]}"]
    from .host import collect as collect_dead
    return collect_dead(paths, frozenset(), only=cid)


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
    fields.take("linux.cgroupsPath", str)  # every container has a cgroup of its own, beneath ours, named by us
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
