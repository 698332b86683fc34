"""A container's mounts from its options, checked (``plan``: configure, creates nothing) and then made
(``realize``: pre_clone), plus their Docker view (``docker_mounts``: inspect ``.Mounts``).

Sources, in Docker's order of precedence for one target: ``-v``/``--mount``/``--tmpfs`` (two of them on one
target: "Duplicate mount point"), then ``--volumes-from`` (the other container's mounts, ``:ro`` making them
read-only), then the image's ``Volumes`` (an anonymous volume for each target nobody mounts).

Anonymous volumes live in the container's own directory (``volumes/<64 hex>/_data``, the name derived from
the container id and the target, so both ``configure`` calls agree): they go with the container, as
``docker rm -v`` and ``--rm`` remove them; they are not listed by ``volume ls``. Named volumes that do not
exist yet are created at start, as dockerd creates them at create.
"""
from __future__ import annotations

import os
from nsrun import ConfigError, Fields, Mount, Paths  # Fields: not typing.NamedTuple/namedtuple (~8 / ~2.5 ms)

from .volumes import Volume, parse_mount, parse_tmpfs, parse_volume

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Planned", "plan", "realize", "docker_mounts", "anonymous_name"]

_MS_BIND = 4096
_MS_RDONLY = 1
_MS_NOSUID = 2


class Planned(Fields):
    """``vol`` (a Volume) and where it came from: ``origin`` "user", "volumes-from" or "image"."""

    __slots__ = ("vol", "origin")


def anonymous_name(cid: str, target: str) -> str:
    try:  # the builtin module: hashlib loads OpenSSL first (~2.5 ms)
        from _sha256 import sha256
    except ImportError:  # a Python built without it (3.12 names it _sha2)
        from hashlib import sha256
    return sha256(f"{cid}:{target}".encode()).hexdigest()


def _user_mounts(options: dict[str, Any]) -> list[Volume]:
    out = [parse_volume(t) for t in options.get("volumes") or ()]
    out += [parse_mount(t) for t in options.get("mounts") or ()]
    out += [parse_tmpfs(t) for t in options.get("tmpfs") or ()]
    return out


def plan(paths: Paths, cid: str, options: dict[str, Any], image_volumes: Any) -> list[Planned]:
    """Every mount of the container, checked; nothing is made."""
    out: list[Planned] = []
    seen: set[str] = set()
    for vol in _user_mounts(options):
        if vol.target in seen:
            raise ConfigError(f"Duplicate mount point: {vol.target}")
        seen.add(vol.target)
        out.append(Planned(vol, "user"))
    for text in options.get("volumes_from") or ():
        ref, _, mode = text.partition(":")
        if mode not in ("", "ro", "rw"):
            raise ConfigError(f"invalid --volumes-from {text!r}: mode must be ro or rw")
        from nsrun import NotFoundError, find_container
        try:
            other = find_container(paths, ref)
        except NotFoundError as exc:  # a 400, not a 404: the docker CLI pulls the image again on a 404
            raise ConfigError(f"--volumes-from {ref}: {exc.message}") from None
        if other["id"] == cid:
            raise ConfigError("--volumes-from: a container cannot take its own volumes")
        for vol in _inherited(paths, other):
            if vol.target in seen:
                continue
            seen.add(vol.target)
            if mode:
                vol = vol.replace(readonly=mode == "ro")
            out.append(Planned(vol, "volumes-from"))
    for target in sorted(image_volumes or {}) if isinstance(image_volumes, dict) else ():
        target = os.path.normpath(target) if isinstance(target, str) and target.startswith("/") else None
        if target and target != "/" and target not in seen:
            seen.add(target)
            out.append(Planned(Volume(None, target, kind="volume"), "image"))
    return out


def _inherited(paths: Paths, other: dict[str, Any]) -> list[Volume]:
    """The other container's binds and volumes as its start recorded them (else as its options ask); never
    its tmpfs mounts (Docker's rule)."""
    recorded = (other.get("info") or {}).get("Mounts")
    if not isinstance(recorded, list):
        return [p.vol for p in plan(paths, other["id"], other["options"], None) if p.vol.kind != "tmpfs"]
    out = []
    anon_root = os.path.join(paths.container_dir(other["id"]), "volumes")
    for m in recorded:
        kind, source, target, ro = m.get("Type"), m.get("Source") or "", m.get("Destination"), not m.get("RW", True)
        if kind == "bind":
            out.append(Volume(source, target, ro))
        elif kind == "volume" and source.startswith(anon_root + "/"):
            out.append(Volume(os.path.dirname(source), target, ro, "anonymous-of"))
        elif kind == "volume":
            out.append(Volume(m.get("Name"), target, ro, "volume", nocopy=True))
    return out


