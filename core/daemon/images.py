"""``/images/...``, ``/version`` and ``/info``. (Endpoints of plugins, such as the net plugin's ``/networks``,
come from the ``daemon_routes`` hook: see ``app.py``.)
"""
from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import tempfile
import time
from typing import Any

from aiohttp import web

from .. import __version__
from .._images import normalize
from ..errors import NotFoundError
from .http import API_VERSION, MIN_API_VERSION, STATE, jresp
from .convert import BadRequest, parse_bool, rfc3339

__all__ = ["ROUTES"]

MAX_IMPORT = 8 << 30


def _resolve(d: Any, ref: str) -> str:
    """An image name, or its id (``sha256:...`` or a unique hex prefix of it) -> its name."""
    hexpart = ref[7:] if ref.startswith("sha256:") else ref
    if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
        found = [m["name"] for m in d.engine.images.list() if m["id"][7:].startswith(hexpart)]
        if len(found) == 1:
            return found[0]
    return ref


def _tags(name: str) -> list[str]:
    return [name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"]


async def list_images(request: web.Request) -> web.Response:
    d = request.app[STATE]
    users: dict[str, int] = {}
    for rec in d.engine.list(all=True):
        if rec.spec.image:
            users[normalize(rec.spec.image)] = users.get(normalize(rec.spec.image), 0) + 1
    out = [{"Containers": users.get(m["name"], 0), "Created": int(m["created"]), "Id": m["id"], "Labels": {},
            "ParentId": "", "RepoDigests": [], "RepoTags": _tags(m["name"]), "SharedSize": -1,
            "Size": m["size"], "VirtualSize": m["size"]} for m in d.engine.images.list()]
    return jresp(out)


async def inspect_image(request: web.Request) -> web.Response:
    d = request.app[STATE]
    name = _resolve(d, request.match_info["name"])
    try:
        meta = await asyncio.to_thread(d.engine.images.get, name)
    except NotFoundError:
        raise NotFoundError(f"No such image: {name}") from None
    return jresp({"Id": meta["id"], "RepoTags": _tags(meta["name"]), "Created": rfc3339(meta["created"]),
                              "Size": meta["size"], "Os": "linux", "Architecture": "amd64",
                              "Config": {"Cmd": ["sh"], "Env": [], "Entrypoint": None}, "RootFS": {"Type": "layers"}})


async def create_image(request: web.Request) -> web.StreamResponse:
    """``fromSrc=-`` imports the request body (a root filesystem tar); ``fromImage`` only knows busybox."""
    d = request.app[STATE]
    src, repo, tag = request.query.get("fromSrc"), request.query.get("repo", ""), request.query.get("tag", "")
    if src is None:
        image = request.query.get("fromImage", "")
        name = f"{image}:{tag}" if tag and ":" not in image.rsplit("/", 1)[-1] else image
        if normalize(name or "x") != "busybox":
            raise NotFoundError(f"pull access denied for {name}: nsrun cannot pull images; "
                                f"use `docker import` (a root filesystem tar) instead")
        meta = await asyncio.to_thread(d.engine.images.get, "busybox")
        return jresp({"status": f"Status: image is up to date for {name} ({meta['id']})"})
    if src != "-":
        raise BadRequest("only fromSrc=- (the request body) is supported")
    if not repo:
        raise BadRequest("repo is required to import an image")
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
        meta = await asyncio.shield(asyncio.to_thread(d.engine.images.import_tar, tmp, name))
    finally:
        os.unlink(tmp)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(json.dumps({"status": meta["id"]}).encode() + b"\r\n")
    await resp.write_eof()
    return resp


async def remove_image(request: web.Request) -> web.Response:
    d = request.app[STATE]
    name = _resolve(d, request.match_info["name"])
    force = parse_bool(request.query.get("force"), "force")
    users = [r.id for r in d.engine.list(all=True) if r.spec.image and normalize(r.spec.image) == normalize(name)]
    try:
        meta = await asyncio.to_thread(d.engine.images.get, name)
    except NotFoundError:
        raise NotFoundError(f"No such image: {name}") from None
    if force:
        users = [u for u in users if (r := d.engine.store.load(u)) is not None and r.running]
    await asyncio.to_thread(d.engine.images.remove, name, users)
    return jresp([{"Untagged": _tags(meta["name"])[0]}, {"Deleted": meta["id"]}])


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
    records = d.engine.list(all=True)
    running = sum(1 for r in records if r.running)
    uname = platform.uname()
    data = {
        "ID": d.engine.paths.tag or "nsrun", "Containers": len(records), "ContainersRunning": running,
        "ContainersPaused": 0, "ContainersStopped": len(records) - running, "Images": len(d.engine.images.list()),
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
    ("GET", "/version", version), ("GET", "/info", info),
    ("POST", "/images/load", load_images), ("GET", "/images/get", get_images),
    ("GET", "/images/{name:.+}/get", get_image),
]
