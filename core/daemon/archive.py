"""``/containers/{id}/archive``: ``docker cp`` both ways (HEAD/GET a path's stat and its tar, PUT a tar into a
directory), and ``/containers/{id}/export``, of running and stopped containers alike, by a fresh
``nsrun._archive`` process that enters the container's root (see there: every path resolves inside the
container). The daemon itself never forks: the process is exec'd at once by asyncio's subprocess support, as
the launcher's fallback supervisors are."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .._archive import argv, header
from ..errors import ConflictError, NsrunError
from .convert import BadRequest
from .http import STATE, only_query

__all__ = ["ROUTES"]


def _target(request: web.Request) -> tuple[Any, str]:
    only_query(request, "path", "noOverwriteDirNonDir", "copyUIDGID")
    d = request.app[STATE]
    rec = d.engine.find(request.match_info["id"])
    path = request.query.get("path") or ""
    if not path:
        raise BadRequest("path is required")
    _check_settled(rec)
    return rec, path


def _check_settled(rec: Any) -> None:
    """Running, or stopped for good: a container between the two (being set up or torn down) is refused."""
    if rec.status not in ("running", "paused", "created", "exited"):
        raise ConflictError(f"container {rec.id} is {rec.status}: try again once it runs or has stopped")


def _error(stderr: bytes) -> NsrunError:
    try:
        info = json.loads(stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"status": 500, "message": stderr.decode(errors="replace").strip() or "archive helper failed"}
    exc = NsrunError(str(info.get("message")))
    exc.http_status = int(info.get("status") or 500)  # type: ignore[attr-defined]
    return exc


async def _stat(rec: Any, path: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(*argv("stat", rec, path),
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise _error(err)
    return json.loads(out)


async def head(request: web.Request) -> web.Response:
    rec, path = _target(request)
    st = await _stat(rec, path)
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": header(st)})


async def get(request: web.Request) -> web.StreamResponse:
    rec, path = _target(request)
    st = await _stat(rec, path)
    return await _stream(request, rec, "get", path, {"X-Docker-Container-Path-Stat": header(st)})


async def export(request: web.Request) -> web.StreamResponse:
    """``GET /containers/{id}/export`` (``docker export``): a tar of the container's root file system."""
    only_query(request)
    rec = request.app[STATE].engine.find(request.match_info["id"])
    _check_settled(rec)
    return await _stream(request, rec, "export", "/", {})


async def _stream(request: web.Request, rec: Any, mode: str, path: str, headers: dict[str, str]
                  ) -> web.StreamResponse:
    proc = await asyncio.create_subprocess_exec(*argv(mode, rec, path),
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar", **headers})
    try:
        first = await proc.stdout.read(65536)
        if not first:
            await proc.wait()
            if proc.returncode != 0:
                raise _error(await proc.stderr.read())
        await resp.prepare(request)
        while first:
            await resp.write(first)
            first = await proc.stdout.read(65536)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await resp.write_eof()
    return resp


async def put(request: web.Request) -> web.Response:
    rec, path = _target(request)
    proc = await asyncio.create_subprocess_exec(*argv("put", rec, path),
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async for chunk in request.content.iter_chunked(65536):
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass
    err = await proc.stderr.read()
    await proc.wait()
    if proc.returncode != 0:
        raise _error(err)
    return web.Response(status=200)


ROUTES = [("HEAD", "/containers/{id}/archive", head), ("GET", "/containers/{id}/archive", get),
          ("PUT", "/containers/{id}/archive", put), ("GET", "/containers/{id}/export", export)]
