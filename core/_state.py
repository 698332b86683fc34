"""Container records on disk: ``<root>/containers/<id>/{config.json,state.json}``.

``config.json`` is the ContainerSpec (written once); ``state.json`` is rewritten atomically (write to a
temporary file, fsync-free ``os.replace``). Names are unique under one root: creating a record holds the
root-wide lock. A record whose owner (nsrun or the supervisor) died is reported as ``dead``; ``gc`` removes it.
"""
from __future__ import annotations

import os
import time
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any

from ._context import ContainerSpec, Paths
from ._proc import alive, process_start_time
from ._jsonlite import loads
from ._statefile import lock_dir, lock_file, read_state, read_text, update_state, write_json as _write_json
from .errors import ConflictError, ConfigError, NotFoundError

__all__ = ["Record", "RecordView", "Store", "new_id", "process_start_time", "alive", "plugin_state"]
_ADJ = ("brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty",
        "quirky", "sharp", "tender", "vivid", "witty", "zen", "bold", "clever", "dreamy")
_NOUN = ("turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra", "liskov",
         "hamilton", "curie", "noether", "shannon", "babbage", "perlman", "wozniak", "allen", "kay")


def new_id() -> str:
    return os.urandom(32).hex()


def plugin_state(info: dict[str, Any], status: str) -> dict[str, Any]:
    """Docker's ``State`` flags plugins report in ``info["State"]`` (``Paused``, ``OOMKilled``), with the
    ``Status`` they imply: a running container that is paused shows ``paused``."""
    reported = info.get("State") if isinstance(info.get("State"), dict) else {}
    paused = bool(reported.get("Paused")) and status == "running"
    return {"Status": "paused" if paused else status, "Paused": paused,
            "OOMKilled": bool(reported.get("OOMKilled"))}


class RecordView:
    """What every view of a container record derives the same way from ``spec``, ``state`` and ``status``
    (a local ``Record`` computes ``status``; the -H client's ``RemoteRecord`` is told it)."""

    spec: ContainerSpec
    state: dict[str, Any]
    status: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def pid(self) -> int | None:
        return self.state.get("pid") if self.running else None


class Record(RecordView):
    """One container as stored: its spec and its latest state."""

    def __init__(self, store: "Store", cid: str, spec: ContainerSpec, state: dict[str, Any]) -> None:
        self.store, self.id, self.spec, self.state = store, cid, spec, state

    @property
    def dir(self) -> str:
        return self.store.paths.container_dir(self.id)

    @property
    def status(self) -> str:
        """created | running | restarting | exited | dead (running on disk but its owner is gone)."""
        status = self.state.get("status", "created")
        if status in ("running", "created", "starting", "restarting") and self.state.get("owner_pid"):
            if not alive(self.state.get("owner_pid"), self.state.get("owner_start")):
                return "dead"
        return status

    def update(self, info_patch: dict[str, Any] | None = None, **fields: Any) -> None:
        """Replace ``fields`` of the state; ``info_patch``: keys merged into the recorded ``info`` (what
        another process may have added meanwhile, e.g. ``nsrun pause``, stays)."""
        self.state = update_state(self.dir, fields, info_patch)
        if fields.get("status") == "exited" and fields.get("finished"):  # a run ended: the journal keeps it
            from ._journal import append, life                             # (the next start overwrites it)
            append(self.store.paths.root, life(self))

    def lock(self) -> _Flock:
        """The container's lock is a flock on its directory: no lock file to create (file creation is the
        costliest step of a start on ext4 here)."""
        return _Flock(self.dir, directory=True)


class _Flock:
    """``with _Flock(path):`` holds an exclusive flock on ``path`` (a directory's own with ``directory``, else a
    lock file, made when missing) until the block ends. A class, not ``contextlib.contextmanager``: contextlib
    and what it imports cost ~3 ms on every command that reads records."""

    __slots__ = ("path", "directory", "fd")

    def __init__(self, path: str, directory: bool = False) -> None:
        self.path, self.directory, self.fd = path, directory, -1

    def __enter__(self) -> None:
        self.fd = (lock_dir if self.directory else lock_file)(self.path)

    def __exit__(self, *exc: object) -> None:
        fd, self.fd = self.fd, -1
        os.close(fd)


