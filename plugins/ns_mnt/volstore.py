"""Named volumes of the ``local`` driver, owned by the mnt plugin: ``<root>/volumes/<name>/`` holds
``volume.json`` (name, labels, driver options, creation time) and ``_data`` (the content, as dockerd lays it
out). Every change holds ``<root>/volumes/.lock``.

Driver options, as Docker's ``local`` driver takes them (``docker volume create -o``):
``type=tmpfs`` (with ``o=size=..,mode=..``): each container mounting it gets a tmpfs there (its content
lives as long as that container runs; nothing is kept on disk); ``type=none,o=bind,device=/abs/path``: the
volume is that host directory. Any other option is refused by name.

A volume is *in use* while any container record (running or not) mounts it: ``remove`` refuses it (409),
``prune`` keeps it. Anonymous volumes (``-v /path``, an image's ``Volumes``) are not kept here: they live in
their container's directory and go with it (see the plugin's doc).
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import time
from typing import Any, Iterator

from nsrun import ConfigError, ConflictError, NotFoundError, Paths

from .volumes import check_volume_name

LIST_FILTERS = ("name", "label", "driver", "dangling")  # what VolumeStore.matching takes

__all__ = ["VolumeStore", "validate_options", "volumes_of"]

META = "volume.json"


def validate_options(opts: dict[str, str]) -> dict[str, str]:
    """The ``local`` driver's options; refused by name when nsrun cannot honour them."""
    opts = {str(k): str(v) for k, v in (opts or {}).items()}
    unknown = set(opts) - {"type", "o", "device"}
    if unknown:
        raise ConfigError(f"invalid option {sorted(unknown)[0]!r} for the local volume driver (type, o, device)")
    kind = opts.get("type")
    if not opts:
        return opts
    if kind == "tmpfs":
        if opts.get("device") not in (None, "", "tmpfs"):
            raise ConfigError("local volume driver: type=tmpfs takes no device")
        from .volumes import tmpfs_data
        tmpfs_data(opts.get("o", ""), "o")
        return opts
    if kind in ("none", "", None) and "bind" in opts.get("o", "").split(","):
        device = opts.get("device", "")
        if not os.path.isabs(device) or not os.path.isdir(device):
            raise ConfigError(f"local volume driver: device {device!r} must be an existing absolute directory")
        if set(opts.get("o", "").split(",")) - {"bind", "rbind", "ro", "rw"}:
            raise ConfigError(f"local volume driver: o={opts['o']!r}: only bind[,ro] is supported with type=none")
        return opts
    raise ConfigError(f"local volume driver: type={kind!r} is not supported by nsrun (tmpfs, or none with o=bind)")


def volumes_of(options: dict[str, Any]) -> set[str]:
    """The named volumes a container's options mount (``-v NAME:..``, ``--mount type=volume,source=NAME``)."""
    from .volumes import parse_mount, parse_volume
    names = set()
    for key, parse in (("volumes", parse_volume), ("mounts", parse_mount)):
        for text in options.get(key) or ():
            try:
                vol = parse(text, check_exists=False)
            except ConfigError:
                continue
            if vol.kind == "volume" and vol.source:
                names.add(vol.source)
    return names


