"""``/images/...`` (list, inspect, pull and import, push, tag, remove, prune), ``/auth``, ``/version`` and
``/info``. (Endpoints of plugins, such as the net plugin's ``/networks``,
come from the ``daemon_routes`` hook: see ``app.py``.)
"""
from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import os
import platform
import socket
import tempfile
import time
from typing import Any, Callable

from aiohttp import web

from .. import __version__
from .._images import normalize
from ..errors import ConfigError, NotFoundError, NsrunError
from ..image.view import repo_tags
from .http import API_VERSION, MIN_API_VERSION, STATE, jresp, json_body
from .convert import BadRequest, parse_bool, rfc3339

__all__ = ["ROUTES"]

log = logging.getLogger("nsrun.daemon")

MAX_IMPORT = 8 << 30
_LINE = b"\r\n"


def _only(request: web.Request, *allowed: str) -> None:
    """Refuse, by name, a query parameter this endpoint does not implement (nothing is silently ignored)."""
    for key in request.query:
        if key not in allowed:
            raise BadRequest(f"query parameter {key!r} is not supported by nsrun here")


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


def _credentials(request: web.Request) -> Any:
    """``X-Registry-Auth``'s credentials; anonymous without them (the daemon never reads its own
    ~/.docker/config.json: credentials are the client's, as with dockerd)."""
    from ..image.auth import decode_registry_auth
    from ..image.service import ANONYMOUS
    return decode_registry_auth(request.headers.get("X-Registry-Auth")) or ANONYMOUS


def _with_status(exc: BaseException, status: int = 403) -> BaseException:
    """A registry's refusal of credentials (AuthError, a ConfigError: 400 elsewhere): 401 from ``/auth``; 403
    from a pull or push (a 401 there makes the docker CLI prompt for a login and retry, forever when stdin
    is not a terminal; dockerd does not answer a pull with 401 either)."""
    from ..image.auth import AuthError
    if isinstance(exc, AuthError):
        exc.http_status = status  # type: ignore[attr-defined]
    return exc


