"""``GET /containers/{id}/stats`` and ``GET /containers/{id}/top``: the live figures of any container, so they
are the core's (``nsrun.stats``), not a plugin's; a plugin that measures better fills its parts through the
``container_stats`` hook, called by the same sampler the CLI uses.

stats, as dockerd answers it (what ``docker stats`` and docker-py's ``container.stats()`` read):
- ``stream=1`` (the default): one JSON object a line, a sample every second; the first with empty
  ``precpu_stats``, each later one with the previous sample's; the stream ends when the container stops.
- ``stream=0``: one object, after two samples a second apart (``precpu_stats`` filled: CPU % is right at
  once, as dockerd primes its collector); with ``one-shot=1``: at once, with empty ``precpu_stats``.
- a container that is not running: one object with zero figures.

top: ``ps_args`` as ``docker top NAME ARGS`` sends them (default ``-ef``); 409 when not running.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..errors import NotFoundError
from .convert import parse_bool
from .http import STATE, jresp, only_query

__all__ = ["ROUTES"]


def _one(d: Any, cid: str) -> tuple[Any, dict[str, Any] | None]:
    from ..stats.sample import sample
    rec = d.engine.store.load(cid)
    return rec, (sample([rec])[cid] if rec is not None else None)


async def stats(request: web.Request) -> web.StreamResponse:
    from ..stats.sample import INTERVAL, pair
    only_query(request, "stream", "one-shot")
    d = request.app[STATE]
    rec = d.engine.find(request.match_info["id"])
    stream = parse_bool(request.query.get("stream"), "stream", True)
    one_shot = parse_bool(request.query.get("one-shot"), "one-shot", False)
    loop = asyncio.get_running_loop()
    due = loop.time() + INTERVAL      # samples one interval apart, start to start (as the CLI's frames)
    _rec, first = await asyncio.to_thread(_one, d, rec.id)
    if first is None:
        raise NotFoundError(f"No such container: {request.match_info['id']}")
    if not stream:
        if one_shot or not rec.running:
            return jresp(pair(first, None))
        await asyncio.sleep(max(0.0, due - loop.time()))
        _rec, second = await asyncio.to_thread(_one, d, rec.id)
        return jresp(pair(second or first, first))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    previous, current, fresh = None, first, rec
    while current is not None:
        await resp.write(json.dumps(pair(current, previous)).encode() + b"\n")
        if fresh is None or not fresh.running:
            break
        await asyncio.sleep(max(0.0, due - loop.time()))
        due = loop.time() + INTERVAL
        previous = current
        fresh, current = await asyncio.to_thread(_one, d, rec.id)
    await resp.write_eof()
    return resp


async def top(request: web.Request) -> web.Response:
    only_query(request, "ps_args")
    d = request.app[STATE]
    rec = d.engine.find(request.match_info["id"])
    return jresp(await asyncio.to_thread(d.engine.top, rec.id, request.query.get("ps_args") or None))


ROUTES = [("GET", "/containers/{id}/stats", stats), ("GET", "/containers/{id}/top", top)]