class Store:
    """All containers under one nsrun root."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def global_lock(self) -> _Flock:
        """``with store.global_lock():`` the root-wide lock (names, creation)."""
        os.makedirs(self.paths.containers, exist_ok=True)
        return _Flock(os.path.join(self.paths.containers, ".lock"))

    def _name_link(self, name: str) -> str:
        return os.path.join(self.paths.containers, ".names", name)

    def _owner_of(self, name: str) -> str | None:
        """The id holding ``name`` (a symlink ``.names/NAME -> ID``), or None (see ``_resolve``)."""
        from ._resolve import _owner_of
        return _owner_of(self.paths.containers, name)

    def create(self, spec: ContainerSpec, state: dict[str, Any] | None = None) -> Record:
        """Write a new record (``state``: fields of its first state beside the creation's own: one write
        instead of a second one); fails with ConflictError when the name is taken.

        Names are held by symlinks in ``containers/.names``, so creating a record costs the same however
        many containers exist (no scan of every record)."""
        from ._resolve import valid_name
        if spec.name and not valid_name(spec.name):
            raise ConfigError(f"Invalid container name ({spec.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self.global_lock():
            os.makedirs(os.path.join(self.paths.containers, ".names"), exist_ok=True)
            if not spec.name:
                spec.name = self._random_name()
            elif (owner := self._owner_of(spec.name)) is not None:
                raise ConflictError(f'Conflict. The container name "/{spec.name}" is already in use by container '
                                    f'"{owner}". You have to remove (or rename) that container to be '
                                    f'able to reuse that name.')
            cdir = self.paths.container_dir(spec.id)
            os.makedirs(cdir, mode=0o711)
            _write_json(os.path.join(cdir, "config.json"), spec.to_json())
            state = {"status": "created", "created": time.time(), "owner_pid": os.getpid(),
                     "owner_start": process_start_time(os.getpid()), **(state or {})}
            _write_json(os.path.join(cdir, "state.json"), state)
            link = self._name_link(spec.name)
            if os.path.lexists(link):
                os.unlink(link)  # stale: its container is gone
            os.symlink(spec.id, link)
            return Record(self, spec.id, spec, state)

    def _random_name(self) -> str:
        def pick(n: int) -> int:  # os.urandom: the random module costs ~0.5 ms to import on every start
            return int.from_bytes(os.urandom(4), "little") % n
        while True:
            name = f"{_ADJ[pick(len(_ADJ))]}_{_NOUN[pick(len(_NOUN))]}"
            if self._owner_of(name) is None:
                return name
            name = f"{name}{pick(100)}"
            if self._owner_of(name) is None:
                return name

    def _read_state(self, cid: str) -> dict[str, Any]:
        return read_state(self.paths.container_dir(cid))

    def load(self, cid: str) -> Record | None:
        cdir = self.paths.container_dir(cid)
        try:
            spec = ContainerSpec.from_json(loads(read_text(os.path.join(cdir, "config.json"))))
        except (OSError, ValueError):
            return None
        return Record(self, cid, spec, self._read_state(cid))

    def ids(self) -> list[str]:
        try:
            return [d for d in os.listdir(self.paths.containers) if len(d) == 64]
        except FileNotFoundError:
            return []

    def list(self) -> list[Record]:
        records = [r for cid in self.ids() if (r := self.load(cid)) is not None]
        records.sort(key=lambda r: r.state.get("created", 0), reverse=True)
        return records

    def find(self, ref: str) -> Record:
        """A container by exact name, full id, or unique id prefix (as Docker resolves them)."""
        from ._resolve import candidates
        for cid in candidates(self.paths.containers, ref or ""):
            if (rec := self.load(cid)) is not None:
                return rec
        raise NotFoundError(f"No such container: {ref}")

    def rename(self, ref: str, new: str) -> Record:
        """Give a container another name (``docker rename``): the name link moves and ``config.json`` is
        rewritten under the root-wide lock, so two renames never take one name. A running container keeps the
        names its network's hosts files learned at its start until its next start."""
        from ._resolve import valid_name
        if not new or not valid_name(new):
            raise ConfigError(f"Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self.global_lock():
            rec = self.find(ref)
            if rec.name == new:
                raise ConflictError("Renaming a container with the same name as its current name")
            if (owner := self._owner_of(new)) is not None:
                raise ConflictError(f'Conflict. The container name "/{new}" is already in use by container '
                                    f'"{owner}". You have to remove (or rename) that container to be able to '
                                    f'reuse that name.')
            old = rec.name
            link = self._name_link(new)
            if os.path.lexists(link):
                os.unlink(link)  # stale: its container is gone
            os.symlink(rec.id, link)
            with rec.lock():
                rec.spec.name = new
                _write_json(os.path.join(rec.dir, "config.json"), rec.spec.to_json())
            old_link = self._name_link(old)
            try:
                if os.readlink(old_link) == rec.id:
                    os.unlink(old_link)
            except OSError:
                pass
            return rec

    def remove(self, cid: str) -> None:
        """Remove the record and its name (the name only if it still points at this container)."""
        rec = self.load(cid)
        _rmtree(self.paths.container_dir(cid))
        if rec is not None:
            from ._journal import append, life
            append(self.paths.root, life(rec, removed=time.time()))  # the record forgets; the journal keeps it
            link = self._name_link(rec.name)
            try:
                if os.readlink(link) == cid:
                    os.unlink(link)
            except OSError:
                pass


def _rmtree(path: str) -> None:
    """Remove ``path`` and everything under it, never following a symlink, ignoring what is already gone or
    cannot be removed (as ``shutil.rmtree(ignore_errors=True)``, without shutil's ~2 ms import per ``--rm``)."""
    try:
        entries = list(os.scandir(path))
    except NotADirectoryError:
        entries = None
    except OSError:
        return
    if entries is None:
        _quietly(os.unlink, path)
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            _rmtree(entry.path)
        else:
            _quietly(os.unlink, entry.path)
    _quietly(os.rmdir, path)


def _quietly(fn: Any, path: str) -> None:
    try:
        fn(path)
    except OSError:
        pass