def _time(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class VolumeStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.dir = os.path.join(paths.root, "volumes")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.dir, name, META)) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def data_dir(self, name: str) -> str:
        return os.path.join(self.dir, name, "_data")

    def view(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Docker's volume object."""
        name = meta["Name"]
        opts = meta.get("Options") or {}
        mountpoint = opts.get("device") if "bind" in opts.get("o", "").split(",") else self.data_dir(name)
        return {"Name": name, "Driver": "local", "Mountpoint": mountpoint, "CreatedAt": _time(meta.get("Created", 0)),
                "Labels": meta.get("Labels") or {}, "Scope": "local", "Options": opts or None, "Status": None}

    def get(self, name: str) -> dict[str, Any]:
        meta = self._read(name) if name and "/" not in name and name not in (".", "..") else None
        if meta is None:
            raise NotFoundError(f"get {name}: no such volume")
        return meta

    def create(self, name: str | None = None, labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, driver: str | None = None) -> dict[str, Any]:
        """Create ``name`` (a random 64-hex name when None); an existing volume of that name is returned as it
        is, as dockerd does (``docker volume create x`` twice succeeds)."""
        if driver not in (None, "", "local"):
            raise ConfigError(f"volume driver {driver!r} is not supported: only the local driver exists")
        name = check_volume_name(name) if name else os.urandom(32).hex()
        options = validate_options(options or {})
        for key, value in (labels or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ConfigError("volume labels must be strings")
        with self.lock():
            existing = self._read(name)
            if existing is not None:
                return existing
            vdir = os.path.join(self.dir, name)
            tmp = f"{vdir}.tmp{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(os.path.join(tmp, "_data"), mode=0o755)
            os.chmod(tmp, 0o701)
            meta = {"Name": name, "Labels": dict(labels or {}), "Options": options, "Created": time.time()}
            with open(os.path.join(tmp, META), "w") as f:
                json.dump(meta, f)
            os.rename(tmp, vdir)
        return meta

    def list(self) -> list[dict[str, Any]]:
        try:
            names = sorted(n for n in os.listdir(self.dir) if not n.startswith(".") and ".tmp" not in n)
        except FileNotFoundError:
            return []
        return [m for m in map(self._read, names) if m is not None]

    def users(self, name: str) -> list[str]:
        """Ids of the containers (any status) that mount volume ``name``."""
        from nsrun import list_containers
        return [c["id"] for c in list_containers(self.paths) if name in volumes_of(c["options"])]

    def remove(self, name: str, force: bool = False) -> None:
        with self.lock():
            meta = self.get(name)
            users = self.users(meta["Name"])
            if users:
                raise ConflictError(f"remove {name}: volume is in use - [{', '.join(users)}]")
            self._delete(meta["Name"])

    def _delete(self, name: str) -> None:
        vdir = os.path.join(self.dir, name)
        gone = f"{vdir}.tmp-rm{os.getpid()}"
        os.rename(vdir, gone)   # atomically out of sight, then deleted
        shutil.rmtree(gone)

    def size(self, name: str) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.data_dir(name)):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total

    def used(self) -> set[str]:
        """The names of the volumes some container of the root mounts."""
        from nsrun import list_containers
        used: set[str] = set()
        for c in list_containers(self.paths):
            used |= volumes_of(c["options"])
        return used

    def matching(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The volumes that pass Docker's list filters (``nsrun.parse_filters``'s form; keys ``name``:
        substring, ``label``, ``driver``, ``dangling``): values of one key are alternatives, keys all hold."""
        from nsrun import labels_match
        used = self.used() if "dangling" in filters else set()
        out = []
        for meta in self.list():
            name = meta["Name"]
            if filters.get("name") and not any(v in name for v in filters["name"]):
                continue
            if filters.get("label") and not labels_match(meta.get("Labels") or {}, filters["label"]):
                continue
            if filters.get("driver") and "local" not in filters["driver"]:
                continue
            if filters.get("dangling") and not any((name not in used) == (v.lower() in ("true", "1"))
                                                   for v in filters["dangling"]):
                continue
            out.append(meta)
        return out

    def prune(self, labels: list[str] | None = None, all_: bool = True) -> tuple[list[str], int]:
        """Remove every volume no container uses (matching ``labels``); (names removed, bytes reclaimed)."""
        removed, reclaimed = [], 0
        with self.lock():
            for meta in self.matching({"dangling": ["true"], **({"label": labels} if labels else {})}):
                reclaimed += self.size(meta["Name"])
                self._delete(meta["Name"])
                removed.append(meta["Name"])
        return removed, reclaimed

    def reset(self) -> list[str]:
        """``system reset``: every volume, and the store itself."""
        lines = []
        if not os.path.isdir(self.dir):
            return lines
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
                if ".tmp" not in name:
                    lines.append(f"removed volume {name}")
        shutil.rmtree(self.dir, ignore_errors=True)
        return lines

    def leftovers(self) -> list[str]:
        """``gc``: half-made or half-removed volume directories (a crash in create or remove)."""
        lines = []
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return lines
        for name in names:
            if ".tmp" in name:
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
                lines.append(f"removed incomplete volume directory {name}")
        return lines
