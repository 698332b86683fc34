"""``/images/...`` (list, inspect, import, tag, remove, prune; pulls, pushes and ``/auth`` are ``transfer``'s),
``/version`` and ``/info``. (Endpoints of plugins, such as the net plugin's ``/networks``,
come from the ``daemon_routes`` hook: see ``app.py``.)
"""
from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import platform
import socket
import tempfile
import time
from typing import Any

from aiohttp import web

from .. import __version__
from .._filters import parse_filters
from .._images import normalize
from ..errors import ConfigError, NotFoundError, NsrunError
from ..image.view import repo_tags
from . import transfer
from .http import API_VERSION, MIN_API_VERSION, STATE, jresp, only_query
from .convert import BadRequest, parse_bool, rfc3339

__all__ = ["ROUTES"]

MAX_IMPORT = 8 << 30


def _no_such(ref: str) -> NotFoundError:
    """Docker's ``No such image: x:latest`` (the reference spelled out as the docker CLI prints it)."""
    from ..image.reference import parse
    try:
        return NotFoundError(f"No such image: {parse(ref, default_tag='latest').familiar()}")
    except ConfigError:
        return NotFoundError(f"No such image: {ref}")


def _get(d: Any, ref: str) -> dict[str, Any]:
    try:
        return d.engine.images.get(ref)
    except NotFoundError:
        raise _no_such(ref) from None


# -- list, inspect -------------------------------------------------------------------------------------------


def _dangling(values: list[str]) -> bool | None:
    if not values:
        return None
    if len(set(v.lower() for v in values)) > 1:
        raise BadRequest("invalid filter 'dangling': give one of true, false")
    return parse_bool(values[0], "dangling filter")


def _matches_reference(meta: dict[str, Any], patterns: list[str]) -> bool:
    """Docker's ``reference`` filter: a glob over ``repo`` or ``repo:tag`` of any of the image's tags."""
    if not patterns:
        return True
    for tag in repo_tags(meta):
        head, slash, last = tag.rpartition("/")
        repo = head + slash + last.partition(":")[0]
        if any(fnmatch.fnmatchcase(tag, p) or fnmatch.fnmatchcase(repo, p) for p in patterns):
            return True
    return False


def _use_counts(d: Any) -> dict[str, int]:
    """Image id -> how many containers use it."""
    ids: dict[str, str] = {}
    counts: dict[str, int] = {}
    for rec in d.engine.list(all=True):
        if not rec.spec.image:
            continue
        if rec.spec.image not in ids:
            try:
                ids[rec.spec.image] = d.engine.images.get(rec.spec.image)["id"]
            except NsrunError:
                ids[rec.spec.image] = ""
        counts[ids[rec.spec.image]] = counts.get(ids[rec.spec.image], 0) + 1
    return counts


async def list_images(request: web.Request) -> web.Response:
    """``GET /images/json?all&filters&digests``: filters ``reference`` (globs) and ``dangling``."""
    from ..image.view import docker_summary
    only_query(request, "all", "filters", "digests", "only_ids", "shared-size")
    for key in ("all", "digests", "only_ids", "shared-size"):
        parse_bool(request.query.get(key), key)
    show_all = parse_bool(request.query.get("all"), "all")
    d = request.app[STATE]
    filters = parse_filters(request.query.get("filters"), ("reference", "dangling"))
    dangling = _dangling(filters.get("dangling", []))
    counts = await asyncio.to_thread(_use_counts, d)
    out = []
    for meta in await asyncio.to_thread(d.engine.images.list):
        if not show_all and meta.get("build_key") and not meta.get("repo_tags"):
            continue  # a build's intermediate step (docker shows those only with -a)
        if dangling is not None and bool(meta.get("repo_tags")) == dangling:
            continue
        if not _matches_reference(meta, filters.get("reference", [])):
            continue
        out.append(docker_summary(meta, counts.get(meta["id"], 0)))
    return jresp(out)


async def inspect_image(request: web.Request) -> web.Response:
    from ..image.view import docker_image
    only_query(request)
    d = request.app[STATE]
    return jresp(docker_image(await asyncio.to_thread(_get, d, request.match_info["name"])))


