"""The aiohttp application: routes (with and without ``/v1.NN`` prefixes), JSON errors, one log line a request.

Every error leaves as ``{"message": ...}`` with Docker's status codes: 400 bad request (also wrong types,
malformed JSON), 404 no such object or endpoint, 409 conflict, 413 body too large, 500 anything unexpected
(logged with its traceback; the daemon keeps serving). Every response carries the headers dockerd sends
(``Api-Version`` among them: without it the docker CLI falls back to API 1.24).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from .. import __version__
from ..errors import ChildSetupError, ConfigError, ConflictError, NotFoundError, NsrunError, PluginError
from .convert import BadRequest

__all__ = ["API_VERSION", "MIN_API_VERSION", "build_app", "json_body", "jresp", "STATE"]

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
MAX_JSON = 1 << 20
STATE: web.AppKey[Any] = web.AppKey("nsrun", object)
log = logging.getLogger("nsrun.daemon")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_status(exc: BaseException) -> int:
    """NotFound 404, Conflict 409, the user's mistakes (bad config, plugin choice, command that cannot run)
    400, everything else 500."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, (ConfigError, PluginError, ChildSetupError)):
        return 400
    return 500


def jresp(data: Any, status: int = 200) -> web.Response:
    """A JSON response with exactly ``Content-Type: application/json``: the docker CLI reads an error's
    message only then (a ``; charset=...`` suffix makes it print the raw body)."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def error_response(status: int, message: str, exit_code: int | None = None) -> web.Response:
    """Docker's error body; ``NsrunExitCode`` (ignored by Docker's clients) lets ``nsrun -H`` exit as the
    embedded CLI would (125, or 126/127 when the command cannot be run)."""
    body: dict[str, Any] = {"message": message}
    if exit_code is not None:
        body["NsrunExitCode"] = exit_code
    return jresp(body, status=status)


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


async def json_body(request: web.Request, required: bool = True) -> Any:
    """The request's JSON body (at most MAX_JSON bytes); BadRequest when malformed."""
    if request.content_length is not None and request.content_length > MAX_JSON:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON, actual_size=request.content_length)
    raw = b""
    while chunk := await request.content.read(65536):
        raw += chunk
        if len(raw) > MAX_JSON:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON, actual_size=len(raw))
    if not raw.strip():
        if required:
            raise BadRequest("a JSON body is required")
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from exc
    except RecursionError:
        raise BadRequest("malformed JSON body: nested too deeply") from None


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
    from . import containers, execs, images, native
    app = web.Application(middlewares=[errors_and_log], client_max_size=MAX_JSON)
    app[STATE] = state
    app.on_response_prepare.append(_add_headers)
    routes: list[tuple[str, str, Handler]] = [("HEAD", "/_ping", ping), ("GET", "/_ping", ping)]
    for module in (containers, execs, images):
        routes.extend(module.ROUTES)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:1\.[0-9]+}" + path, handler)
    for method, path, handler in native.ROUTES:
        app.router.add_route(method, path, handler)
    return app
