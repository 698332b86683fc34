"""The OCI runtime's operations on the containers under one ``--root``: runc's lifecycle over nsrun's pipeline.

State: a container is an nsrun record (``Store``: ``<root>/containers/<64 hex>/``) named by its OCI id, with
``oci: {bundle, rootfs, annotations}`` in its state, its process (``pid``, ``pid_start``) and the exec fifo
``exec.fifo`` in its directory while it waits for ``start``. No process of nsrun's stays: the status is
read from the kernel every time (``_light``, where the verbs that need no plugin live: ``state``, ``start``,
``kill``, ``list`` and ``delete``'s checks, which ``entry`` runs without importing this module).

``delete`` kills what is left and collects what the plugins made for it through their ``collect`` hook (the
container's cgroup ...; ``gc`` for a plugin without one), from what they recorded in its ``info``, then removes
the record (``_remove``): a container created by a process that is gone has no ``ctx.stash`` to tear down
from, by design. The implementations to call are resolved at ``create`` and kept in the record
(``_collect.plan``), so ``delete`` loads no plugin manager.
"""
from __future__ import annotations

import os

from .._context import Paths
from .._jsonlite import loads
from .._resolve import valid_name
from .._state import Record, Store
from ..errors import ConfigError, ConflictError, NotFoundError
from . import _light
from ._light import FIFO, OCI_VERSION, rfc3339
from ._where import DEFAULT_ROOT, root_of

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Runtime", "DEFAULT_ROOT", "OCI_VERSION", "rfc3339"]

