"""``GET /events``: container events as dockerd streams them, for the clients that follow them — a streaming
``docker stats`` without names subscribes to learn which containers start and die (without this endpoint it
stops after its first frame).

The daemon keeps no state of its own (``server``): events are derived by watching the records on disk, every
``POLL`` seconds, from the moment the request comes — ``create``, ``start``, ``die`` (with ``exitCode``) and
``destroy`` of containers; and of the objects plugins own (the ``event_objects`` hook: the net plugin's
networks — ``create``, ``connect``, ``disconnect``, ``destroy`` — and the mnt plugin's volumes — ``create``,
``mount``, ``unmount``, ``destroy``), diffed the same way. Nothing from before the request is replayed:
``since``/``until`` are refused by name, as are filters other than ``type``, ``event``, ``container`` (id, id
prefix or name), ``network``, ``volume`` and ``label`` (the labels every event carries in its attributes, as
dockerd's do).
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from .._filters import labels_match, parse_filters
from .http import STATE, only_query

__all__ = ["ROUTES", "changes", "object_changes"]

POLL = 0.25




def _snapshot(d: Any) -> dict[str, tuple[str, Any]]:
    """id -> (status, record) of every container, as the store says now."""
    return {rec.id: (rec.status, rec) for rec in d.engine.list(all=True)}


def changes(before: dict[str, tuple[str, Any]], after: dict[str, tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The (action, record) events between two snapshots, in a stable order."""
    out: list[tuple[str, Any]] = []
    for cid, (status, rec) in after.items():
        old = before.get(cid, (None, None))[0]
        if old is None:
            out.append(("create", rec))
        if status == "running" and old != "running":
            out.append(("start", rec))
        if old == "running" and status != "running":
            out.append(("die", rec))
    for cid, (status, rec) in before.items():
        if cid not in after:
            if status == "running":
                out.append(("die", rec))
            out.append(("destroy", rec))
    return out


def _objects(d: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(Type, ID) -> object, from every installed plugin's ``event_objects``."""
    out = {}
    for items in d.plugins.hook.event_objects(paths=d.engine.paths):
        for item in items or ():
            if isinstance(item, dict) and item.get("Type") and item.get("ID"):
                out[(str(item["Type"]), str(item["ID"]))] = item
    return out


def object_changes(before: dict[tuple[str, str], dict], after: dict[tuple[str, str], dict]) -> list[dict[str, Any]]:
    """The events of plugins' objects between two ``event_objects`` snapshots: create, join (members that
    came), leave (members that went), destroy (a gone object's members leave first)."""
    out = []

    def event(obj: dict, action: str, member: str | None = None, extra: dict | None = None) -> dict[str, Any]:
        attributes = {**(obj.get("Attributes") or {}), **(extra or {})}
        if member is not None:
            attributes["container"] = member
        now = time.time_ns()
        return {"Type": obj["Type"], "Action": action, "Actor": {"ID": obj["ID"], "Attributes": attributes},
                "scope": "local", "time": now // 1_000_000_000, "timeNano": now}

    for key, obj in after.items():
        old = before.get(key)
        if old is None:
            out.append(event(obj, "create"))
        had = (old or {}).get("members") or {}
        for member, extra in (obj.get("members") or {}).items():
            if member not in had and obj.get("join"):
                out.append(event(obj, obj["join"], member, extra))
        for member, extra in had.items():
            if member not in (obj.get("members") or {}) and obj.get("leave"):
                out.append(event(obj, obj["leave"], member, extra))
    for key, obj in before.items():
        if key not in after:
            for member, extra in (obj.get("members") or {}).items():
                if obj.get("leave"):
                    out.append(event(obj, obj["leave"], member, extra))
            out.append(event(obj, "destroy"))
    return out


def _object_wanted(filters: dict[str, list[str]], ev: dict[str, Any]) -> bool:
    kind, attributes = ev["Type"], ev["Actor"]["Attributes"]
    if filters.get("type") and kind not in filters["type"]:
        return False
    if filters.get("event") and ev["Action"] not in filters["event"]:
        return False
    if filters.get("label") and not labels_match(attributes, filters["label"]):
        return False
    for key in ("network", "volume"):
        if filters.get(key) and not (kind == key and any(ev["Actor"]["ID"].startswith(v) or
                                                          attributes.get("name") == v for v in filters[key])):
            return False
    refs = filters.get("container")
    return not refs or any(str(attributes.get("container", "")).startswith(r) for r in refs)


def _event(action: str, rec: Any) -> dict[str, Any]:
    now = time.time_ns()
    image = rec.spec.image or rec.spec.rootfs or ""
    attributes = {**(rec.spec.config.get("Labels") or {}), "image": image, "name": rec.name}
    if action == "die" and rec.state.get("exit_code") is not None:   # unknown when removed while running
        attributes["exitCode"] = str(rec.state["exit_code"])
    return {"status": action, "id": rec.id, "from": image, "Type": "container", "Action": action,
            "Actor": {"ID": rec.id, "Attributes": attributes}, "scope": "local",
            "time": now // 1_000_000_000, "timeNano": now}


def _wanted(filters: dict[str, list[str]], action: str, rec: Any) -> bool:
    if filters.get("type") and "container" not in filters["type"]:
        return False
    if filters.get("network") or filters.get("volume"):
        return False
    if filters.get("event") and action not in filters["event"]:
        return False
    if filters.get("label"):
        if not labels_match(rec.spec.config.get("Labels") or {}, filters["label"]):
            return False
    refs = filters.get("container")
    return not refs or any(rec.id.startswith(r) or rec.name == r for r in refs)


async def events(request: web.Request) -> web.StreamResponse:
    only_query(request, "filters")
    filters = parse_filters(request.query.get("filters"),
                            ("type", "event", "container", "label", "network", "volume"))
    d = request.app[STATE]
    before = await asyncio.to_thread(_snapshot, d)
    objects = await asyncio.to_thread(_objects, d)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    while True:
        await asyncio.sleep(POLL)
        after = await asyncio.to_thread(_snapshot, d)
        now_objects = await asyncio.to_thread(_objects, d)
        for action, rec in changes(before, after):
            if _wanted(filters, action, rec):
                await resp.write(json.dumps(_event(action, rec)).encode() + b"\n")
        for ev in object_changes(objects, now_objects):
            if _object_wanted(filters, ev):
                await resp.write(json.dumps(ev).encode() + b"\n")
        before, objects = after, now_objects


ROUTES = [("GET", "/events", events)]
