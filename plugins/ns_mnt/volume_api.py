"""The daemon's ``/volumes`` endpoints (the ``daemon_routes`` hook): list (filters ``name``, ``label``,
``driver``, ``dangling``), create, inspect, remove (409 while a container uses it), prune
(``VolumesDeleted``, ``SpaceReclaimed``). Docker's shapes; errors as ``{"message"}``."""
from __future__ import annotations

import json
from typing import Any

from nsrun import ApiRequest, ApiResponse, ConfigError, Route

from .volstore import VolumeStore, _labels_match, volumes_of

__all__ = ["routes"]

_LIST_FILTERS = ("name", "label", "driver", "dangling")


def _filters(req: ApiRequest, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    raw = req.query.get("filters") or ""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError("invalid filters: not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("invalid filters: expected an object")
    out = {}
    for key, values in data.items():
        if key not in allowed:
            raise ConfigError(f"invalid filter '{key}'")
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        elif isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"invalid filter '{key}': expected a list of strings")
        out[key] = values
    for value in out.get("dangling", ()):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"invalid filter 'dangling={value}'")
    return out


def _only(req: ApiRequest, *allowed: str) -> None:
    for key in req.query:
        if key not in allowed:
            raise ConfigError(f"query parameter {key!r} is not supported by nsrun here")


def _used(store: VolumeStore) -> set[str]:
    from nsrun import list_containers
    used: set[str] = set()
    for c in list_containers(store.paths):
        used |= volumes_of(c["options"])
    return used


def _list(req: ApiRequest) -> Any:
    _only(req, "filters")
    store = VolumeStore(req.paths)
    filters = _filters(req, _LIST_FILTERS)
    used = _used(store) if "dangling" in filters else set()
    out = []
    for meta in store.list():
        name = meta["Name"]
        if filters.get("name") and not any(v in name for v in filters["name"]):
            continue
        if filters.get("label") and not _labels_match(meta.get("Labels") or {}, filters["label"]):
            continue
        if filters.get("driver") and "local" not in filters["driver"]:
            continue
        if filters.get("dangling"):
            dangling = name not in used
            if not any(dangling == (v.lower() in ("true", "1")) for v in filters["dangling"]):
                continue
        out.append(store.view(meta))
    return {"Volumes": out, "Warnings": []}


def _create(req: ApiRequest) -> ApiResponse:
    _only(req)
    body = req.body if req.body is not None else {}
    if not isinstance(body, dict):
        raise ConfigError("volume create: the body must be a JSON object")
    from nsrun import FieldSource
    fields = FieldSource(body, prefix="", keyed=("Labels", "DriverOpts"))
    name = fields.take("Name", str)
    driver = fields.take("Driver", str)
    labels = fields.take("Labels", dict) or {}
    opts = fields.take("DriverOpts", dict) or {}
    fields.refuse_leftover()
    if not all(isinstance(v, str) for v in [*labels.values(), *opts.values()]):
        raise ConfigError("volume create: Labels and DriverOpts must be objects of strings")
    store = VolumeStore(req.paths)
    return ApiResponse(201, store.view(store.create(name or None, labels, opts, driver)))


def _inspect(req: ApiRequest) -> Any:
    _only(req)
    store = VolumeStore(req.paths)
    return store.view(store.get(req.params["name"]))


def _remove(req: ApiRequest) -> ApiResponse:
    _only(req, "force")
    VolumeStore(req.paths).remove(req.params["name"])
    return ApiResponse(204)


def _prune(req: ApiRequest) -> Any:
    _only(req, "filters")
    filters = _filters(req, ("label", "all"))
    removed, reclaimed = VolumeStore(req.paths).prune(filters.get("label"))
    return {"VolumesDeleted": removed, "SpaceReclaimed": reclaimed}


def routes() -> list[Route]:
    return [Route("GET", "/volumes", _list), Route("POST", "/volumes/create", _create),
            Route("POST", "/volumes/prune", _prune), Route("GET", "/volumes/{name}", _inspect),
            Route("DELETE", "/volumes/{name}", _remove)]
