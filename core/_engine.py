"""Container operations shared by every front end (the CLI in embedded mode, the daemon, the supervisor).

Each public method is one user-visible verb; all of them take names or ids and raise NsrunError subclasses.
Starting a container always goes through ``_lifecycle.run_container``.
"""
from __future__ import annotations

import os
import _signal as signal  # the C module: signal.py builds its enums at import (~1.5 ms per start)
import time
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any, Iterator

    from ._plugins import LoadedPlugins

from . import _trace
from ._context import ContainerSpec, Paths, RunContext
from ._parse import parse_user
from ._state import Record, Store, alive, new_id, plugin_state
from .errors import ConfigError, ConflictError, PluginError

__all__ = ["Engine", "describe", "stop_signal", "stop_timeout"]

class Engine:
    """Operations on the containers and images under one nsrun root."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.store = Store(paths)
        self._images: Any = None

    @property
    def images(self) -> Any:
        """The image store (imported on first use: ``exec``, ``ps`` and ``rm`` never need it)."""
        if self._images is None:
            from ._images import Images
            self._images = Images(self.paths)
        return self._images

    # -- creating ----------------------------------------------------------------------------------------
    def prepare(self, *, argv: list[str], image: str | None = None, rootfs: str | None = None,
                name: str | None = None, env: dict[str, str] | None = None, workdir: str | None = None,
                user: str | None = None, tty: bool = False, interactive: bool = False, detach: bool = False,
                remove: bool = False, plugins: list[str] | None = None,
                options: dict[str, Any] | None = None, entrypoint: list[str] | None = None,
                stop_signal: str | None = None, stop_timeout: int | None = None,
                group_add: list[str] | None = None, labels: dict[str, str] | None = None, restart: str = "",
                log_opts: dict[str, str] | None = None, healthcheck: dict[str, Any] | None = None,
                loaded: LoadedPlugins | None = None, stdin_once: bool = False,
                attach: tuple[bool, bool, bool] | None = None
                ) -> tuple[LoadedPlugins, RunContext]:
        """Check everything the user asked for; load the plugins (``loaded``: those of ``plugins``, already
        loaded by the caller: nsrun-oci's mapping of config.json used them); create nothing.

        ``argv`` is the user's command (may be empty: the image's ``Cmd``); the image's config is merged in
        with Docker's rules (``_imageconfig.apply``; ``entrypoint`` None keeps the image's, ``[""]`` clears it).
        ``stdin_once`` (Docker's ``Config.StdinOnce``, with ``interactive``; the docker CLI sets it for ``-i``
        but not ``run -d``): the end of an attached client's stdin closes the container's (before any client
        it stays open); without it a ``-i`` container's stdin stays open whatever clients do (``run -di``).
        ``attach``: the client's ``AttachStdin``/``AttachStdout``/``AttachStderr``, shown by inspect. Both go
        into ``spec.config``."""
        from ._plugins import default_selection, load_plugins  # here: stats, ps, rm... never load a plugin
        with _trace.phase("load plugins"):
            names = plugins if plugins is not None else default_selection()
            if loaded is None or set(loaded.names) != set(names):
                loaded = load_plugins(names)
        options = {k: v for k, v in (options or {}).items() if v not in (None, False, (), [])}
        from ._discovery import plugin_options
        from ._options import route_items
        options = route_items(options, plugin_options(), loaded.names)
        self._check_option_owners(options, loaded.names)
        if name is not None and not name:
            raise ConfigError("invalid container name: empty")
        layers: list[str] = []
        image_meta: dict[str, Any] | None = None
        if rootfs:
            if not os.path.isdir(rootfs):
                raise ConfigError(f"rootfs {rootfs}: no such directory")
            rootfs = os.path.realpath(rootfs)
        elif image:
            image_meta = self.images.get(image)
            layers, rootfs = self.images.resolve(image, image_meta)
        else:
            raise ConfigError("an image or --rootfs is required")
        if workdir and not os.path.isabs(workdir):
            raise ConfigError(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
        if stop_signal:
            from ._parse import parse_signal
            parse_signal(stop_signal)
        if restart:
            from ._parse import parse_restart
            policy, count = parse_restart(restart)
            restart = f"{policy}:{count}" if count else policy
            if restart and remove:
                raise ConfigError("Conflicting options: --restart and --rm")
        if log_opts:
            from ._logfile import parse_log_opts
            log_opts = parse_log_opts(log_opts)
        from ._imageconfig import apply as apply_image_config, image_config
        run = apply_image_config(image_config(image_meta) if image_meta is not None else {},
                                 cmd=list(argv), entrypoint=entrypoint, env=env, workdir=workdir, user=user,
                                 stop_signal=stop_signal, labels=labels, healthcheck=healthcheck)
        if stop_timeout is not None:  # Config.StopTimeout: stop's and restart's default for this container
            if isinstance(stop_timeout, bool) or not isinstance(stop_timeout, int):
                raise ConfigError(f"StopTimeout: expected a whole number of seconds, got {stop_timeout!r}")
            run.config["StopTimeout"] = stop_timeout
        if stdin_once and interactive:
            run.config["StdinOnce"] = True
        if attach is not None:
            run.config.update(zip(("AttachStdin", "AttachStdout", "AttachStderr"), map(bool, attach)))
        groups = []
        if group_add:
            from ._parse import parse_groups
            groups = parse_groups(group_add, rootfs)
        spec = ContainerSpec(id=new_id(), name=name or "", argv=run.argv, image=image, rootfs=rootfs,
                             layers=layers, env=run.env, workdir=run.workdir or "/", user=parse_user(run.user, rootfs),
                             groups=groups,
                             tty=tty,
                             interactive=interactive, detach=detach, remove=remove, plugins=loaded.names,
                             options=options, config=run.config, restart=restart,
                             log_opts=dict(log_opts or {}))
        ctx = loaded.context(spec, self.paths)
        from ._lifecycle import configure
        configure(loaded, ctx)
        return loaded, ctx

    @staticmethod
    def _check_option_owners(options: dict[str, Any], selected: list[str]) -> None:
        from ._plugins import installed_plugins
        records = installed_plugins()
        owners: dict[str, list[tuple[str, str]]] = {}
        for rec in records.values():  # a dest may have several installed owners (a renamed copy of a plugin)
            for opt in rec.options:
                owners.setdefault(opt["dest"], []).append((rec.name, opt["flags"][-1]))
        for dest in options:
            found = owners.get(dest)
            if not found:
                raise ConfigError(f"unknown option {dest!r}")
            if not any(name in selected for name, _ in found):
                name, flag = found[0]
                raise PluginError(f"{flag} needs the {name!r} plugin, which is not selected "
                                  f"(--plugins {','.join(selected + [name])})")

    def create(self, ctx: RunContext, state: dict[str, Any] | None = None) -> Record:
        """The record of ``ctx`` (``state``: fields of its first state, ``Store.create``)."""
        return self.store.create(ctx.spec, state)

    def create_unstarted(self, ctx: RunContext) -> Record:
        """A record for a supervisor to start later (``nsrun create``, the daemon's create): owned by nobody
        until then (the creator's exit must not make it look dead), with its log file and, for ``-i``, its
        stdin FIFO in place, so an attach made before the start misses nothing."""
        rec = self.create(ctx)
        try:
            rec.update(owner_pid=None, owner_start=None)
            open(self.log_path(rec), "ab").close()
            if rec.spec.interactive:
                os.mkfifo(os.path.join(rec.dir, "stdin"), 0o600)
        except BaseException:
            self.store.remove(rec.id)
            raise
        return rec

    def run(self, loaded: LoadedPlugins, ctx: RunContext, record: Record, io: Any,
            on_started: Any = None) -> int:
        """Run a created container in this process until it exits; honour ``--rm``."""
        from ._lifecycle import run_container
        try:
            return run_container(loaded, ctx, record, io, on_started=on_started)
        finally:
            if ctx.spec.remove:
                with _trace.phase("remove (--rm)"):
                    self.store.remove(record.id)

    def start_detached(self, record: Record) -> None:
        """Hand a created container to a fresh supervisor process; return once it runs (or failed). A ``-i``
        container gets its stdin FIFO first if it has none yet (``run -di``), for a later ``attach``."""
        import subprocess
        if record.spec.interactive:
            try:
                os.mkfifo(os.path.join(record.dir, "stdin"), 0o600)
            except FileExistsError:
                pass
        read_fd, write_fd = os.pipe()
        from ._launch import error_from_reply, supervisor_argv  # -d only
        cmd = supervisor_argv(self.paths, record.id, write_fd)
        with open(os.devnull, "rb") as devnull:
            proc = subprocess.Popen(cmd, stdin=devnull, stdout=devnull, stderr=subprocess.DEVNULL,
                                    pass_fds=(write_fd,), start_new_session=True, close_fds=True)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as f:
            reply = f.read().decode()
        if reply != "ok":
            proc.wait()
            raise error_from_reply(reply)

    # -- looking -----------------------------------------------------------------------------------------
    def find(self, ref: str) -> Record:
        return self.store.find(ref)

    def list(self, all: bool = False) -> list[Record]:
        return [r for r in self.store.list() if all or r.running or r.status == "restarting"]  # as docker ps

    # -- stopping ----------------------------------------------------------------------------------------
    def kill(self, ref: str, sig: int = signal.SIGKILL) -> Record:
        rec = self.find(ref)
        if not rec.running:
            raise ConflictError(f"Cannot kill container: {ref}: container {rec.id} is not running")
        if rec.spec.restart:
            rec.update(manual_stop=True)  # a killed container is not restarted (dockerd's rule)
        self._signal(rec, sig)
        return rec

    @staticmethod
    def _signal(rec: Record, sig: int) -> None:
        pid = rec.state.get("pid")
        if pid and alive(pid, rec.state.get("pid_start")):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def wait_exit(self, rec: Record, timeout: float | None = None) -> bool:
        """Wait until the owner recorded the exit (teardown done); True if it did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.002
        while True:
            fresh = self.store.load(rec.id)
            if fresh is None or fresh.status in ("exited", "dead"):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def stop(self, ref: str, timeout: float | None = None) -> Record:
        """The container's stop signal (the image's ``StopSignal`` or ``--stop-signal``; SIGTERM by default),
        then SIGKILL after ``timeout`` seconds (Docker's stop; None: the container's ``--stop-timeout``, else
        10; negative: wait for as long as it takes)."""
        rec = self.find(ref)
        timeout = stop_timeout(rec.spec) if timeout is None else timeout
        forever = timeout < 0
        timeout = max(timeout, 0)
        if rec.spec.restart and rec.status in ("running", "restarting"):
            rec.update(manual_stop=True)  # its supervisor restarts it no more
            if rec.status == "restarting":   # between two runs: its supervisor sees the flag within 50 ms
                self.wait_exit(rec, max(timeout, 5))
        if not rec.running:
            return rec
        self._signal(rec, stop_signal(rec.spec))
        if not self.wait_exit(rec, None if forever else timeout):
            self._signal(rec, signal.SIGKILL)
            self.wait_exit(rec, 10)
        return rec

    def remove(self, ref: str, force: bool = False) -> Record:
        rec = self.find(ref)
        if rec.status == "restarting":
            if not force:
                raise ConflictError(f"You cannot remove a restarting container {rec.id}. Stop the container "
                                    f"before attempting removal or force remove")
            self.stop(rec.id, 0)
            rec = self.find(rec.id)
        if rec.running:
            if not force:
                raise ConflictError(f"You cannot remove a running container {rec.id}. Stop the container "
                                    f"before attempting removal or force remove")
            if rec.spec.restart:  # else its supervisor would run it again (137 is a failure) as it goes
                rec.update(manual_stop=True)
            self._signal(rec, signal.SIGKILL)
            self.wait_exit(rec, 10)
        elif rec.status == "dead":
            self.gc(only=rec.id)
        with rec.lock():
            self.store.remove(rec.id)
        return rec

    def rename(self, ref: str, new: str) -> Record:
        return self.store.rename(ref, new)

    # -- starting again ----------------------------------------------------------------------------------
    def start(self, ref: str) -> Record:
        """``nsrun start``: a created or stopped container runs again, detached, under a fresh supervisor
        (every plugin's setup again, as a restart policy's run). A running one is left alone (Docker's 304)."""
        rec = self.find(ref)
        if rec.running or rec.status == "restarting":
            return rec
        if rec.status == "dead":
            raise ConflictError(f"container {rec.id} is dead: run `nsrun gc` or remove it")
        self.start_detached(rec)  # its supervisor clears a restart policy's manual stop
        return rec

    def restart(self, ref: str, timeout: float | None = None) -> Record:
        rec = self.stop(ref, timeout)
        self.wait_exit(rec, max(stop_timeout(rec.spec) if timeout is None else timeout, 0) + 10)
        return self.start(rec.id)

    def wait(self, ref: str) -> int:
        """``nsrun wait``: block until the container is not running; its exit code."""
        rec = self.find(ref)
        self.wait_exit(rec)
        fresh = self.store.load(rec.id)
        return int((fresh.state.get("exit_code") if fresh else rec.state.get("exit_code")) or 0)

    # -- logs and inspect --------------------------------------------------------------------------------
    def log_path(self, rec: Record) -> str:
        return os.path.join(rec.dir, "container.log")

    def logs(self, ref: str, follow: bool = False, timestamps: bool = False, since: float | None = None,
             until: float | None = None, tail: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(stream, data) of a container's output; ``timestamps`` prefixes each line with its time (RFC 3339,
        ns), ``since``/``until`` (unix seconds) keep what was written in between, ``tail`` the last lines."""
        from ._frames import stamp as _stamp
        from ._logfile import LogReader
        rec = self.find(ref)
        reader = LogReader(self.log_path(rec))  # and its rotated files, followed across rotations
        lo = int(since * 1e9) if since else 0
        hi = int(until * 1e9) if until else 0

        def records() -> Iterator[tuple[int, bytes]]:
            for stream, data, ts in reader.records(times=True):
                if (lo and ts < lo) or (hi and ts > hi):
                    continue
                if not timestamps and tail is None:
                    yield stream, data
                    continue
                for line in data.splitlines(keepends=True):
                    yield stream, (_stamp(ts) + line if timestamps else line)
        try:
            if tail is not None:
                yield from list(records())[-tail:] if tail > 0 else []
            while True:
                yield from records()
                if not follow or (hi and hi < time.time_ns()):
                    return
                fresh = self.store.load(rec.id)
                if fresh is None or not fresh.running:
                    yield from records()
                    return
                time.sleep(0.05)
        finally:
            reader.close()

    def inspect(self, ref: str) -> dict[str, Any]:
        rec = self.find(ref)
        return describe(rec)

    # -- live figures ---------------------------------------------------------------------------------------
    def stats(self, refs: list[str], stream: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Frames of Docker-shaped stats of ``refs`` (every running container when empty); see stats.frames."""
        from .stats.frames import frames
        return frames(self, refs, stream)

    def top(self, ref: str, ps_args: str | None = None) -> dict[str, Any]:
        """``{"Titles", "Processes"}`` of a running container, as ``docker top``."""
        from .stats.top import top
        return top(self.find(ref), ps_args)

    # -- exec ---------------------------------------------------------------------------------------------
    def exec(self, ref: str, argv: list[str], *, tty: bool = False, interactive: bool = False,
             env: dict[str, str] | None = None, workdir: str | None = None, user: str | None = None,
             client: int | None = None) -> int:
        """Run ``argv`` in the running container ``ref`` here (``_exec``); its exit status. ``client``: a
        descriptor whose EOF means the caller is gone (the supervisor's exec helper: its client's
        connection), which kills the command as a killed ``nsrun exec`` takes its command with it."""
        from ._exec import exec_in
        rec = self.find(ref)
        if not rec.running:
            raise ConflictError(f"container {rec.id} is not running")
        return exec_in(self, rec, argv, tty=tty, interactive=interactive, env=env or {}, workdir=workdir,
                       user=user, client=client)

    # -- repair ---------------------------------------------------------------------------------------------
    def gc(self, only: str | None = None, reset: bool = False) -> list[str]:
        from ._gc import collect
        return collect(self, only=only, reset=reset)


def stop_timeout(spec: ContainerSpec) -> int:
    """Seconds ``stop`` waits before SIGKILL when the caller gives none: the recorded ``StopTimeout``, else 10."""
    value = spec.config.get("StopTimeout")
    return value if isinstance(value, int) and not isinstance(value, bool) else 10


def stop_signal(spec: ContainerSpec) -> int:
    """The signal ``stop`` sends first: the recorded ``StopSignal`` (validated when the container was made;
    one that this host does not know falls back to SIGTERM)."""
    text = spec.config.get("StopSignal")
    if not text:
        return signal.SIGTERM
    from ._parse import parse_signal
    try:
        return parse_signal(text)
    except ConfigError:
        return signal.SIGTERM


def describe(rec: Record) -> dict[str, Any]:
    """The ``inspect`` view of a record (Docker-shaped where Docker has a field)."""
    st = rec.state
    status = rec.status
    state = plugin_state(st.get("info") or {}, status)
    return {
        "Id": rec.id, "Name": rec.name, "Created": st.get("created"), "Path": rec.spec.argv[0],
        "Args": rec.spec.argv[1:], "Image": rec.spec.image or rec.spec.rootfs,
        "State": {"Status": state.pop("Status"), "Running": status == "running", **state, "Pid": rec.pid or 0,
                  "ExitCode": st.get("exit_code") if st.get("exit_code") is not None else 0,
                  "Error": st.get("error", ""), "StartedAt": st.get("started"), "FinishedAt": st.get("finished")},
        "Config": {"Hostname": (st.get("info") or {}).get("Hostname", ""), "Env": [f"{k}={v}" for k, v in
                   rec.spec.env.items()], **_container_config(rec.spec), "WorkingDir": rec.spec.workdir,
                   "User": ":".join(map(str, rec.spec.user)), "Tty": rec.spec.tty,
                   "OpenStdin": rec.spec.interactive},
        "Plugins": rec.spec.plugins, "Options": rec.spec.options, "Info": st.get("info") or {},
        "HostConfig": {"AutoRemove": rec.spec.remove,
                       "LogConfig": {"Type": "json-file", "Config": dict(rec.spec.log_opts or {})}},
    }


def _container_config(spec: ContainerSpec) -> dict[str, Any]:
    from ._imageconfig import container_config
    return container_config(spec)