async def _stream(request: web.Request, work: Callable[[Callable[[dict], None]], Any], *,
                  head: Callable[[], list[dict]], tail: Callable[[Any], list[dict]],
                  eager: bool = False) -> web.StreamResponse:
    """Run ``work(progress)`` in a worker thread and stream Docker's JSON messages: ``head()`` first, every
    progress event, then ``tail(result)``. Until the first message (``eager``: at once) nothing is sent, so a
    failure before it is an HTTP error with its own status (as dockerd answers an unknown tag with 404); a
    failure later is an ``errorDetail`` message. A client that goes away does not stop the work (a pull is
    finished and recorded, never left half-made)."""
    from ..image.view import error_message, progress_message
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict] = asyncio.Queue()

    def progress(event: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    job = asyncio.ensure_future(asyncio.to_thread(work, progress))
    resp: web.StreamResponse | None = None
    alive = True

    async def send(messages: list[dict]) -> None:
        nonlocal resp, alive
        if resp is None:
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            messages = [*head(), *messages]
        if alive:
            try:
                await resp.write(b"".join(json.dumps(m).encode() + _LINE for m in messages))
            except (ConnectionError, RuntimeError):
                alive = False  # the client went away: the work goes on

    if eager:
        await send([])
    while True:
        getter = asyncio.ensure_future(queue.get())
        done, _ = await asyncio.wait({getter, asyncio.shield(job)}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            await send([progress_message(getter.result())])
            continue
        getter.cancel()
        break
    rest = []
    while not queue.empty():
        rest.append(progress_message(queue.get_nowait()))
    try:
        result = job.result()
    except NsrunError as exc:
        if resp is None and not rest:
            raise _with_status(exc) from None
        await send([*rest, error_message(exc.message)])
    except Exception as exc:  # noqa: BLE001 - reported in the stream, logged
        log.exception("%s %s failed", request.method, request.path)
        if resp is None and not rest:
            raise
        await send([*rest, error_message(f"internal error: {exc}")])
    else:
        await send([*rest, *tail(result)])
    assert resp is not None
    if alive:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
    return resp


# -- list, inspect -------------------------------------------------------------------------------------------
def _filters(request: web.Request, known: tuple[str, ...]) -> dict[str, list[str]]:
    """Docker's ``filters`` (``{"key": ["v"]}`` or ``{"key": {"v": true}}``); an unknown key is refused."""
    try:
        raw = json.loads(request.query.get("filters") or "{}")
    except ValueError:
        raise BadRequest("invalid filters: not JSON") from None
    if not isinstance(raw, dict):
        raise BadRequest("invalid filters: expected an object")
    out: dict[str, list[str]] = {}
    for key, values in raw.items():
        if key not in known:
            raise BadRequest(f"invalid filter {key!r}: nsrun supports {', '.join(known)}")
        if isinstance(values, dict):
            values = [k for k, v in values.items() if v]
        elif isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"invalid filter {key!r}: expected a list of strings")
        out[key] = values
    return out


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
    _only(request, "all", "filters", "digests", "only_ids", "shared-size")
    for key in ("all", "digests", "only_ids", "shared-size"):
        parse_bool(request.query.get(key), key)
    d = request.app[STATE]
    filters = _filters(request, ("reference", "dangling"))
    dangling = _dangling(filters.get("dangling", []))
    counts = await asyncio.to_thread(_use_counts, d)
    out = []
    for meta in await asyncio.to_thread(d.engine.images.list):
        if dangling is not None and bool(meta.get("repo_tags")) == dangling:
            continue
        if not _matches_reference(meta, filters.get("reference", [])):
            continue
        out.append(docker_summary(meta, counts.get(meta["id"], 0)))
    return jresp(out)


async def inspect_image(request: web.Request) -> web.Response:
    from ..image.view import docker_image
    _only(request)
    d = request.app[STATE]
    return jresp(docker_image(await asyncio.to_thread(_get, d, request.match_info["name"])))


# -- pull, import ----------------------------------------------------------------------------------------------
def _pull_reference(image: str, tag: str) -> Any:
    """``fromImage`` and ``tag`` as dockerd combines them: a digest ``tag`` pins it, a tag replaces the
    image's; pulling every tag of a repository (no tag at all) is not supported."""
    from ..image.reference import parse
    if not image:
        raise BadRequest("fromImage is required")
    ref = parse(image, default_tag="")
    if tag.startswith("sha256:"):
        return parse(f"{ref.repository}@{tag}")
    if tag:
        return ref.with_tag(tag)
    if not ref.tag and not ref.digest:
        raise BadRequest(f"pulling every tag of {image} is not supported by nsrun: name a tag")
    return ref


async def create_image(request: web.Request) -> web.StreamResponse:
    """``fromImage``: pull from a registry, streaming Docker's progress messages (``X-Registry-Auth`` for
    credentials). ``fromSrc=-``: ``docker import``, the body a root filesystem tar (``changes``: as
    ``docker import --change``)."""
    _only(request, "fromImage", "fromSrc", "repo", "tag", "platform", "changes", "message")
    if "fromSrc" in request.query:
        return await _import(request)
    if request.query.get("repo") or request.query.getall("changes", []) or request.query.get("message"):
        raise BadRequest("repo, changes and message go with fromSrc (an import), not with fromImage")
    from ..image.service import RegistryOptions, pull_image
    from ..image.view import pull_footer, pull_header
    d = request.app[STATE]
    ref = _pull_reference(request.query.get("fromImage", ""), request.query.get("tag", ""))
    options = RegistryOptions(credentials=_credentials(request))
    platform = request.query.get("platform") or None
    text = str(ref)

    def before() -> str | None:
        try:
            return d.engine.images.get(text)["id"]
        except NsrunError:
            return None

    old = await asyncio.to_thread(before)

    def work(progress: Callable[[dict], None]) -> dict[str, Any]:
        return pull_image(d.engine.paths, text, platform=platform, progress=progress, options=options,
                          images=d.engine.images)

    def tail(meta: dict[str, Any]) -> list[dict]:
        digest = (meta.get("repo_digests") or [""])[0].partition("@")[2]
        return pull_footer(ref.familiar(), digest, meta["id"] != old)

    return await _stream(request, work, head=lambda: [pull_header(ref.path, ref.tag or ref.digest,
                                                                  ref.familiar())], tail=tail)


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
    await resp.write(json.dumps({"status": meta["id"]}).encode() + _LINE)
    await resp.write_eof()
    return resp


# -- push, tag -----------------------------------------------------------------------------------------------
async def push_image(request: web.Request) -> web.StreamResponse:
    """``POST /images/{name}/push?tag=``: every tag of the repository when ``tag`` is empty."""
    from ..image.reference import parse
    from ..image.service import RegistryOptions, manifest_size, push_image as push
    from ..image.view import push_footer, push_header
    _only(request, "tag")
    d = request.app[STATE]
    name, tag = request.match_info["name"], request.query.get("tag", "")
    ref = parse(name, default_tag="")
    if tag:
        refs = [ref.with_tag(tag)]
    elif ref.tag:
        refs = [ref]
    else:
        refs = [r for meta in d.engine.images.list() for t in meta.get("repo_tags") or []
                if (r := parse(t)).familiar_name == ref.familiar_name]
    for r in refs or [ref.with_tag("latest")]:
        try:
            d.engine.images.get(r.familiar())
        except NotFoundError:
            raise NotFoundError(f"An image does not exist locally with the tag: {r.familiar()}") from None
    options = RegistryOptions(credentials=_credentials(request))

    def work(progress: Callable[[dict], None]) -> list[tuple[str, str, int]]:
        out = []
        for r in refs:
            digest = push(d.engine.paths, r.familiar(), progress=progress, options=options, images=d.engine.images)
            out.append((r.tag or "latest", digest, manifest_size(d.engine.paths, digest)))
        return out

    def tail(pushed: list[tuple[str, str, int]]) -> list[dict]:
        return [m for t, digest, size in pushed for m in push_footer(t, digest, size)]

    return await _stream(request, work, head=lambda: [push_header(ref.repository)], tail=tail, eager=True)


async def tag_image(request: web.Request) -> web.Response:
    """``POST /images/{name}/tag?repo=&tag=`` -> 201."""
    from ..image.reference import parse
    _only(request, "repo", "tag", "force")
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
    _only(request, "force", "noprune")
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
    _only(request, "filters")
    d = request.app[STATE]
    dangling = _dangling(_filters(request, ("dangling",)).get("dangling", []))

    def run() -> dict[str, Any]:
        images = d.engine.images
        before = {m["id"]: m.get("size", 0) for m in images.list()}
        keep = {i for i in _use_counts(d) if i}
        if dangling is False:
            removed = []
            for meta in images.list():
                if meta["id"] not in keep:
                    removed += images.remove(meta["id"], [], force=True)
        else:
            removed = images.prune(keep=keep)
        gone = {i["Deleted"] for i in removed if "Deleted" in i}
        return {"ImagesDeleted": docker_removed(removed) or None,
                "SpaceReclaimed": sum(size for i, size in before.items() if i in gone)}
    return jresp(await asyncio.shield(asyncio.to_thread(run)))


# -- auth ----------------------------------------------------------------------------------------------------
async def auth(request: web.Request) -> web.Response:
    """``POST /auth``: check the credentials against the registry (nothing is stored: the client keeps
    them); 401 when it refuses them."""
    from ..image.auth import registry_host
    from ..image.registry import verify_login
    _only(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    user, password = body.get("username") or "", body.get("password") or ""
    server = body.get("serveraddress") or "docker.io"
    if not all(isinstance(v, str) for v in (user, password, server)):
        raise BadRequest("username, password and serveraddress must be strings")
    if not user or not password:
        raise BadRequest("username and password are required")
    try:
        await asyncio.to_thread(verify_login, registry_host(server), user, password)
    except NsrunError as exc:
        raise _with_status(exc, 401) from None
    return jresp({"Status": "Login Succeeded", "IdentityToken": ""})


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
    ("POST", "/images/prune", prune_images), ("POST", "/images/{name:.+}/tag", tag_image),
    ("POST", "/images/{name:.+}/push", push_image), ("POST", "/auth", auth),
    ("GET", "/version", version), ("GET", "/info", info),
]
