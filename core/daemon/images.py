"""``/images/...``, ``/networks...``, ``/version`` and ``/info``.

Networks are the net plugin's: when it is installed, its module ``daemon_api`` (or the one its ``DAEMON_API``
names) offers ``network_list(paths)``, ``network_create(paths, name, body)``, ``network_inspect(paths, name)``
and ``network_remove(paths, name)`` (body is the Docker create body; Docker-shaped dicts come back), and these
endpoints call them.
Without it only ``none`` and ``host`` exist and creating one is refused with a message naming the plugin.
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
from ..errors import ConfigError, NotFoundError
from .app import API_VERSION, MIN_API_VERSION, STATE, jresp, json_body
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


# -- networks ------------------------------------------------------------------------------------------------
def _builtin(name: str, driver: str) -> dict[str, Any]:
    return {"Name": name, "Id": name, "Created": rfc3339(0), "Scope": "local", "Driver": driver,
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False,
            "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Containers": {}, "Options": {}, "Labels": {}}


async def list_networks(request: web.Request) -> web.Response:
    d = request.app[STATE]
    net = d.net_api()
    if net is None:
        return jresp([_builtin("host", "host"), _builtin("none", "null")])
    return jresp(await asyncio.to_thread(net.network_list, d.engine.paths))


async def inspect_network(request: web.Request) -> web.Response:
    d = request.app[STATE]
    name = request.match_info["name"]
    net = d.net_api()
    if net is None:
        if name in ("host", "none"):
            return jresp(_builtin(name, "host" if name == "host" else "null"))
        raise NotFoundError(f"network {name} not found")
    return jresp(await asyncio.to_thread(net.network_inspect, d.engine.paths, name))


async def create_network(request: web.Request) -> web.Response:
    d = request.app[STATE]
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise BadRequest("network create: Name (a string) is required")
    net = d.net_api()
    if net is None:
        raise ConfigError("creating networks needs the net plugin, which is not installed")
    result = await asyncio.shield(asyncio.to_thread(net.network_create, d.engine.paths, body["Name"], body))
    return jresp({"Id": result.get("Id", body["Name"]), "Warning": ""}, status=201)


async def remove_network(request: web.Request) -> web.Response:
    d = request.app[STATE]
    name = request.match_info["name"]
    net = d.net_api()
    if net is None:
        if name in ("host", "none"):
            raise ConfigError(f"{name} is a pre-defined network and cannot be removed")
        raise NotFoundError(f"network {name} not found")
    await asyncio.shield(asyncio.to_thread(net.network_remove, d.engine.paths, name))
    return web.Response(status=204)


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
    return jresp({
        "ID": d.engine.paths.tag or "nsrun", "Containers": len(records), "ContainersRunning": running,
        "ContainersPaused": 0, "ContainersStopped": len(records) - running, "Images": len(d.engine.images.list()),
        "Driver": "overlay2", "DriverStatus": [], "Plugins": {"Volume": [], "Network": ["host", "null"] +
                                                              (["bridge"] if d.net_installed() else []),
                                                              "Authorization": None, "Log": []},
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
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "", "SecurityOptions": [], "Warnings": []})


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
    ("GET", "/networks", list_networks), ("POST", "/networks/create", create_network),
    ("GET", "/networks/{name}", inspect_network), ("DELETE", "/networks/{name}", remove_network),
    ("GET", "/version", version), ("GET", "/info", info),
]
