"""Daemon endpoints that plugins add (the ``daemon_routes`` hook), without depending on the HTTP server.

A handler is a plain function ``handler(request: ApiRequest) -> body``. It runs in one of the daemon's worker
threads, so it may block (files, netlink) but must not fork. What it returns is sent as JSON with status 200;
return ``ApiResponse(status, body)`` for another status (``body`` None sends no body). An ``NsrunError`` it
raises becomes Docker's error response (``NotFoundError`` 404, ``ConflictError`` 409, other ``ConfigError``
400, anything else 500) with ``{"message": ...}``.
"""
from __future__ import annotations

from typing import Any, Callable

from ._fields import Fields

__all__ = ["Route", "ApiRequest", "ApiResponse"]


class ApiRequest(Fields):
    """One request to a plugin's endpoint: ``method``; ``params`` (the ``{name}`` parts of the path);
    ``query`` (the query string, one value per key); ``body`` (the parsed JSON body, None when empty);
    ``paths`` (the daemon's nsrun root)."""

    __slots__ = ("method", "params", "query", "body", "paths")
    _defaults = {"params": dict, "query": dict, "body": None}


class ApiResponse(Fields):
    """A handler's answer with a status other than 200: ``ApiResponse(201, {"Id": ...})``, ``ApiResponse(204)``."""

    __slots__ = ("status", "body")
    _defaults = {"body": None}


class Route(Fields):
    """``Route(method, path, handler)``: ``path`` in the server's pattern syntax (``/networks/{name}``;
    ``{name:.+}`` to match slashes)."""

    __slots__ = ("method", "path", "handler")
    method: str
    path: str
    handler: Callable[[ApiRequest], Any]
