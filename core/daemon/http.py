"""What every handler module of the daemon shares: the API version, the app's state key, JSON responses
and bodies, Docker's error format. (A layer below ``app``, so that ``app`` can import the handlers.)"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import ChildSetupError, ConfigError, ConflictError, NotFoundError, PluginError
from .convert import BadRequest

__all__ = ["API_VERSION", "MIN_API_VERSION", "MAX_JSON", "STATE", "error_status", "jresp", "error_response",
           "json_body", "only_query"]

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
MAX_JSON = 1 << 20
STATE: web.AppKey[Any] = web.AppKey("nsrun", object)


def error_status(exc: BaseException) -> int:
    """NotFound 404, Conflict 409, the user's mistakes (bad config, plugin choice, command that cannot run)
    400, everything else 500; a handler may set ``http_status`` on the error for another (401 for refused
    registry credentials)."""
    if isinstance(getattr(exc, "http_status", None), int):
        return exc.http_status  # type: ignore[attr-defined]
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


def only_query(request: web.Request, *allowed: str) -> None:
    """Refuse, by name, a query parameter this endpoint does not implement (nothing is silently ignored)."""
    for key in request.query:
        if key not in allowed:
            raise BadRequest(f"query parameter {key!r} is not supported by nsrun here")
