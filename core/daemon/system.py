"""``GET /system/df`` and ``POST /build/prune``: what ``docker system df [-v]`` and ``docker system prune``
(besides the container, network, image and volume prunes of their own modules) ask. Both are the core's
``_diskusage`` in a worker thread: the same numbers ``nsrun system df`` prints."""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from .._diskusage import disk_usage
from .._prune import build_cache
from .._filters import parse_filters
from .convert import parse_bool, ps_item
from .http import STATE, jresp, only_query

__all__ = ["ROUTES"]


async def system_df(request: web.Request) -> web.Response:
    """Docker's shape: ``LayersSize``, ``Images`` (``Size``, ``SharedSize``, ``Containers``), ``Containers``
    (``SizeRw``, ``SizeRootFs``), ``Volumes`` (``UsageData``), ``BuildCache``. ``type`` (API 1.42) is refused
    by name: this daemon speaks 1.41."""
    only_query(request)
    d = request.app[STATE]
    now = time.time()
    return jresp(await asyncio.to_thread(disk_usage, d.engine, d.plugins,
                                         lambda rec: ps_item(rec, now, d.view_hook(rec))))


async def build_prune(request: web.Request) -> web.Response:
    """``{"CachesDeleted": [...], "SpaceReclaimed": N}``: the builder's cached steps no container uses
    (``all`` changes nothing: every unused step goes; ``keep-storage`` and filters other than none are refused)."""
    only_query(request, "all", "filters")
    parse_bool(request.query.get("all"), "all")
    parse_filters(request.query.get("filters"), ())
    d = request.app[STATE]
    removed, reclaimed = await asyncio.shield(asyncio.to_thread(build_cache, d.engine))
    return jresp({"CachesDeleted": removed, "SpaceReclaimed": reclaimed})


ROUTES = [("GET", "/system/df", system_df), ("POST", "/build/prune", build_prune)]