class Runtime:
    """runc's verbs on one root. Every method raises NsrunError subclasses with runc's wording where the
    engines match on it."""

    def __init__(self, root: str | None = None) -> None:
        self.paths = Paths.from_root(root_of(root))
        self.store = Store(self.paths)
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The Engine (plugins, pluggy: imported only by the verbs that need them; ``state``, ``start`` and
        ``kill`` do not)."""
        if self._engine is None:
            from .._engine import Engine
            self._engine = Engine(self.paths)
        return self._engine

    # -- looking ---------------------------------------------------------------------------------------------
    def lookup(self, cid: str) -> Record | None:
        if not valid_name(cid or ""):
            return None
        owner = self.store._owner_of(cid)
        return self.store.load(owner) if owner else None

    def get(self, cid: str) -> Record:
        rec = self.lookup(cid)
        if rec is None:
            raise NotFoundError(f"container {cid} does not exist")
        return rec

    def status(self, rec: Record) -> str:
        return _light.status(rec.dir, rec.state)

    def state(self, cid: str) -> dict[str, Any]:
        entry = _light.get(self.paths.containers, cid)
        return _light.state(entry.name, entry.dir, entry.state)

    def _state(self, rec: Record) -> dict[str, Any]:
        return _light.state(rec.name, rec.dir, rec.state)

    def list(self) -> list[dict[str, Any]]:
        return [_light.state(e.name, e.dir, e.state) for e in _light.entries(self.paths.containers)]

    # -- creating ----------------------------------------------------------------------------------------------
    def create(self, cid: str, bundle: str | None = None, pid_file: str | None = None,
               console_socket: str | None = None) -> Any:
        """Create the container ``cid`` from the bundle and park its process before ``execve``; returns the
        child handle (our child until this process exits: ``run`` waits for it)."""
        if not valid_name(cid or ""):
            raise ConfigError(f"invalid container id format: {cid!r}")
        bundle = os.path.abspath(bundle or ".")
        config = read_config(bundle)
        if self.lookup(cid) is not None:
            raise ConflictError(f"container with id exists: {cid}")
        from .._oci import from_oci
        from .._plugins import default_selection, load_plugins
        names = default_selection()
        plugins = load_plugins(names)  # once: the mapping and the pipeline use the same
        args = from_oci(config, bundle, plugins.hook.oci_config)
        annotations, umask, size = args.pop("annotations"), args.pop("umask"), args.pop("console_size")
        from .hooks import check_hooks, run_hooks
        hooks = check_hooks(args.pop("hooks"))
        if args["tty"] and not console_socket:
            raise ConfigError("cannot allocate tty if nsrun-oci will detach without setting console socket")
        if console_socket and not args["tty"]:
            raise ConfigError("cannot use console socket if nsrun-oci will not detach or allocate tty")
        # detached: the container outlives nsrun-oci (its caller holds it), so it gets what a run -d gets
        loaded, ctx = self.engine.prepare(plugins=names, loaded=plugins, name=cid, detach=True, **args)
        from .._collect import plan
        # ``collect``: what delete calls to collect it, resolved now that the plugins are loaded (``_collect``)
        first = {"status": "creating", "oci": {"bundle": bundle, "rootfs": ctx.spec.rootfs,
                                               "annotations": annotations, "hooks": hooks},
                 "collect": plan(loaded)}
        try:
            record = self.engine.create(ctx, first)
        except ConflictError:
            raise ConflictError(f"container with id exists: {cid}") from None
        fds: list[int] = []
        try:
            fifo = os.path.join(record.dir, FIFO)
            os.mkfifo(fifo, 0o600)
            os.chmod(fifo, 0o622)  # the container's user (any uid, any user namespace) opens it to write
            fds.append(os.open(fifo, os.O_PATH | os.O_CLOEXEC))
            console = -1
            if console_socket:
                console = _connect(console_socket)
                fds.append(console)
            from .._lifecycle import park_container
            from .._spawn import Parking
            if umask is not None:
                os.umask(umask)

            def after_start(pid: int) -> None:
                run_hooks(hooks, ("prestart", "createRuntime"), {**self._state(record), "status": "creating",
                                                                 "pid": pid})
            child = park_container(loaded, ctx, record, Parking(fds[0], console, size),
                                   after_start=after_start if hooks else None)
            if pid_file:
                _write_pid_file(pid_file, child.pid)
            return child
        except BaseException:
            with record.lock():
                self.store.remove(record.id)
            raise
        finally:
            for fd in fds:
                os.close(fd)

    def start(self, cid: str) -> list[str]:
        """Release the parked process: it execs the command. Raises when the exec failed; returns warnings
        (failed poststart hooks)."""
        entry = _light.get(self.paths.containers, cid)
        _light.start(entry)
        return _light.after(entry.name, entry.dir, entry.state, "poststart", "running")

    def run(self, cid: str, bundle: str | None, pid_file: str | None, console_socket: str | None,
            detach: bool) -> int:
        """create + start; without ``detach`` wait for the command (our child) and delete the container."""
        child = self.create(cid, bundle, pid_file, console_socket)
        try:
            self.start(cid)
        except BaseException:
            self.delete(cid, force=True)
            raise
        if detach:
            return 0
        from .._lifecycle import _forwarding
        with _forwarding(child.pid):
            status = child.wait()
        self.delete(cid, force=True)
        return status

    # -- live changes: through the hooks of the plugins that own them (the cgroup plugin, by default) ---------
    def _running(self, cid: str, *states: str) -> Record:
        rec = self.get(cid)
        status = self.status(rec)
        if status not in states:
            raise ConflictError(f"container {cid} is {status}, not {' or '.join(states)}")
        return rec

    def _owner_hook(self, rec: Record, hook: str, what: str, **kwargs: Any) -> None:
        from .._plugins import load_plugins
        done = getattr(load_plugins(rec.spec.plugins, only_hooks=(hook,)).hook, hook)(
            paths=self.paths, cid=rec.id, **kwargs)
        if not done:
            raise ConfigError(f"{what} needs a plugin that owns the container's cgroup (none of "
                              f"{', '.join(rec.spec.plugins)} does)")

    def pause(self, cid: str, frozen: bool) -> None:
        rec = self._running(cid, "running") if frozen else self._running(cid, "paused")
        self._owner_hook(rec, "container_freeze", "pause" if frozen else "resume", frozen=frozen)

    def update(self, cid: str, resources: dict[str, Any]) -> None:
        rec = self._running(cid, "created", "running", "paused")
        self._owner_hook(rec, "container_resources", "update", resources=resources)

    def processes(self, cid: str) -> list[int]:
        rec = self._running(cid, "created", "running", "paused")
        return _light.namespace_pids(rec.state["pid"])

    # -- exec ------------------------------------------------------------------------------------------------------
    def exec(self, cid: str, process: dict[str, Any], detach: bool = False, pid_file: str | None = None,
             console_socket: str | None = None) -> int:
        """Run ``process`` (a runtime-spec ``process`` object) in the running container. ``detach``: return
        once it exec'd (it becomes the caller's child, as the container's own process); else wait for it and
        return its exit status."""
        rec = self.get(cid)
        status = self.status(rec)
        if status not in ("created", "running"):
            raise ConflictError(f"cannot exec in a {status} container")
        spec = exec_spec(rec, process, _bundle_process(rec))
        if spec.tty and not console_socket:
            raise ConfigError("cannot allocate tty if nsrun-oci will detach without setting console socket")
        from .._exec import join
        from .._spawn import Parking
        console = _connect(console_socket) if console_socket else -1
        try:
            size = process.get("consoleSize") or {}
            parking = Parking(-1, console, (size.get("height", 0), size.get("width", 0)) if size else None)
            child = join(rec, spec, self.paths, parking=parking)
        finally:
            if console >= 0:
                os.close(console)
        if pid_file:
            _write_pid_file(pid_file, child.pid)
        if detach:
            return 0
        from .._lifecycle import _forwarding
        with _forwarding(child.pid):
            return child.wait()

    # -- signals and the end -----------------------------------------------------------------------------------
    def kill(self, cid: str, sig: int, all_processes: bool = False) -> None:
        _light.kill(_light.get(self.paths.containers, cid), sig, all_processes)

    def delete(self, cid: str, force: bool = False) -> list[str]:
        """Remove a stopped (or created) container; ``force`` kills a running one first. A missing one is an
        error, or nothing with ``force`` (as runc)."""
        if not _light.stop_for_delete(_light.find(self.paths.containers, cid), cid, force):
            return []
        return self.collect(cid)

    def collect(self, cid: str) -> list[str]:
        """``delete`` once the container's processes are gone (``_light.stop_for_delete``): what its plugins
        made for it and its record (``_remove``)."""
        entry = _light.find(self.paths.containers, cid)
        if entry is None:
            return []
        from ._remove import remove
        return remove(self.paths.root, entry)


# The parts of an exec's process that must be the container's own (the plugins apply the container's to every
# exec: capabilities, limits, no_new_privs); an engine sends them again, unchanged.
_SAME_AS_CONTAINER = ("capabilities", "rlimits", "noNewPrivileges", "oomScoreAdj", "apparmorProfile",
                      "selinuxLabel")


def exec_spec(rec: Record, process: dict[str, Any], container: dict[str, Any]) -> Any:
    """The ContainerSpec of an exec of ``process`` in ``rec`` (``container``: the container's own process
    object, from its bundle). Fields that nobody can honour are refused by name."""
    from .._fieldsource import FieldError, FieldSource
    from .._oci import take_process
    fields = FieldSource(process, "process field")
    proc = take_process(fields, "", "process field")  # the umask is create's; the console size, the pty's
    for key in _SAME_AS_CONTAINER:
        value = fields.take(key)
        if value is not None and value != container.get(key):
            raise FieldError(f"process field {key}: an exec with a {key} other than the container's is not "
                             f"supported")
    fields.refuse_leftover()
    return rec.spec.replace(argv=proc["argv"], env=proc["env"], tty=proc["tty"], interactive=False,
                            workdir=proc["cwd"], user=(proc["uid"], proc["gid"]), groups=proc["groups"])


def _bundle_process(rec: Record) -> dict[str, Any]:
    try:
        return read_config((rec.state.get("oci") or {}).get("bundle", "")).get("process") or {}
    except ConfigError:
        return {}


def read_config(bundle: str) -> dict[str, Any]:
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle}: no such directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            config = loads(f.read())
    except FileNotFoundError:
        raise ConfigError("JSON specification file config.json not found") from None
    except OSError as exc:
        raise ConfigError(f"config.json: {exc.strerror}", errno=exc.errno) from None
    except ValueError as exc:
        raise ConfigError(f"config.json: malformed JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError("config.json: must be a JSON object")
    return config


def _connect(path: str) -> int:
    """A stream socket connected to ``--console-socket`` (its fd; the caller closes it)."""
    import _socket
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--console-socket {path}: {exc.strerror}", errno=exc.errno) from None
    return sock.detach()


def _write_pid_file(path: str, pid: int) -> None:
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)
