"""``nsrun -H URL ...``: the CLI's engine, over the daemon's API (stdlib HTTP only: no aiohttp here).

``RemoteEngine`` has the methods ``cli.py`` calls on ``Engine`` (list, find, inspect, logs, exec, stop, kill,
remove, gc, images.*) plus ``run_cli`` for ``run``, and raises the same NsrunError subclasses with the same
messages (the daemon runs the same engine), so output and exit codes match the embedded mode.
TLS for tcp:// hosts: ``NSRUN_TLS_VERIFY=1`` with ``NSRUN_CERT_PATH`` holding ca.pem, cert.pem and key.pem.
"""
from __future__ import annotations

import json
import os
import socket
import urllib.parse
from typing import Any, Iterator

from .._context import ContainerSpec
from .._frames import read_frames
from .._state import RecordView
from ..errors import ConfigError, ConflictError, NsrunError
from .hosts import parse_host
from .transport import Conn as _Conn, error_from_response as _error

__all__ = ["RemoteEngine", "RemoteRecord"]


class RemoteRecord(RecordView):
    """A container record as the daemon reports it; reads like ``_state.Record`` for the CLI."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.id = data["Id"]
        self.spec = ContainerSpec.from_json(data["Spec"])
        self.state = data["State"]
        self.status = data["Status"]
        self.describe = data.get("Describe")


class RemoteEngine:
    """The engine behind ``nsrun -H``."""

    remote = True

    def __init__(self, url: str) -> None:
        self.host = parse_host(url)
        self.images = _RemoteImages(self)
        self.store = self   # cli.image_rm asks engine.store.list()

    # -- HTTP ---------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
                raw: bytes | None = None, stream: bool = False, headers: dict[str, str] | None = None) -> Any:
        conn = _Conn(self.host)
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        headers = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        if resp.status >= 400:
            raise _error(resp.status, resp.read())
        if stream:
            return resp
        payload = resp.read()
        conn.close()
        return json.loads(payload) if payload and resp.getheader("Content-Type", "").startswith(
            "application/json") else resp.status

    def hijack(self, path: str, body: Any = None) -> socket.socket:
        """POST with ``Upgrade: tcp``; returns the raw socket after the 101."""
        conn = _Conn(self.host)
        conn.connect()
        sock = conn.sock
        data = json.dumps(body).encode() if body is not None else b""
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: nsrun\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                raise NsrunError("the daemon closed the connection")
            head += chunk
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            resp_body = b""
            length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")]
            while length and len(resp_body) < length[0] and (chunk := sock.recv(65536)):
                resp_body += chunk
            sock.close()
            raise _error(status, resp_body)
        return sock

    # -- the Engine surface the CLI uses --------------------------------------------------------------------
    def list(self, all: bool = False) -> list[RemoteRecord]:
        return [RemoteRecord(d) for d in self.request("GET", "/nsrun/v1/containers", query={"all": int(all)})]

    def find(self, ref: str) -> RemoteRecord:
        return RemoteRecord(self.request("GET", f"/nsrun/v1/containers/{urllib.parse.quote(ref, safe='')}"))

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.find(ref).describe or {}

    def stop(self, ref: str, timeout: float | None = None) -> None:  # None: the container's StopTimeout
        self.request("POST", f"/containers/{_q(ref)}/stop",
                     query={} if timeout is None else {"t": int(timeout)})

    def kill(self, ref: str, sig: int = 9) -> None:
        self.request("POST", f"/containers/{_q(ref)}/kill", query={"signal": sig})

    def rename(self, ref: str, new: str) -> None:
        self.request("POST", f"/containers/{_q(ref)}/rename", query={"name": new})

    def start(self, ref: str) -> None:
        self.request("POST", f"/containers/{_q(ref)}/start")

    def restart(self, ref: str, timeout: float | None = None) -> None:  # None: the container's StopTimeout
        self.request("POST", f"/containers/{_q(ref)}/restart",
                     query={} if timeout is None else {"t": int(timeout)})

    def wait(self, ref: str) -> int:
        return int(self.request("POST", f"/containers/{_q(ref)}/wait")["StatusCode"])

    def remove(self, ref: str, force: bool = False) -> None:
        self.request("DELETE", f"/containers/{_q(ref)}", query={"force": int(force)})

    def gc(self, only: str | None = None, reset: bool = False) -> list[str]:
        return self.request("POST", "/nsrun/v1/gc", query={"reset": int(reset)})["Lines"]

    def logs(self, ref: str, follow: bool = False, timestamps: bool = False, since: float | None = None,
             until: float | None = None, tail: int | None = None) -> Iterator[tuple[int, bytes]]:
        tty = self.find(ref).spec.tty
        query = {"stdout": 1, "stderr": 1, "follow": int(follow), "timestamps": int(timestamps),
                 "tail": "all" if tail is None else tail}
        for key, value in (("since", since), ("until", until)):
            if value:
                query[key] = f"{value:.9f}"
        resp = self.request("GET", f"/containers/{_q(ref)}/logs", stream=True, query=query)
        yield from _demux(resp, tty)

    def top(self, ref: str, ps_args: str | None = None) -> dict[str, Any]:
        return self.request("GET", f"/containers/{_q(ref)}/top", query={"ps_args": ps_args})

    def stats(self, refs: list[str], stream: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Frames like ``Engine.stats``: first every container's ``stream=0`` answer (two samples, taken by
        the daemon in parallel), then while streaming a ``one-shot`` sample each second, paired here."""
        import concurrent.futures
        import time
        from ..stats.sample import INTERVAL, pair
        ids = [self.find(ref).id for ref in refs]

        def fetch(query: dict[str, Any]) -> list[dict[str, Any]]:
            shown = ids or [rec.id for rec in self.list()]
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(shown) or 1)) as pool:
                got = pool.map(lambda cid: self._stats_or_none(cid, query), shown)
                return [s for s in got if s is not None]
        frame = fetch({"stream": 0})
        yield frame
        while stream:
            previous = {s["id"]: s for s in frame}
            time.sleep(INTERVAL)
            frame = [pair(s, previous.get(s["id"])) for s in fetch({"stream": 0, "one-shot": 1})]
            yield frame

    def _stats_or_none(self, cid: str, query: dict[str, Any]) -> dict[str, Any] | None:
        from ..errors import NotFoundError
        try:
            return self.request("GET", f"/containers/{cid}/stats", query=query)
        except NotFoundError:          # removed meanwhile: it leaves the table
            return None

    def exec(self, ref: str, argv: list[str], *, tty: bool = False, interactive: bool = False,
             env: dict[str, str] | None = None, workdir: str | None = None, user: str | None = None) -> int:
        from .remote_io import relay
        eid = self.request("POST", f"/containers/{_q(ref)}/exec", body={
            "Cmd": argv, "Tty": tty, "AttachStdin": interactive, "AttachStdout": True, "AttachStderr": True,
            "Env": [f"{k}={v}" for k, v in (env or {}).items()], "WorkingDir": workdir or "", "User": user or ""})["Id"]
        sock = self.hijack(f"/exec/{eid}/start", {"Detach": False, "Tty": tty})
        relay(sock, tty=tty, interactive=interactive)
        return int(self.request("GET", f"/exec/{eid}/json").get("ExitCode") or 0)

    def run_cli(self, *, argv: list[str], image: str | None, rootfs: str | None, name: str | None,
                env: dict[str, str], workdir: str | None, user: str | None, tty: bool, interactive: bool,
                detach: bool, remove: bool, plugins: list[str] | None, options: dict[str, Any],
                entrypoint: list[str] | None = None, stop_signal: str | None = None,
                stop_timeout: int | None = None,
                group_add: list[str] | None = None, labels: dict[str, str] | None = None,
                restart: str = "", healthcheck: dict[str, Any] | None = None,
                log_opts: dict[str, str] | None = None) -> int | str:
        """``nsrun run`` through the daemon: the container id when detached, else its exit code."""
        from .remote_io import run_attached
        if rootfs:
            raise ConfigError("--rootfs is not available with -H: the daemon runs images (docker import one)")
        options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()
                   if v not in (None, False, (), [])}
        body = {"Image": image, "Cmd": argv or None, "Entrypoint": entrypoint,
                "StopSignal": stop_signal or "", "StopTimeout": stop_timeout, "Env": [f"{k}={v}" for k, v in env.items()], "WorkingDir": workdir or "",
                "User": user or "", "Tty": tty, "OpenStdin": interactive,
                "StdinOnce": interactive and not detach, "AttachStdin": interactive and not detach,
                "AttachStdout": not detach, "AttachStderr": not detach, "Labels": dict(labels or {}), "Healthcheck": healthcheck,
                "HostConfig": {"AutoRemove": remove, "GroupAdd": list(group_add or ()) or None,
                                               "RestartPolicy": _restart_policy(restart),
                                               "LogConfig": {"Type": "json-file", "Config": dict(log_opts or {})}},
                "Nsrun": {"Plugins": plugins, "Options": options, "Detach": detach}}
        from ..errors import ImageNotFoundError, NotFoundError
        try:
            created = self.request("POST", "/containers/create", body=body, query={"name": name or None})
        except NotFoundError as exc:  # the daemon's 404 `No such image: x`: the embedded run's error, so
            if not exc.message.startswith("No such image"):  # `run --pull` handles both alike
                raise
            raise ImageNotFoundError(f"Unable to find image '{image}' locally") from None
        for warning in created.get("Warnings") or []:
            import click
            click.echo(f"WARNING: {warning}", err=True)
        cid = created["Id"]
        if detach:
            self.request("POST", f"/containers/{cid}/start")
            return cid
        return run_attached(self, cid, tty=tty, interactive=interactive, remove=remove)


