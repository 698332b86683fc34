"""PID namespace: the command is PID 1 and sees only its own processes (with mnt, which mounts a fresh /proc).

``--init`` keeps a small reaper as PID 1 (the core's, see ``nsrun._spawn``) that forwards signals to the
command and reaps orphaned zombies, like Docker's ``--init``.
"""
from nsrun import CLONE_NEWPID, Option, RunContext, hookimpl

DEFAULT = True
ORDER = 30
OPTIONS = [Option(("--init",), "init", help="Run an init inside the container that forwards signals and reaps "
                                            "processes", is_flag=True)]


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    return CLONE_NEWPID


@hookimpl
def docker_create(fields):
    return {"init": True} if fields.take("HostConfig.Init", bool) else None


@hookimpl
def docker_view(options, view) -> None:
    view["HostConfig"]["Init"] = bool(options.get("init"))
