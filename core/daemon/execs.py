"""``/containers/{id}/exec`` and ``/exec/{eid}/...``.

An exec runs as ``nsrun exec`` in a fresh process (the embedded CLI's one code path for exec: it joins the
container's namespaces and forks there, so the daemon itself never forks a container process). Its
stdout/stderr come back framed (or raw with a tty), its stdin is the hijacked connection, and its exit status
is the exec's ``ExitCode``. Exec records live in the daemon's memory only (as in dockerd, they do not survive
a restart).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

from aiohttp import web

from .._frames import frame
from .._state import new_id
from ..errors import ConflictError, NotFoundError
from .http import STATE, jresp, json_body
from .._fieldsource import FieldSource
from .convert import BadRequest
from .streams import hijack, set_winsize

__all__ = ["ROUTES"]

EXEC_TTL = 300.0      # seconds a finished exec stays inspectable
MAX_PENDING = 1000    # created but never started execs kept at most (oldest dropped)


def _exec_config(body: Any) -> dict[str, Any]:
    """An exec create body; a field nsrun cannot honour (``Privileged``, ``DetachKeys``) is refused by name."""
    fields = FieldSource(body, "field")
    cmd = fields.take_strings("Cmd")
    if not cmd:
        raise BadRequest("No exec command specified")
    for how in ("AttachStdout", "AttachStderr", "Container", "ConsoleSize"):  # how the client attaches
        fields.take(how)
    config = {"Cmd": cmd, "Tty": bool(fields.take("Tty", bool)), "AttachStdin": bool(fields.take("AttachStdin", bool)),
              # a bare NAME would be filled from the daemon's own environment by `nsrun exec -e`: never pass one
              "Env": [e for e in fields.take_strings("Env") or [] if "=" in e],
              "WorkingDir": fields.take("WorkingDir", str) or "",
              "User": fields.take("User", str) or ""}
    fields.refuse_leftover()
    return config


async def create(request: web.Request) -> web.Response:
    d = request.app[STATE]
    rec = d.engine.find(request.match_info["id"])
    config = _exec_config(await json_body(request))
    if not rec.running:
        raise ConflictError(f"container {rec.id} is not running")
    pending = [k for k, v in d.execs.items() if not v["Running"] and v["ExitCode"] is None]
    for stale in pending[:max(0, len(pending) - MAX_PENDING + 1)]:
        d.execs.pop(stale, None)
    eid = new_id()
    d.execs[eid] = {"ID": eid, "ContainerID": rec.id, "Config": config, "Running": False, "ExitCode": None,
                    "Pid": 0}
    return jresp({"Id": eid}, status=201)


def _find(d: Any, eid: str) -> dict[str, Any]:
    ex = d.execs.get(eid)
    if ex is None:
        raise NotFoundError(f"No such exec instance: {eid}")
    return ex


def argv_for(d: Any, ex: dict[str, Any]) -> list[str]:
    """The ``nsrun exec`` command line for an exec record."""
    cfg = ex["Config"]
    argv = [sys.executable, "-c", "from nsrun._entry import main; main()"]  # the fast path, as the CLI
    if d.root_arg:
        argv += ["--root", d.root_arg]
    argv.append("exec")
    if cfg["AttachStdin"]:
        argv.append("-i")
    if cfg["Tty"]:
        argv.append("-t")
    for item in cfg["Env"]:
        argv += ["-e", item]
    if cfg["WorkingDir"]:
        argv += ["-w", cfg["WorkingDir"]]
    if cfg["User"]:
        argv += ["-u", cfg["User"]]
    return argv + [ex["ContainerID"], *cfg["Cmd"]]


async def start(request: web.Request) -> web.StreamResponse:
    d = request.app[STATE]
    ex = _find(d, request.match_info["eid"])
    body = await json_body(request, required=False)
    detach = bool(FieldSource(body or {}, "field").take("Detach", bool))
    if ex["Running"] or ex["ExitCode"] is not None:
        raise ConflictError(f"exec {ex['ID']} has already been started")
    cfg = ex["Config"]
    proc = await asyncio.create_subprocess_exec(
        *argv_for(d, ex), stdin=subprocess.PIPE if cfg["AttachStdin"] and not detach else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if detach else subprocess.PIPE,
        stderr=subprocess.DEVNULL if detach else subprocess.PIPE, start_new_session=True)
    ex.update(Running=True, Pid=proc.pid)

    async def finish() -> int:
        code = await proc.wait()
        if ex["Running"]:
            ex.update(Running=False, ExitCode=code if code >= 0 else 128 - code)
            # dockerd forgets finished execs too; clients read ExitCode right after the stream ends
            asyncio.get_running_loop().call_later(EXEC_TTL, d.execs.pop, ex["ID"], None)
        return code
    if detach:
        asyncio.ensure_future(finish())
        return web.Response(status=200)
    conn = await hijack(request)
    tty = cfg["Tty"]

    async def pump(reader: asyncio.StreamReader, stream: int) -> None:
        while data := await reader.read(65536):
            try:
                await conn.write(data if tty else frame(stream, data))
            except ConnectionError:
                return

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            while data := await conn.read():
                proc.stdin.write(data)
                await proc.stdin.drain()
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            proc.stdin.close()
    feeder = asyncio.ensure_future(feed()) if proc.stdin is not None else None
    try:
        await asyncio.gather(pump(proc.stdout, 1), pump(proc.stderr, 2))  # type: ignore[arg-type]
        await finish()
    finally:
        conn.finish()
        if feeder is not None:
            feeder.cancel()
        if proc.returncode is None:   # the client went away mid-stream: the exec goes with it
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            await finish()
    return conn.response


async def inspect(request: web.Request) -> web.Response:
    d = request.app[STATE]
    ex = _find(d, request.match_info["eid"])
    cfg = ex["Config"]
    return jresp({
        "ID": ex["ID"], "Running": ex["Running"], "ExitCode": ex["ExitCode"], "CanRemove": False,
        "ContainerID": ex["ContainerID"], "DetachKeys": "", "Pid": ex["Pid"], "OpenStdin": cfg["AttachStdin"],
        "OpenStdout": True, "OpenStderr": True,
        "ProcessConfig": {"tty": cfg["Tty"], "entrypoint": cfg["Cmd"][0], "arguments": cfg["Cmd"][1:],
                          "privileged": False, "user": cfg["User"]}})


async def resize(request: web.Request) -> web.Response:
    """Resize an exec's pty. The CLI asks right after the stream opens, often before ``nsrun exec`` has made
    its pty: keep trying for a moment in the background."""
    ex = _find(request.app[STATE], request.match_info["eid"])
    try:
        rows, cols = int(request.query.get("h", 0)), int(request.query.get("w", 0))
    except ValueError:
        raise BadRequest("h and w must be integers") from None
    if ex["Config"]["Tty"] and ex["Running"] and rows > 0 and cols > 0:
        asyncio.ensure_future(_resize_soon(ex["Pid"], rows, cols))
    return web.Response(status=200)


async def _resize_soon(pid: int, rows: int, cols: int) -> None:
    for _ in range(40):
        if (target := _pty_holder(pid)) is not None:
            set_winsize(target, rows, cols)
            return
        await asyncio.sleep(0.05)


def _pty_holder(pid: int) -> int | None:
    """A descendant of ``pid`` (the ``nsrun exec`` process) whose stdin is a pty: the exec'd command."""
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            if current != pid and os.readlink(f"/proc/{current}/fd/0").startswith("/dev/pts/"):
                return current
            with open(f"/proc/{current}/task/{current}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return None


ROUTES = [
    ("POST", "/containers/{id}/exec", create), ("POST", "/exec/{eid}/start", start),
    ("GET", "/exec/{eid}/json", inspect), ("POST", "/exec/{eid}/resize", resize),
]
