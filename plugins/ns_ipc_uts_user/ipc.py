"""IPC namespace: SysV objects and POSIX message queues made on the host are invisible inside, and the reverse.

POSIX shared memory lives in /dev/shm, which the mnt plugin makes private; the message-queue filesystem is
contributed here as a mount so that /dev/mqueue shows this namespace's queues. ``--ipc container:NAME`` joins
a shareable container's namespace and its /dev/shm too (``shm``); ``--ipc shareable`` lets others join;
``--ipc host`` keeps the host's namespace and binds the host's /dev/shm (nosuid, nodev, noexec), as Docker does.
An IPC namespace not the container's own is refused with a user namespace of its own (the user plugin): that
namespace may neither join it nor mount its /dev/mqueue.

``--sysctl`` (``HostConfig.Sysctls``) items of this namespace's keys are this plugin's: Docker's IPC list
(``kernel.msg*``, ``kernel.sem``, ``kernel.shm*``, ``fs.mqueue.*``), written inside the new namespace.
"""
from nsrun import CLONE_NEWIPC, ConfigError, Mount, Option, RunContext, hookimpl

from . import joined, sysctls

DEFAULT = True
ORDER = 20
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND = 2, 4, 8, 4096
SYSCTL_KEYS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.*")
OPTIONS = [Option(("--sysctl",), "ipc_sysctls", multiple=True, keys=SYSCTL_KEYS, metavar="KEY=VALUE",
                  help="Set a namespaced kernel parameter (ipc: kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)"),
           Option(("--ipc",), "ipc", help="IPC namespace: private (the default), shareable (others may join it), host, container:NAME "
                       "(join a shareable one, with its /dev/shm) or ns:PATH",
                  metavar="MODE")]
JOIN_KEY = "ipc.join"
SHM_KEY = "ipc.shm"


def _sysctl_mine(key: str) -> bool:
    return key in SYSCTL_KEYS or key.startswith("fs.mqueue.")


@hookimpl
def configure(ctx: RunContext) -> None:
    mode = ctx.options.get("ipc")
    if mode and mode.startswith("container:") and mode != "container:":
        from . import shm  # loaded in the parent: the child only calls it
        ctx.stash[JOIN_KEY], ctx.stash[SHM_KEY] = shm.donor(ctx.paths, mode.partition(":")[2])
    else:
        ctx.stash[JOIN_KEY] = joined.configured_path(mode, "ipc", ctx.paths)
    if ctx.stash[JOIN_KEY] and ctx.uid_maps:  # the user plugin (configured first) made the maps
        raise ConfigError(f"--ipc {mode}: another IPC namespace cannot be combined with a user namespace of the "
                          f"container's own (it may not join it, nor mount its /dev/mqueue)")
    if sysctls.parse(ctx.options.get("ipc_sysctls")) and ctx.stash[JOIN_KEY] == joined.HOST:
        raise ConfigError("--sysctl: kernel IPC parameters are not allowed when IpcMode is host")


@hookimpl
def in_child(ctx: RunContext) -> None:
    path = ctx.stash.get(JOIN_KEY)
    if path and path != joined.HOST:  # before the mnt plugin mounts /dev/mqueue: it shows this namespace
        joined.join(path, CLONE_NEWIPC)
    if donor := ctx.stash.get(SHM_KEY):  # the donor's /dev/shm, attached by the mnt plugin over our own
        from . import shm
        ctx.mounts.append(Mount(shm.donor_shm(donor), "/dev/shm", flags=_MS_BIND | _MS_NOSUID | _MS_NOEXEC))
    sysctls.apply(ctx.options.get("ipc_sysctls"))


@hookimpl
def docker_create(fields):
    out = sysctls.from_docker(fields, "ipc_sysctls", _sysctl_mine)
    mode = fields.take("HostConfig.IpcMode", str)
    if mode and mode != "private":  # shareable is kept: it says who may join
        if mode not in ("shareable", joined.HOST) and not mode.startswith("container:"):
            raise ConfigError(f"HostConfig.IpcMode {mode!r}: nsrun supports private, shareable, host and "
                              f"container:NAME")
        out["ipc"] = mode
    return out or None


@hookimpl
def docker_view(options, view) -> None:
    sysctls.into_view(options.get("ipc_sysctls"), view)
    view["HostConfig"]["IpcMode"] = options.get("ipc") or "private"


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    ctx.mounts.append(Mount("mqueue", "/dev/mqueue", "mqueue", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC))
    if ctx.stash.get(JOIN_KEY) == joined.HOST:  # the host's POSIX shared memory too, as Docker binds it
        ctx.mounts.append(Mount("/dev/shm", "/dev/shm", flags=_MS_BIND | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC))
    return 0 if ctx.stash.get(JOIN_KEY) else CLONE_NEWIPC


@hookimpl
def oci_config(fields):
    out = joined.oci_path(fields, "ipc") or {}
    fields.take_where("mounts", lambda m: isinstance(m, dict) and m.get("type") == "mqueue"
                      and m.get("destination") == "/dev/mqueue")  # the one this plugin makes
    out.update(sysctls.from_docker(fields, "ipc_sysctls", _sysctl_mine, "linux.sysctl"))
    return out or None

