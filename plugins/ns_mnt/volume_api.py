"""The daemon's ``/volumes`` endpoints (the ``daemon_routes`` hook): list (filters ``name``, ``label``,
``driver``, ``dangling``), create, inspect, remove (409 while a container uses it), prune
(``VolumesDeleted``, ``SpaceReclaimed``). Docker's shapes; errors as ``{"message"}``."""
from __future__ import annotations

from typing import Any

from nsrun import ApiRequest, ApiResponse, ConfigError, Route, parse_filters

from .volstore import LIST_FILTERS as _LIST_FILTERS, VolumeStore

__all__ = ["routes"]



def _only(req: ApiRequest, *allowed: str) -> None:
    for key in req.query:
        if key not in allowed:
            raise ConfigError(f"query parameter {key!r} is not supported by nsrun here")


def _list(req: ApiRequest) -> Any:
    _only(req, "filters")
    store = VolumeStore(req.paths)
    out = [store.view(meta) for meta in store.matching(parse_filters(req.query.get("filters"), _LIST_FILTERS))]
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
    filters = parse_filters(req.query.get("filters"), ("label", "all"))
    removed, reclaimed = VolumeStore(req.paths).prune(filters.get("label"))
    return {"VolumesDeleted": removed, "SpaceReclaimed": reclaimed}


def routes() -> list[Route]:
    return [Route("GET", "/volumes", _list), Route("POST", "/volumes/create", _create),
            Route("POST", "/volumes/prune", _prune), Route("GET", "/volumes/{name}", _inspect),
            Route("DELETE", "/volumes/{name}", _remove)]