def realize(paths: Paths, cid: str, cdir: str, planned: list[Planned]) -> tuple[list[Mount], tuple[str, ...],
                                                                                list[dict[str, Any]]]:
    """Make what the mounts need (named volumes, anonymous volume directories); return the ``Mount``s,
    the host directories to fill from the image when empty (copy-up) and the Docker view of each."""
    mounts, copy_up, view = [], [], []
    store = None  # the volume store (datetime, shutil: ~3 ms) only for a named volume
    for p in planned:
        vol = p.vol
        rw = not vol.readonly
        if vol.kind == "bind":
            mounts.append(Mount(vol.source, vol.target, None, _MS_BIND | vol.flags, readonly=vol.readonly))
            view.append({"Type": "bind", "Source": vol.source, "Destination": vol.target, "Mode": "ro" if not rw else "",
                         "RW": rw, "Propagation": "rprivate"})
        elif vol.kind == "tmpfs":
            mounts.append(Mount("tmpfs", vol.target, "tmpfs", vol.flags | (_MS_RDONLY if vol.readonly else 0),
                                vol.data or None))
            view.append({"Type": "tmpfs", "Source": "", "Destination": vol.target, "Mode": vol.data, "RW": rw,
                         "Propagation": ""})
        elif vol.kind == "anonymous-of" or (vol.kind == "volume" and vol.source is None):
            vdir = vol.source if vol.kind == "anonymous-of" else os.path.join(
                cdir, "volumes", anonymous_name(cid, vol.target))
            data = os.path.join(vdir, "_data")
            if vol.kind != "anonymous-of":
                os.makedirs(data, mode=0o755, exist_ok=True)
            elif not os.path.isdir(data):
                raise ConfigError(f"--volumes-from: the volume for {vol.target} is gone")
            mounts.append(Mount(data, vol.target, None, _MS_BIND | vol.flags, readonly=vol.readonly))
            if not vol.nocopy and vol.kind != "anonymous-of":
                copy_up.append(data)
            view.append({"Type": "volume", "Name": os.path.basename(vdir), "Source": data, "Destination": vol.target,
                         "Driver": "local", "Mode": "", "RW": rw, "Propagation": ""})
        else:
            if store is None:
                from .volstore import VolumeStore
                store = VolumeStore(paths)
            meta = store.create(vol.source)   # an existing volume as it is; a new one, as dockerd makes it
            opts = meta.get("Options") or {}
            if opts.get("type") == "tmpfs":
                from .volumes import tmpfs_data
                data, ro = tmpfs_data(opts.get("o", ""), "o")
                mounts.append(Mount("tmpfs", vol.target, "tmpfs",
                                    _MS_NOSUID | (_MS_RDONLY if vol.readonly or ro else 0), data or None))
                source = ""
            else:
                source = opts["device"] if "bind" in opts.get("o", "").split(",") else store.data_dir(meta["Name"])
                ro = vol.readonly or "ro" in opts.get("o", "").split(",")
                mounts.append(Mount(source, vol.target, None, _MS_BIND | vol.flags, readonly=ro))
                if not vol.nocopy and not opts:
                    copy_up.append(source)
            view.append({"Type": "volume", "Name": meta["Name"], "Source": source, "Destination": vol.target,
                         "Driver": "local", "Mode": "", "RW": rw, "Propagation": ""})
    return mounts, tuple(copy_up), view


def docker_mounts(options: dict[str, Any], info: dict[str, Any]) -> list[dict[str, Any]]:
    """Inspect's ``Mounts``: what the start recorded, else (not started yet) what the options ask for."""
    if isinstance(info.get("Mounts"), list):
        return info["Mounts"]
    out = []
    try:
        vols = [parse_volume(t, check_exists=False) for t in options.get("volumes") or ()]
        vols += [parse_mount(t, check_exists=False) for t in options.get("mounts") or ()]
        vols += [parse_tmpfs(t) for t in options.get("tmpfs") or ()]
    except ConfigError:
        return out
    for vol in vols:
        item = {"Type": vol.kind, "Source": vol.source if vol.kind == "bind" else "", "Destination": vol.target,
                "Mode": "ro" if vol.readonly and vol.kind == "bind" else "", "RW": not vol.readonly,
                "Propagation": "rprivate" if vol.kind == "bind" else ""}
        if vol.kind == "volume":
            item.update(Name=vol.source or "", Driver="local")
        out.append(item)
    return out