# -- import ----------------------------------------------------------------------------------------------
async def create_image(request: web.Request) -> web.StreamResponse:
    """``fromImage``: a pull (``transfer.pull``); ``fromSrc=-``: ``docker import``, the body a root filesystem
    tar (``changes``: as ``docker import --change``)."""
    only_query(request, "fromImage", "fromSrc", "repo", "tag", "platform", "changes", "message")
    if "fromSrc" not in request.query:
        return await transfer.pull(request)
    return await _import(request)


async def _import(request: web.Request) -> web.StreamResponse:
    from .._imageconfig import parse_changes
    d = request.app[STATE]
    src, repo, tag = request.query.get("fromSrc"), request.query.get("repo", ""), request.query.get("tag", "")
    if src != "-":
        raise BadRequest("only fromSrc=- (the request body) is supported")
    if not repo:
        raise BadRequest("repo is required to import an image")
    if request.query.get("message"):
        raise BadRequest("query parameter 'message' (a commit message) is not supported by nsrun")
    config = parse_changes(tuple(request.query.getall("changes", [])))
    name = normalize(f"{repo}:{tag}" if tag else repo)
    os.makedirs(d.engine.paths.root, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".import-", dir=d.engine.paths.root)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await request.content.read(1 << 20):
                size += len(chunk)
                if size > MAX_IMPORT:
                    raise web.HTTPRequestEntityTooLarge(max_size=MAX_IMPORT, actual_size=size)
                out.write(chunk)
        meta = await asyncio.shield(asyncio.to_thread(d.engine.images.import_tar, tmp, name, config=config))
    finally:
        os.unlink(tmp)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(json.dumps({"status": meta["id"]}).encode() + b"\r\n")
    await resp.write_eof()
    return resp


# -- tag -----------------------------------------------------------------------------------------------
async def tag_image(request: web.Request) -> web.Response:
    """``POST /images/{name}/tag?repo=&tag=`` -> 201."""
    from ..image.reference import parse
    only_query(request, "repo", "tag", "force")
    d = request.app[STATE]
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if not repo:
        raise BadRequest("repo is required")
    target = parse(repo, default_tag="")
    if tag:
        target = target.with_tag(tag)
    source = request.match_info["name"]

    def run() -> None:
        try:
            d.engine.images.tag(source, target.familiar() or str(target))
        except NotFoundError:
            raise _no_such(source) from None
    await asyncio.to_thread(run)
    return web.Response(status=201)


# -- remove, prune ---------------------------------------------------------------------------------------------
async def remove_image(request: web.Request) -> web.Response:
    """``DELETE /images/{name}?force=&noprune=``: 409 while a container uses it (with ``force``: a running
    one), 404 when there is no such image."""
    from ..image.service import image_users
    from ..image.view import docker_removed
    only_query(request, "force", "noprune")
    d = request.app[STATE]
    name = request.match_info["name"]
    force = parse_bool(request.query.get("force"), "force")
    if parse_bool(request.query.get("noprune"), "noprune"):
        raise BadRequest("noprune is not supported by nsrun (layers no image uses are always freed)")

    def run() -> list[dict[str, str]]:
        _get(d, name)
        users = image_users(d.engine, name, running_only=force)
        return d.engine.images.remove(name, users, force=force)
    return jresp(docker_removed(await asyncio.shield(asyncio.to_thread(run))))


async def prune_images(request: web.Request) -> web.Response:
    """``POST /images/prune?filters={"dangling":["false"]}``: dangling images, or (dangling=false) every image
    no container uses."""
    from ..image.view import docker_removed
    only_query(request, "filters")
    d = request.app[STATE]
    dangling = _dangling(parse_filters(request.query.get("filters"), ("dangling",)).get("dangling", []))

    def run() -> dict[str, Any]:
        from .._prune import images
        removed, reclaimed = images(d.engine, all_=dangling is False)
        return {"ImagesDeleted": docker_removed(removed) or None, "SpaceReclaimed": reclaimed}
    return jresp(await asyncio.shield(asyncio.to_thread(run)))


