"""PID namespace: the command is PID 1 and sees only its own processes (with mnt, which mounts a fresh /proc).

``--init`` keeps a small reaper as PID 1 that forwards signals to the command and reaps orphaned zombies, like
Docker's ``--init``: it forks the command in ``wrap_exec`` (``nsrun.fork_command``), after every privilege was
dropped, so the reaper runs as the container's user under the same filters.
"""
import _signal as signal  # imported now: the child cannot import after pivot_root
import os

from nsrun import CLONE_NEWPID, Option, RunContext, fork_command, hookimpl

DEFAULT = True
ORDER = 30
OPTIONS = [Option(("--init",), "init", help="Run an init inside the container that forwards signals and reaps "
                                            "processes", is_flag=True)]
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    return CLONE_NEWPID


@hookimpl
def wrap_exec(ctx: RunContext, joining: bool) -> None:
    if ctx.options.get("init") and not joining:
        command = fork_command()
        if command:
            _reap(command)


def _reap(command: int) -> None:
    """PID 1 with ``--init``: forward signals to the command, reap every zombie, exit with the command's
    status (128+N for signal N) once it ends. Never returns."""
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(command, signum)
        except ProcessLookupError:
            pass
    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == command:
            os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


@hookimpl
def docker_create(fields):
    return {"init": True} if fields.take("HostConfig.Init", bool) else None


@hookimpl
def docker_view(options, view) -> None:
    view["HostConfig"]["Init"] = bool(options.get("init"))


@hookimpl
def oci_config(fields):
    for ns in fields.take_items("linux.namespaces", "pid", by="type"):
        if ns.get("path"):
            from nsrun import ConfigError
            raise ConfigError("config.json: joining an existing pid namespace (path) is not supported")
