"""Pulls, pushes and registry logins of the daemon: ``POST /images/create?fromImage=`` (``pull``), ``POST
/images/{name}/push`` (``push``), ``POST /auth`` (``auth``).

Pulls and pushes run ``nsrun.image.service`` in a worker thread and stream Docker's JSON messages
(``nsrun.image.view``: the same the embedded CLI shows). Credentials come only from the request's
``X-Registry-Auth`` (the client's, as with dockerd); ``/auth`` checks them and stores nothing.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Callable

from aiohttp import web

from ..errors import NotFoundError, NsrunError
from .convert import BadRequest
from .http import STATE, jresp, json_body, only_query

__all__ = ["pull", "push", "auth"]

log = logging.getLogger("nsrun.daemon")
_LINE = b"\r\n"


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
        try:
            if resp is None:
                resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
                messages = [*head(), *messages]
                await resp.prepare(request)
            if alive:
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


async def pull(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=&tag=&platform=``: pull from a registry, streaming Docker's progress
    messages (``X-Registry-Auth`` for credentials). The caller checked the query's names."""
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



async def push(request: web.Request) -> web.StreamResponse:
    """``POST /images/{name}/push?tag=``: every tag of the repository when ``tag`` is empty."""
    from ..image.reference import parse
    from ..image.service import RegistryOptions, manifest_size, push_image as push
    from ..image.view import push_footer, push_header
    only_query(request, "tag")
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


# -- auth ----------------------------------------------------------------------------------------------------
async def auth(request: web.Request) -> web.Response:
    """``POST /auth``: check the credentials against the registry (nothing is stored: the client keeps
    them); 401 when it refuses them."""
    from ..image.auth import registry_host
    from ..image.registry import verify_login
    only_query(request)
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