# -- docker save / docker load -------------------------------------------------------------------------------
async def load_images(request: web.Request) -> web.StreamResponse:
    """``POST /images/load``: the body is a ``docker save`` or OCI layout tar (plain or compressed); answers
    Docker's JSON stream, ``{"stream": "Loaded image: NAME\\n"}`` per image (``quiet`` changes nothing: there
    is no progress to leave out). The body is spooled to an unnamed file under the root first."""
    from ..image.archive import load, loaded_lines
    d = request.app[STATE]
    parse_bool(request.query.get("quiet"), "quiet")
    os.makedirs(d.engine.paths.root, exist_ok=True)
    with tempfile.TemporaryFile(dir=d.engine.paths.root) as spool:
        size = 0
        while chunk := await request.content.read(1 << 20):
            size += len(chunk)
            if size > MAX_IMPORT:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_IMPORT, actual_size=size)
            spool.write(chunk)
        spool.seek(0)
        recs = await asyncio.shield(asyncio.to_thread(load, d.engine.paths, d.engine.images, spool))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for line in loaded_lines(recs):
        await resp.write(json.dumps({"stream": line + "\n"}).encode() + b"\r\n")
    await resp.write_eof()
    return resp


async def _save_response(request: web.Request, names: list[str]) -> web.StreamResponse:
    from ..image.archive import save
    d = request.app[STATE]
    if not names:
        raise BadRequest("names is required")
    for name in names:
        try:
            await asyncio.to_thread(d.engine.images.get, name)
        except NotFoundError:
            raise NotFoundError(f"No such image: {name}") from None
    with tempfile.TemporaryFile(dir=d.engine.paths.root) as spool:
        await asyncio.to_thread(save, d.engine.paths, d.engine.images, names, spool)
        spool.seek(0)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 1 << 20):
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def get_images(request: web.Request) -> web.StreamResponse:
    """``GET /images/get?names=A&names=B``: one ``docker save`` tar of every image named."""
    return await _save_response(request, [n for n in request.query.getall("names", []) if n])


async def get_image(request: web.Request) -> web.StreamResponse:
    """``GET /images/{name}/get``: the ``docker save`` tar of one image."""
    return await _save_response(request, [request.match_info["name"]])


# -- system --------------------------------------------------------------------------------------------------
async def version(request: web.Request) -> web.Response:
    uname = platform.uname()
    engine = {"Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
              "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
              "Arch": "amd64" if uname.machine == "x86_64" else uname.machine, "KernelVersion": uname.release,
              "BuildTime": ""}
    return jresp({"Platform": {"Name": "nsrun"},
                              "Components": [{"Name": "Engine", "Version": __version__, "Details": engine}],
                              **engine})


async def info(request: web.Request) -> web.Response:
    d = request.app[STATE]
    from .._state import plugin_state
    records = await asyncio.to_thread(d.engine.list, all=True)
    states = [plugin_state(r.state.get("info") or {}, r.status)["Status"] for r in records]
    running, paused = states.count("running"), states.count("paused")
    images = [m for m in await asyncio.to_thread(d.engine.images.list)  # as `docker images` counts them
              if m.get("repo_tags") or not m.get("build_key")]
    uname = platform.uname()
    data = {
        "ID": d.engine.paths.tag or "nsrun", "Containers": len(records), "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": len(records) - running - paused, "Images": len(images),
        "Driver": "overlay2", "DriverStatus": [], "Plugins": {"Volume": [], "Network": [], "Authorization": None,
                                                              "Log": []},
        "MemoryLimit": False, "SwapLimit": False, "CpuCfsPeriod": False, "CpuCfsQuota": False,
        "IPv4Forwarding": True, "Debug": d.debug, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0, "SystemTime": rfc3339(time.time()), "LoggingDriver": "nsrun", "CgroupDriver": "none",
        "CgroupVersion": "1", "NEventsListener": 0, "KernelVersion": uname.release,
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux", "Architecture": uname.machine,
        "IndexServerAddress": "", "RegistryConfig": None, "NCPU": os.cpu_count() or 1,
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "DockerRootDir": d.engine.paths.root,
        "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"nsrun": {"path": "nsrun"}}, "DefaultRuntime": "nsrun",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "", "SecurityOptions": [], "Warnings": []}
    d.plugins.hook.docker_info(info=data)
    return jresp(data)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


ROUTES = [
    ("GET", "/images/json", list_images), ("POST", "/images/create", create_image),
    ("GET", "/images/{name:.+}/json", inspect_image), ("DELETE", "/images/{name:.+}", remove_image),
    ("POST", "/images/prune", prune_images), ("POST", "/images/{name:.+}/tag", tag_image),
    ("POST", "/images/{name:.+}/push", transfer.push), ("POST", "/auth", transfer.auth),
    ("GET", "/version", version), ("GET", "/info", info),
    ("POST", "/images/load", load_images), ("GET", "/images/get", get_images),
    ("GET", "/images/{name:.+}/get", get_image),
]
