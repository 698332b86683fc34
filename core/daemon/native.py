"""nsrun's own API beside the Docker-shaped one, under ``/nsrun/v1`` (versioned; docs/daemon.md).

It serves what ``nsrun -H`` needs that Docker's API does not carry as is: container records with their nsrun
spec and state (so ``ps`` and ``inspect`` print exactly what the embedded CLI prints), image metadata, and
``gc`` / ``system reset``.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from .._engine import describe
from .http import STATE, jresp
from .convert import parse_bool

__all__ = ["ROUTES", "PREFIX"]

PREFIX = "/nsrun/v1"


def _record(rec) -> dict:
    return {"Id": rec.id, "Spec": rec.spec.to_json(), "State": rec.state, "Status": rec.status}


async def containers(request: web.Request) -> web.Response:
    d = request.app[STATE]
    show_all = parse_bool(request.query.get("all"), "all")
    return jresp([_record(r) for r in d.engine.list(all=show_all)])


async def container(request: web.Request) -> web.Response:
    d = request.app[STATE]
    rec = d.engine.find(request.match_info["id"])
    return jresp({**_record(rec), "Describe": describe(rec)})


async def images(request: web.Request) -> web.Response:
    return jresp(request.app[STATE].engine.images.list())


async def gc(request: web.Request) -> web.Response:
    d = request.app[STATE]
    reset = parse_bool(request.query.get("reset"), "reset")
    lines = await asyncio.shield(asyncio.to_thread(d.engine.gc, None, reset))
    return jresp({"Lines": lines})


ROUTES = [
    ("GET", f"{PREFIX}/containers", containers), ("GET", f"{PREFIX}/containers/{{id}}", container),
    ("GET", f"{PREFIX}/images", images), ("POST", f"{PREFIX}/gc", gc),
]
