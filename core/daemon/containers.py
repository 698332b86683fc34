"""``/containers/...``: create, start, wait, attach, logs, inspect, list, stop, kill, restart, remove, prune,
resize. Blocking engine calls run in worker threads (they never fork: starting is the launcher's job).

Nothing is left half-made: create and start are shielded from client disconnects (a client that goes away
gets a whole container or none), and a container whose start failed is removed when it was ``AutoRemove``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from aiohttp import web

from .._frames import frame, stamp as _stamp
from .._logfile import LogReader
from ..errors import ConfigError, ConflictError, ImageNotFoundError, NotFoundError
from .http import STATE, jresp, json_body
from .convert import BadRequest, container_json, create_args, parse_bool, ps_item
from .streams import follow_log, hijack, open_log, set_winsize, write_frames

__all__ = ["ROUTES"]

log = logging.getLogger("nsrun.daemon")


def _d(request: web.Request) -> Any:
    return request.app[STATE]


def _q(request: web.Request, name: str, default: bool = False) -> bool:
    return parse_bool(request.query.get(name), name, default)


def _int(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {raw!r}") from None


async def create(request: web.Request) -> web.Response:
    d = _d(request)
    body = await json_body(request)
    args = create_args(body, request.query.get("name"), d.docker_create())
    try:
        rec, warnings = await asyncio.shield(asyncio.to_thread(d.create, args))
    except ImageNotFoundError:  # the docker CLI pulls on this 404 (`run --pull missing`) and creates again
        from ..image.reference import parse
        raise NotFoundError(f"No such image: {parse(args['image']).familiar()}") from None
    return jresp({"Id": rec.id, "Warnings": warnings}, status=201)


async def start(request: web.Request) -> web.Response:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    if rec.running or rec.status == "restarting":   # restarting: its supervisor starts it again
        return web.Response(status=304)
    if rec.status == "dead":
        raise ConflictError(f"container {rec.id} is dead: run `nsrun gc` or remove it")
    await asyncio.shield(d.launcher.start(rec.id))
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    d = _d(request)
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise BadRequest(f"invalid condition: {condition!r}")
    rec = d.engine.find(request.match_info["id"])
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)       # headers now: the docker CLI sends /start only after it sees them
    code = await d.launcher.wait(rec.id, condition)
    log.debug("wait %s %s -> %s", rec.id[:12], condition, code)
    error = None
    fresh = d.engine.store.load(rec.id)
    if fresh is not None and fresh.state.get("error"):
        error = {"Message": fresh.state["error"]}
    await resp.write(json.dumps({"Error": error, "StatusCode": code}).encode() + b"\n")
    await resp.write_eof()
    return resp


async def attach(request: web.Request) -> web.StreamResponse:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    want = (_q(request, "stdout"), _q(request, "stderr"))
    use_stdin = _q(request, "stdin") and rec.spec.interactive
    from .._detachkeys import parse_detach_keys
    try:
        keys = parse_detach_keys(request.query.get("detachKeys"))
    except ConfigError as exc:
        raise BadRequest(exc.message) from None
    # Opened before the 101: the client sends /start as soon as it sees it, and no output may be missed.
    log = open_log(d.engine.log_path(rec), from_end=not _q(request, "logs"))
    exited = feeder = conn = until = None
    try:
        conn = await hijack(request)
        exited = asyncio.ensure_future(d.launcher.wait(rec.id, "not-running" if rec.running else "next-exit"))
        feeder = asyncio.ensure_future(_feed_stdin(d, rec, conn, keys)) if use_stdin else None
        # the stream ends when the container exits, or when the client typed the detach keys
        until = asyncio.ensure_future(asyncio.wait([t for t in (exited, feeder) if t is not None],
                                                   return_when=asyncio.FIRST_COMPLETED)) if feeder else exited
        await write_frames(conn, follow_log(log, until, detached=feeder), rec.spec.tty, want)
    except ConnectionError:
        pass
    finally:
        log.close()
        for task in (exited, feeder, until):
            if task is not None:
                task.cancel()
        if conn is not None:
            conn.finish()
    return conn.response if conn is not None else web.Response(status=500)


async def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` into the non-blocking FIFO ``fd``, waiting while it is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await asyncio.sleep(0.005)


async def _feed_stdin(d: Any, rec: Any, conn: Any, keys: bytes) -> bool:
    """Client bytes -> the container's stdin FIFO, watched for the detach ``keys`` (``_detachkeys``): True
    when the stream is to end now with the container running (the client detached). At the client's EOF
    the FIFO is closed (once the container holds its read end, so nothing buffered is lost); then, as
    moby's attach does: with ``StdinOnce`` and no tty that closed the container's stdin (the supervisor
    holds no write end) and the output goes on until the container exits (False); otherwise the
    container's stdin stays open and this client's stream ends (True)."""
    from .._detachkeys import Escape
    path = os.path.join(rec.dir, "stdin")
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        await asyncio.Event().wait()   # no stdin: only the container's exit ends the stream
        return False
    escape = Escape(keys)
    try:
        while data := await conn.read():
            data, detached = escape.feed(data)
            await _write_all(fd, data)
            if detached:  # what came before the keys went in; the container goes on
                return True
        for _ in range(2000):  # until the supervisor opened its end (or the container is gone)
            fresh = d.engine.store.load(rec.id)
            if fresh is None or fresh.status != "created":
                break
            await asyncio.sleep(0.005)
    finally:
        os.close(fd)
    if rec.spec.tty or not rec.spec.config.get("StdinOnce"):
        return True
    await asyncio.Event().wait()   # stdin ended, the output goes on until the container exits
    return False


def _log_time(request: web.Request, name: str) -> int | None:
    """``since``/``until`` as the clients send them (unix seconds, with a fraction: ``1700000000.123456789``),
    in ns; None when absent or 0."""
    raw = request.query.get(name)
    if raw in (None, "", "0"):
        return None
    secs, _, frac = raw.partition(".")
    if not secs.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise BadRequest(f"invalid value for {name}: {raw!r} (unix seconds, e.g. 1700000000.5)")
    return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


async def logs(request: web.Request) -> web.StreamResponse:
    from .http import only_query
    only_query(request, "stdout", "stderr", "follow", "tail", "timestamps", "since", "until", "details")
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    want = (_q(request, "stdout"), _q(request, "stderr"))
    if not any(want):
        raise BadRequest("You must choose at least one stream")
    if _q(request, "details"):
        raise BadRequest("query parameter 'details' is not supported by nsrun (no log driver attributes)")
    tail = request.query.get("tail", "all")
    count = None if tail in ("all", "", "-1") else _int(request, "tail", None)
    follow = _q(request, "follow")
    stamps = _q(request, "timestamps")
    since, until_ns = _log_time(request, "since"), _log_time(request, "until")
    resp = web.StreamResponse(status=200)
    resp.headers["Content-Type"] = "application/vnd.docker.raw-stream" if not rec.spec.tty else "text/plain"
    log = LogReader(d.engine.log_path(rec))  # and its rotated files, followed across rotations
    tty = rec.spec.tty

    def lines(records: Any) -> list[tuple[int, bytes, int]]:
        """Line by line (as json-file keeps them), in the time window asked for."""
        out = []
        for stream, data, ts in records:
            if not want[stream - 1] or (since and ts < since) or (until_ns and ts > until_ns):
                continue
            out.extend((stream, line, ts) for line in (data.splitlines(keepends=True) if stamps or count is not None
                                                       else [data]))
        return out

    async def send(items: list[tuple[int, bytes, int]]) -> None:
        for stream, data, ts in items:
            payload = _stamp(ts) + data if stamps else data
            await resp.write(payload if tty else frame(stream, payload))

    stop = None
    try:
        await resp.prepare(request)
        backlog = lines(log.records(times=True))
        if count is not None:
            backlog = backlog[-count:] if count > 0 else []
        await send(backlog)
        if follow and not (until_ns and until_ns < time.time_ns()):
            stop = asyncio.ensure_future(d.launcher.wait(rec.id, "not-running"))
            delay = 0.002
            while True:
                fresh = lines(log.records(times=True))
                await send(fresh)
                if stop.done():
                    await send(lines(log.records(times=True)))
                    break
                await asyncio.wait({stop}, timeout=delay)
                delay = 0.002 if fresh else min(delay * 2, 0.05)
    finally:
        log.close()
        if stop is not None:
            stop.cancel()
    await resp.write_eof()
    return resp


async def inspect(request: web.Request) -> web.Response:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    return jresp(container_json(rec, d.view_hook(rec)))


async def list_(request: web.Request) -> web.Response:
    from .._filters import container_matches, parse_filters
    d = _d(request)
    show_all = _q(request, "all")
    limit = _int(request, "limit", -1)
    filters = parse_filters(request.query.get("filters"))
    now = time.time()
    items = []
    for rec in d.engine.list(all=show_all or bool(filters.get("status") or filters.get("exited"))):
        view = container_json(rec, d.view_hook(rec))
        if container_matches(view, filters):
            items.append(ps_item(rec, now, d.view_hook(rec), view=view))
    if limit is not None and limit > 0:
        items = items[:limit]
    return jresp(items)


async def stop(request: web.Request) -> web.Response:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    if not rec.running and rec.status != "restarting":
        return web.Response(status=304)
    timeout = _int(request, "t", None)  # None: the container's StopTimeout
    await asyncio.to_thread(d.engine.stop, rec.id, timeout)
    await d.launcher.wait(rec.id, "not-running")
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    from .._parse import parse_signal
    d = _d(request)
    sig = parse_signal(request.query.get("signal") or "KILL")
    d.engine.kill(request.match_info["id"], sig)
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    timeout = _int(request, "t", None)

    async def stop_then_start() -> None:   # whole, even if the client goes away in between
        if rec.running or rec.status == "restarting":
            await asyncio.to_thread(d.engine.stop, rec.id, timeout)
            await d.launcher.wait(rec.id, "not-running")
        await d.launcher.start(rec.id)
    await asyncio.shield(stop_then_start())
    return web.Response(status=204)


async def remove(request: web.Request) -> web.Response:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    await asyncio.shield(asyncio.to_thread(d.engine.remove, rec.id, _q(request, "force")))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    """Every container that is not running; ``SpaceReclaimed``: what they had written."""
    from .._filters import parse_filters
    from .._prune import containers as prune_containers
    from .http import only_query
    only_query(request, "filters")
    parse_filters(request.query.get("filters"), ())
    d = _d(request)
    deleted, reclaimed = await asyncio.shield(asyncio.to_thread(prune_containers, d.engine, d.plugins))
    return jresp({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})


async def rename(request: web.Request) -> web.Response:
    from .http import only_query
    only_query(request, "name")
    d = _d(request)
    new = request.query.get("name") or ""
    await asyncio.to_thread(d.engine.rename, request.match_info["id"], new)
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    d = _d(request)
    rec = d.engine.find(request.match_info["id"])
    h, w = _int(request, "h", 0), _int(request, "w", 0)
    if rec.spec.tty and rec.running and h and w:
        set_winsize(rec.state.get("pid"), h, w)
    return web.Response(status=200)


ROUTES = [
    ("POST", "/containers/create", create), ("GET", "/containers/json", list_),
    ("POST", "/containers/prune", prune), ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start), ("POST", "/containers/{id}/wait", wait),
    ("POST", "/containers/{id}/attach", attach), ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/stop", stop), ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/restart", restart), ("DELETE", "/containers/{id}", remove),
    ("POST", "/containers/{id}/resize", resize), ("POST", "/containers/{id}/rename", rename),
]
