"""``POST /build`` (docker's classic builder: ``DOCKER_BUILDKIT=0 docker build``, docker-py's
``images.build``), ``POST /commit`` (``docker commit``) and ``GET /images/{name}/history``.

A build runs as ``nsrun build --json-stream`` in a child process of its own (with the daemon's root and
plugin selection): its ``RUN`` containers are foreground runs, which need a main thread for their signal
handling, and a failing or killed build can never take the daemon with it. The request body (the context: a
tar, plain or compressed) is unpacked into a staging directory of the layer store (flocked while in use, so
gc removes a dead daemon's) and removed after. The child's stdout is already Docker's JSON stream
(``{"stream"}``, ``{"aux": {"ID"}}``, ``{"error", "errorDetail"}``) and is passed on line by line; a client
that goes away stops the build (SIGTERM: the child removes its container and partial layers).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from aiohttp import web

from ..errors import ConfigError, NotFoundError
from .convert import BadRequest, parse_bool
from .http import STATE, jresp, json_body, only_query

__all__ = ["ROUTES"]

MAX_CONTEXT = 8 << 30
# Query parameters docker's clients send with their zero values; anything else in them is refused.
_ZERO = {"memory": ("", "0"), "memswap": ("", "0"), "cpushares": ("", "0"), "cpusetcpus": ("",),
         "cpusetmems": ("",), "cpuperiod": ("", "0"), "cpuquota": ("", "0"), "shmsize": ("", "0"),
         "cachefrom": ("", "[]", "null"), "ulimits": ("", "[]", "null"), "networkmode": ("", "default"),
         "platform": ("",), "extrahosts": ("",), "isolation": ("", "default"), "squash": ("", "0", "false"),
         "session": None, "buildid": None, "outputs": ("", "[]", "null"), "remote": ("",),
         "rm": None, "forcerm": None, "version": ("", "1")}


def _json_map(request: web.Request, key: str) -> dict[str, str]:
    text = request.query.get(key) or ""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise BadRequest(f"{key}: not JSON") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key}: expected a JSON object")
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _argv(d: Any, request: web.Request, context: str) -> list[str]:
    q = request.query
    for key, allowed in _ZERO.items():
        if key in q and allowed is not None and q.get(key) not in allowed:
            if key == "version":
                raise BadRequest("nsrun builds with the classic builder only: set DOCKER_BUILDKIT=0")
            raise BadRequest(f"build option {key}={q.get(key)} is not supported by nsrun")
    dockerfile = q.get("dockerfile") or "Dockerfile"
    path = os.path.normpath(os.path.join(context, dockerfile))
    if not path.startswith(context + "/"):
        raise BadRequest(f"the Dockerfile ({dockerfile}) must be within the build context")
    root = ["--root", d.root_arg] if d.root_arg else []
    argv = [sys.executable, "-c", "from nsrun.cli import main; main()", *root, "--plugins", ",".join(d.selection),
            "build", "--json-stream", "-f", path]
    for tag in q.getall("t", []):
        if tag:
            argv += ["-t", tag]
    for key, value in _json_map(request, "buildargs").items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in _json_map(request, "labels").items():
        argv += ["--label", f"{key}={value}"]
    if q.get("target"):
        argv += ["--target", q["target"]]
    if parse_bool(q.get("nocache"), "nocache"):
        argv.append("--no-cache")
    if parse_bool(q.get("pull"), "pull"):
        argv.append("--pull")
    if parse_bool(q.get("q"), "q"):
        argv.append("-q")
    return argv + [context]


def _unpack(spool: Any, dest: str) -> None:
    from ..build.context import extract_tar
    try:
        extract_tar(spool, dest, "the build context")
    except ConfigError as exc:
        raise BadRequest(exc.message) from None
    except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt stream inside a valid start
        raise BadRequest(f"the build context: unreadable tar archive: {exc}") from None


async def build(request: web.Request) -> web.StreamResponse:
    only_query(request, "t", "dockerfile", "buildargs", "target", "nocache", "q", "labels", "pull", *_ZERO)
    d = request.app[STATE]
    if request.query.get("remote"):
        raise BadRequest("a remote build context (a URL) is not supported by nsrun: send the context as a tar")
    import tempfile
    layers = d.engine.images.layers
    with layers.scratch() as tmp:
        context = os.path.join(tmp, "diff")
        with tempfile.TemporaryFile(dir=tmp) as spool:
            size = 0
            while chunk := await request.content.read(1 << 20):
                size += len(chunk)
                if size > MAX_CONTEXT:
                    raise web.HTTPRequestEntityTooLarge(max_size=MAX_CONTEXT, actual_size=size)
                spool.write(chunk)
            spool.seek(0)
            await asyncio.to_thread(_unpack, spool, context)
        argv = _argv(d, request, context)
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, start_new_session=True)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})

        async def watch() -> None:  # aiohttp does not cancel a handler whose client left: look for it
            while proc.returncode is None:
                await asyncio.sleep(0.3)
                transport = request.transport
                if transport is None or transport.is_closing():
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                    return
        watcher = asyncio.create_task(watch())
        try:
            await resp.prepare(request)
            errored = False
            assert proc.stdout is not None and proc.stderr is not None
            while line := await proc.stdout.readline():
                errored = errored or line.startswith(b'{"errorDetail"')
                await resp.write(line.rstrip(b"\n") + b"\r\n")
            err = (await proc.stderr.read()).decode(errors="replace").strip()
            code = await proc.wait()
            if code != 0 and not errored:
                message = err.splitlines()[-1] if err else f"the build stopped (exit {code})"
                message = message.removeprefix("nsrun: ")
                await resp.write(json.dumps({"errorDetail": {"message": message}, "error": message}).encode()
                                 + b"\r\n")
            await resp.write_eof()
        finally:
            watcher.cancel()
            if proc.returncode is None:  # the client went away: stop the build, let it clean up
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.shield(asyncio.wait_for(proc.wait(), 60))
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
    return resp


async def commit(request: web.Request) -> web.Response:
    """``POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`` -> 201 ``{"Id"}``. A body (a
    container config) with anything in it is refused: use ``changes``."""
    from ..image.commit import commit_container
    only_query(request, "container", "repo", "tag", "comment", "author", "changes", "pause")
    d = request.app[STATE]
    body = await json_body(request, required=False) if request.can_read_body else None
    if body and any(v not in (None, "", [], {}, False, 0) for v in body.values()):
        raise BadRequest("a container config in the commit body is not supported by nsrun: use changes")
    container = request.query.get("container") or ""
    if not container:
        raise BadRequest("container is required")
    repo, tag = request.query.get("repo") or "", request.query.get("tag") or ""
    name = None
    if repo:
        from ..image.reference import parse
        ref = parse(repo, default_tag="")
        name = str(ref.with_tag(tag)) if tag else repo
    elif tag:
        raise BadRequest("tag without repo")
    changes = tuple(c for c in request.query.getall("changes", []) if c)

    def run() -> dict[str, Any]:
        try:
            d.engine.find(container)
        except NotFoundError:
            raise NotFoundError(f"No such container: {container}") from None
        return commit_container(d.engine, container, name, changes=changes,
                                message=request.query.get("comment") or None,
                                author=request.query.get("author") or None)
    rec = await asyncio.shield(asyncio.to_thread(run))
    return jresp({"Id": rec["id"]}, status=201)


async def history(request: web.Request) -> web.Response:
    from ..image.view import docker_history
    only_query(request)
    d = request.app[STATE]
    name = request.match_info["name"]

    def run() -> list[dict[str, Any]]:
        images = d.engine.images
        try:
            meta = images.get(name)
        except NotFoundError:
            raise NotFoundError(f"No such image: {name}") from None
        return docker_history(meta, [images.layers.meta(c).get("size", 0) for c in meta["layers"]])
    return jresp(await asyncio.to_thread(run))


async def changes(request: web.Request) -> web.Response:
    """``GET /containers/{id}/changes`` (``docker diff``): ``[{"Path", "Kind"}]``, Kind 0 changed, 1 added,
    2 deleted."""
    from ..image.changes import list_changes
    from ..image.commit import container_changes
    only_query(request)
    d = request.app[STATE]
    ref = request.match_info["id"]

    def run() -> list[dict[str, Any]]:
        try:
            rec = d.engine.find(ref)
        except NotFoundError:
            raise NotFoundError(f"No such container: {ref}") from None
        found = container_changes(d.engine, rec)
        kinds = {"C": 0, "A": 1, "D": 2}
        return [{"Path": path, "Kind": kinds[kind]} for kind, path in
                list_changes(found["upper"], list(rec.spec.layers or []), found.get("skip") or ())]
    return jresp(await asyncio.to_thread(run) or None)


ROUTES = [("POST", "/build", build), ("POST", "/commit", commit), ("GET", "/images/{name:.+}/history", history),
          ("GET", "/containers/{id}/changes", changes)]
