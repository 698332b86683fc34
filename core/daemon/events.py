"""``GET /events?since&until&filters``: events as dockerd streams them, for the clients that follow them (a
streaming ``docker stats`` without names subscribes to learn which containers start and die) and for
``docker events --since/--until``.

The daemon keeps no state of its own (``server``): what the stream says is derived from the disk by
``nsrun._events`` — history from the records and the event journal, live events by diffing snapshots every
``POLL`` seconds. ``since``/``until`` are unix seconds (``S[.N]``, what both clients send), refused in
dockerd's words when malformed or when ``until`` is before ``since`` (400). With ``until`` in the past the
response ends after the history; with one to come, when it comes.
"""
from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from .._events import EVENT_FILTERS, POLL, Snapshot, parse_window, wanted
from .._filters import parse_filters
from .http import STATE, only_query

__all__ = ["ROUTES"]


async def events(request: web.Request) -> web.StreamResponse:
    only_query(request, "filters", "since", "until")
    since, until = parse_window(request.query.get("since"), request.query.get("until"))
    filters = parse_filters(request.query.get("filters"), EVENT_FILTERS)
    d = request.app[STATE]
    snap = await asyncio.to_thread(Snapshot, d.engine, d.plugins)
    past = await asyncio.to_thread(snap.history, since, until) if since is not None or until is not None else []
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for ev in past:
        if wanted(filters, ev):
            await resp.write(json.dumps(ev).encode() + b"\n")
    while until is None or time.time() < until:
        await asyncio.sleep(POLL if until is None else max(0.0, min(POLL, until - time.time())))
        snap, evs = await asyncio.to_thread(snap.next)
        for ev in evs:
            if wanted(filters, ev) and (until is None or ev["time"] <= until):
                await resp.write(json.dumps(ev).encode() + b"\n")
    await resp.write_eof()
    return resp


ROUTES = [("GET", "/events", events)]
