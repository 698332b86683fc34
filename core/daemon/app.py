"""The aiohttp application: routes (with and without ``/v1.NN`` prefixes), JSON errors, one log line a request.

Every error leaves as ``{"message": ...}`` with Docker's status codes: 400 bad request (also wrong types,
malformed JSON), 404 no such object or endpoint, 409 conflict, 413 body too large, 500 anything unexpected
(logged with its traceback; the daemon keeps serving). Every response carries the headers dockerd sends
(``Api-Version`` among them: without it the docker CLI falls back to API 1.24).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from .. import __version__
from .._routes import ApiRequest, ApiResponse, Route
from ..errors import NsrunError
from . import archive, build, containers, events, execs, images, live, native, system
from .http import API_VERSION, MAX_JSON, STATE, error_response, error_status, jresp, json_body

__all__ = ["build_app"]

log = logging.getLogger("nsrun.daemon")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.perf_counter()
    status: int | str = "?"
    if log.isEnabledFor(logging.DEBUG):
        log.debug("> %s %s %s", request.method, request.path_qs,
                  {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "x-registry-auth")})
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        status = exc.status
        if exc.status == 404:
            return error_response(404, f"page not found: {request.method} {request.path}")
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason if exc.status != 413 else
                              f"request body too large (limit {MAX_JSON} bytes)")
    except NsrunError as exc:
        status = error_status(exc)
        if status == 500:
            log.error("%s %s: %s", request.method, request.path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return error_response(status, exc.message, exc.exit_code)
    except (ConnectionError, TimeoutError) as exc:
        status = "disconnected"
        log.debug("%s %s: client went away: %r", request.method, request.path_qs, exc)
        raise
    except Exception as exc:  # noqa: BLE001 - one bad request must never stop the daemon
        status = 500
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {exc}")
    finally:
        log.info("%s %s %s %.1fms", request.method, request.path_qs, status, (time.perf_counter() - start) * 1000)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.status == 101:
        return
    response.headers.setdefault("Api-Version", API_VERSION)
    response.headers.setdefault("Docker-Experimental", "false")
    response.headers.setdefault("Ostype", "linux")
    response.headers["Server"] = f"nsrun/{__version__} (linux)"


async def ping(request: web.Request) -> web.Response:
    headers = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
    body = None if request.method == "HEAD" else "OK"
    return web.Response(text=body, content_type="text/plain", headers=headers)


def build_app(state: Any) -> web.Application:
    """The whole API on one Application; ``state`` is the daemon's ``Daemon`` object."""
    app = web.Application(middlewares=[errors_and_log], client_max_size=MAX_JSON)
    app[STATE] = state
    app.on_response_prepare.append(_add_headers)
    routes: list[tuple[str, str, Handler]] = [("HEAD", "/_ping", ping), ("GET", "/_ping", ping)]
    for module in (containers, execs, build, images, live, events, archive, system):
        routes.extend(module.ROUTES)
    for route in _plugin_routes(state):
        routes.append((route.method, route.path, _adapt(route)))
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:1\.[0-9]+}" + path, handler)
    for method, path, handler in native.ROUTES:
        app.router.add_route(method, path, handler)
    return app


def _plugin_routes(state: Any) -> list[Route]:
    """Every installed plugin's ``daemon_routes``; a malformed entry is a PluginError at start."""
    from ..errors import PluginError
    out = []
    for routes in state.plugins.hook.daemon_routes():
        for route in routes:
            if not isinstance(route, Route) or not callable(route.handler):
                raise PluginError(f"daemon_routes must return nsrun.Route objects, not {route!r}")
            out.append(route)
    return out


def _adapt(route: Route) -> Handler:
    """A plugin's plain handler as an aiohttp one: the body parsed, the call in a worker thread (shielded:
    a client that goes away never leaves a half-made object), the result as JSON."""
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        body = await json_body(request, required=False) if request.can_read_body else None
        params = {k: v for k, v in request.match_info.items() if k != "version"}
        req = ApiRequest(request.method, params, dict(request.query), body or None, state.engine.paths)
        result = await asyncio.shield(asyncio.to_thread(route.handler, req))
        if isinstance(result, ApiResponse):
            if result.body is None:
                return web.Response(status=result.status)
            return jresp(result.body, status=result.status)
        return jresp(result)
    return handler
