"""PID namespace: the command is PID 1 and sees only its own processes (with mnt, which mounts a fresh /proc).

``--init`` keeps a small reaper as PID 1 that forwards signals to the command and reaps orphaned zombies, like
Docker's ``--init``: it forks the command in ``wrap_exec`` (``nsrun.fork_command``), after every privilege was
dropped, so the reaper runs as the container's user under the same filters.

``--pid host`` (``HostConfig.PidMode: "host"``) makes no PID namespace: the container's first process is the one
the core forked (no stage-1 fork), it sees the host's processes, and the mnt plugin's fresh /proc shows them too
(a proc mount shows the PID namespace of its mounter). ``--init`` then is not PID 1, so the reaper makes itself a
child subreaper: the command's orphans still come to it, as with Docker's tini. ``container:NAME`` (joining a
running container's PID namespace for a new container) is refused by name: the core forks PID 1 into a new
namespace or none and has no contract to join one.
"""
import _signal as signal  # imported now: the child cannot import after pivot_root
import os

from nsrun import CLONE_NEWPID, ConfigError, Option, RunContext, fork_command, hookimpl, syscalls

DEFAULT = True
ORDER = 30
OPTIONS = [Option(("--init",), "init", help="Run an init inside the container that forwards signals and reaps "
                                            "processes", is_flag=True),
           Option(("--pid",), "pid", metavar="MODE",
                  help="PID namespace: private (the default) or host (see the host's processes)")]
HOST = "host"
MODE_KEY = "pid.mode"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def checked_mode(mode: str | None, what: str = "--pid") -> str:
    """``""`` (a PID namespace of the container's own) or ``"host"``; anything else is one ConfigError line."""
    if not mode or mode == "private":
        return ""
    if mode == HOST:
        return HOST
    if mode.startswith("container:"):
        raise ConfigError(f"{what} {mode}: joining another container's PID namespace is not supported "
                          f"(use host, or the default private namespace)")
    raise ConfigError(f"{what} {mode!r}: nsrun supports host (or the default private namespace)")


@hookimpl
def configure(ctx: RunContext) -> None:
    ctx.stash[MODE_KEY] = checked_mode(ctx.options.get("pid"))


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    return 0 if ctx.stash.get(MODE_KEY) == HOST else CLONE_NEWPID


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
    if os.getpid() != 1:  # --pid host: orphans go to the nearest subreaper; be it, as PID 1 would be
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
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
    out = {"init": True} if fields.take("HostConfig.Init", bool) else {}
    if mode := checked_mode(fields.take("HostConfig.PidMode", str), "HostConfig.PidMode"):
        out["pid"] = mode
    return out or None


@hookimpl
def docker_view(options, view) -> None:
    view["HostConfig"]["Init"] = bool(options.get("init"))
    view["HostConfig"]["PidMode"] = options.get("pid") or ""


@hookimpl
def oci_config(fields):
    for ns in fields.take_items("linux.namespaces", "pid", by="type"):
        if ns.get("path"):
            from nsrun import ConfigError
            raise ConfigError("config.json: joining an existing pid namespace (path) is not supported")
