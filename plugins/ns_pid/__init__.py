"""PID namespace: the command is PID 1 and sees only its own processes (with mnt, which mounts a fresh /proc).

``--init`` keeps a small reaper as PID 1 that forwards signals to the command and reaps orphaned zombies, like
Docker's ``--init``: it forks the command in ``wrap_exec`` (``nsrun.fork_command``), after every privilege was
dropped, so the reaper runs as the container's user under the same filters.

``--pid host`` (``HostConfig.PidMode: "host"``) makes no PID namespace: the container's first process is the one
the core forked (no stage-1 fork), it sees the host's processes, and the mnt plugin's fresh /proc shows them too
(a proc mount shows the PID namespace of its mounter). ``--init`` then is not PID 1, so the reaper makes itself a
child subreaper: the command's orphans still come to it, as with Docker's tini.

``--pid container:NAME`` (``HostConfig.PidMode: "container:NAME"``) puts the new container into that running
container's PID namespace, ``ns:PATH`` (an OCI config's ``pid`` entry with a ``path``) into the namespace at
``PATH``: no new namespace; the descriptor goes to the core's fork protocol (``ctx.pid_namespace``, ``join``).
Both see each other's processes (a fresh /proc shows the namespace of its mounter); the joiner's command is not
PID 1 there, and dies with the first container's init. With a user namespace of the container's own it is
refused (see ``join``).
"""
import _signal as signal  # imported now: the child cannot import after pivot_root
import os

from nsrun import CLONE_NEWPID, ConfigError, Option, RunContext, fork_command, hookimpl, syscalls

DEFAULT = True
ORDER = 30
OPTIONS = [Option(("--init",), "init", help="Run an init inside the container that forwards signals and reaps "
                                            "processes", is_flag=True),
           Option(("--pid",), "pid", metavar="MODE",
                  help="PID namespace: private (the default), host (see the host's processes), "
                       "container:NAME or ns:PATH (join that one)")]
HOST = "host"
JOIN = "join"
MODE_KEY = "pid.mode"
TARGET_KEY = "pid.target"
FD_KEY = "pid.fd"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


def checked_mode(mode: str | None, what: str = "--pid") -> str:
    """``""`` (a PID namespace of the container's own), ``"host"``, or the mode to join as given
    (``container:NAME``, ``ns:PATH``); anything else is one ConfigError line."""
    if not mode or mode == "private":
        return ""
    if mode == HOST or (mode.startswith("container:") and mode != "container:") or mode.startswith("ns:"):
        return mode
    raise ConfigError(f"{what} {mode!r}: nsrun supports host, container:NAME, ns:PATH (or the default private "
                      f"namespace)")


@hookimpl
def configure(ctx: RunContext) -> None:
    mode = checked_mode(ctx.options.get("pid"))
    if mode and mode != HOST:
        from .join import target
        ctx.stash[TARGET_KEY] = target(ctx, mode)
        mode = JOIN
    ctx.stash[MODE_KEY] = mode


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    mode = ctx.stash.get(MODE_KEY)
    if mode == JOIN:
        from .join import open_target
        ctx.pid_namespace = ctx.stash[FD_KEY] = open_target(*ctx.stash[TARGET_KEY], ctx.options["pid"])
        return 0
    return 0 if mode == HOST else CLONE_NEWPID


@hookimpl
def teardown(ctx: RunContext) -> None:
    if (fd := ctx.stash.pop(FD_KEY, None)) is not None:
        ctx.pid_namespace = -1
        os.close(fd)


@hookimpl
def wrap_exec(ctx: RunContext, joining: bool) -> None:
    if ctx.options.get("init") and not joining:
        if os.getpid() != 1:  # --pid host: orphans go to the nearest subreaper; be it, as PID 1 would be, and
            syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)  # before the command can orphan one (not inherited)
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
    paths = [ns["path"] for ns in fields.take_items("linux.namespaces", "pid", by="type") if ns.get("path")]
    if paths and not isinstance(paths[0], str):
        raise ConfigError("config.json: linux.namespaces: the pid path must be a string")
    return {"pid": f"ns:{paths[0]}"} if paths else None