class _RemoteImages:
    """``engine.images`` for the CLI's image commands, over the Docker image endpoints. Pull and push send
    the credentials ``docker login``/``nsrun login`` stored here (``X-Registry-Auth``, as the docker CLI
    does) and put the daemon's progress stream on the same ``Display`` the embedded CLI uses."""

    def __init__(self, engine: RemoteEngine) -> None:
        self.engine = engine

    def list(self) -> list[dict[str, Any]]:
        return self.engine.request("GET", "/nsrun/v1/images")

    def inspect(self, name: str) -> dict[str, Any]:
        """Docker's image object (``GET /images/{name}/json``)."""
        return self.engine.request("GET", f"/images/{_q(name)}/json")

    def import_tar(self, tar_path: str, name: str, config: dict[str, Any] | None = None,
                   changes: tuple[str, ...] = ()) -> dict[str, Any]:
        if config and not changes:
            raise ConfigError("image import: give the changes themselves with -H")
        if not os.path.isfile(tar_path):
            raise ConfigError(f"no such file: {tar_path}")
        repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
        with open(tar_path, "rb") as f:
            resp = self.engine.request("POST", "/images/create", raw=f.read(), stream=True,
                                       query={"fromSrc": "-", "repo": repo or name, "tag": tag or None,
                                              "changes": list(changes) or None})
        lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
        return {"id": lines[-1]["status"] if lines else ""}

    def pull(self, ref: str, *, platform: str | None = None, display: Any = None) -> None:
        from ..image.reference import parse
        parsed = parse(ref, default_tag="")
        tag = parsed.digest or parsed.tag or "latest"
        resp = self.engine.request("POST", "/images/create", stream=True, headers=_auth_header(parsed),
                                   query={"fromImage": parsed.repository, "tag": tag, "platform": platform})
        _follow(resp, display)

    def push(self, ref: str, *, display: Any = None) -> str:
        """The digest pushed (of the last tag, when the daemon pushes several)."""
        from ..image.reference import parse
        parsed = parse(ref, default_tag="")
        resp = self.engine.request("POST", f"/images/{_q(parsed.familiar_name)}/push", stream=True,
                                   headers=_auth_header(parsed), query={"tag": parsed.tag or "latest"})
        aux = _follow(resp, display)
        return aux[-1].get("Digest", "") if aux else ""

    def build(self, context: str, dockerfile: str, *, tags: tuple[str, ...], build_args: dict[str, str],
              target: str | None, no_cache: bool, pull: bool, labels: dict[str, str], quiet: bool,
              emit: Any) -> str:
        """``POST /build`` of the directory ``context`` (sent as a tar without what ``.dockerignore``
        excludes, as the docker CLI sends it) with the Dockerfile text ``dockerfile``; the progress text goes
        to ``emit``; the image id."""
        import tempfile
        from ..build.context import context_tar
        with tempfile.TemporaryFile() as spool:
            name = context_tar(context, dockerfile, spool)
            spool.seek(0)
            resp = self.engine.request(
                "POST", "/build", raw=spool.read(), stream=True, headers={"Content-Type": "application/x-tar"},
                query={"t": list(tags) or None, "dockerfile": name, "buildargs": json.dumps(build_args),
                       "labels": json.dumps(labels), "target": target, "nocache": int(no_cache) or None,
                       "pull": int(pull) or None, "q": int(quiet) or None})
        image_id = ""
        try:
            while line := resp.readline():
                if not line.strip():
                    continue
                msg = json.loads(line)
                if msg.get("error") or msg.get("errorDetail"):
                    raise NsrunError((msg.get("errorDetail") or {}).get("message") or str(msg.get("error")))
                if isinstance(msg.get("aux"), dict):
                    image_id = msg["aux"].get("ID", image_id)
                elif isinstance(msg.get("stream"), str):
                    if quiet and msg["stream"].strip().startswith("sha256:"):
                        image_id = msg["stream"].strip()
                    else:
                        emit(msg["stream"])
        finally:
            resp.close()
        return image_id

    def tag(self, source: str, target: str) -> None:
        from ..image.reference import parse
        parsed = parse(target, default_tag="")
        self.engine.request("POST", f"/images/{_q(source)}/tag",
                            query={"repo": parsed.familiar_name, "tag": parsed.tag})

    def remove(self, name: str, users: list[str], force: bool = False) -> list[dict[str, str]]:
        return self.engine.request("DELETE", f"/images/{_q(name)}", query={"force": int(force)})

    def prune(self, keep: Any = (), all_: bool = False) -> list[dict[str, str]]:
        filters = json.dumps({"dangling": ["false" if all_ else "true"]})
        return self.engine.request("POST", "/images/prune", query={"filters": filters}).get("ImagesDeleted") or []


