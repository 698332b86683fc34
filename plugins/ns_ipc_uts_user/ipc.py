"""IPC namespace: SysV objects and POSIX message queues made on the host are invisible inside, and the reverse.

POSIX shared memory lives in /dev/shm, which the mnt plugin makes private; the message-queue filesystem is
contributed here as a mount so that /dev/mqueue shows this namespace's queues.
"""
from nsrun import CLONE_NEWIPC, Mount, RunContext, hookimpl

DEFAULT = True
ORDER = 20
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8


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
