"""IPC namespace: SysV objects and POSIX message queues made on the host are invisible inside, and the reverse.

POSIX shared memory lives in /dev/shm, which the mnt plugin makes private; the message-queue filesystem is
contributed here as a mount so that /dev/mqueue shows this namespace's queues.

``--sysctl`` (``HostConfig.Sysctls``) items of this namespace's keys are this plugin's: Docker's IPC list
(``kernel.msg*``, ``kernel.sem``, ``kernel.shm*``, ``fs.mqueue.*``), written inside the new namespace.
"""
from nsrun import CLONE_NEWIPC, Mount, Option, RunContext, hookimpl

from . import sysctls

DEFAULT = True
ORDER = 20
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
SYSCTL_KEYS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.*")
OPTIONS = [Option(("--sysctl",), "ipc_sysctls", multiple=True, keys=SYSCTL_KEYS, metavar="KEY=VALUE",
                  help="Set a namespaced kernel parameter (ipc: kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)")]


def _sysctl_mine(key: str) -> bool:
    return key in SYSCTL_KEYS or key.startswith("fs.mqueue.")


@hookimpl
def configure(ctx: RunContext) -> None:
    sysctls.parse(ctx.options.get("ipc_sysctls"))


@hookimpl
def in_child(ctx: RunContext) -> None:
    sysctls.apply(ctx.options.get("ipc_sysctls"))


@hookimpl
def docker_create(fields):
    return sysctls.from_docker(fields, "ipc_sysctls", _sysctl_mine) or None


@hookimpl
def docker_view(options, view) -> None:
    sysctls.into_view(options.get("ipc_sysctls"), view)


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    ctx.mounts.append(Mount("mqueue", "/dev/mqueue", "mqueue", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC))
    return CLONE_NEWIPC


@hookimpl
def oci_config(fields):
    from nsrun import ConfigError
    for ns in fields.take_items("linux.namespaces", "ipc", by="type"):
        if ns.get("path"):
            raise ConfigError("config.json: joining an existing ipc namespace (path) is not supported")
    fields.take_where("mounts", lambda m: isinstance(m, dict) and m.get("type") == "mqueue"
                      and m.get("destination") == "/dev/mqueue")  # the one this plugin makes
    return sysctls.from_docker(fields, "ipc_sysctls", _sysctl_mine, "linux.sysctl") or None