def _auth_header(ref: Any) -> dict[str, str]:
    from ..image.auth import encode_registry_auth, load_credentials
    creds = load_credentials(ref.domain)
    return {"X-Registry-Auth": encode_registry_auth(creds, ref.domain)}


def _follow(resp: Any, display: Any) -> list[dict[str, Any]]:
    """Read a pull/push stream to its end, showing it on ``display`` (or not, when None); the ``aux``
    objects it carried. An ``error`` message raises NsrunError with its text."""
    from ..image.view import show
    aux = []
    try:
        while line := resp.readline():
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                raise NsrunError(f"the daemon sent a malformed progress message: {line[:80]!r}") from None
            if msg.get("error") or msg.get("errorDetail"):
                raise NsrunError((msg.get("errorDetail") or {}).get("message") or str(msg.get("error")))
            if isinstance(msg.get("aux"), dict):
                aux.append(msg["aux"])
            elif display is not None:
                show(display, msg)
    finally:
        resp.close()
    return aux


def _restart_policy(text: str) -> dict[str, Any]:
    from .._parse import parse_restart
    name, count = parse_restart(text)
    return {"Name": name or "no", "MaximumRetryCount": count}


def _q(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def _demux(resp: Any, tty: bool) -> Iterator[tuple[int, bytes]]:
    """(stream, data) from a logs/attach body: raw with a tty, else 8-byte framed."""
    if tty:
        while data := resp.read1(65536):
            yield 1, data
        return
    yield from read_frames(resp.read)
