"""Docker Engine API JSON <-> nsrun's own data. Pure functions: no I/O, no engine.

``create_args`` turns a ``POST /containers/create`` body into ``Engine.prepare`` keyword arguments;
``container_json`` / ``ps_item`` turn a container record into what ``GET /containers/{id}/json`` and
``GET /containers/json`` return. Wrong types raise ``BadRequest`` (HTTP 400); unknown fields are ignored,
as dockerd ignores them — except the security fields nsrun does not implement yet (``REFUSED``): a request
that asks for more privilege or a device is refused by name, never run without it.
"""
from __future__ import annotations

import datetime
from typing import Any

from ..errors import ConfigError

__all__ = ["BadRequest", "parse_bool", "create_args", "container_json", "ps_item", "rfc3339", "port_strings",
           "parse_publish", "docker_state"]

ZERO_TIME = "0001-01-01T00:00:00Z"
# HostConfig fields that change what a container may do; set to anything but their zero value, they are
# refused (HTTP 400) until a plugin implements them, so a client never believes it got what it asked for.
REFUSED = ("Privileged", "CapAdd", "CapDrop", "Devices", "DeviceCgroupRules")
CGROUPNS_MODES = ("private", "host")


class BadRequest(ConfigError):
    """The request itself is malformed (HTTP 400)."""


def parse_bool(value: str | None, name: str = "value", default: bool = False) -> bool:
    """Query booleans as both clients send them: ``1``/``0``, ``true``/``false``, ``True``/``False``."""
    if value is None or value == "":
        return default
    low = value.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise BadRequest(f"invalid boolean value for {name}: {value!r}")


def rfc3339(ts: float | None) -> str:
    if not ts:
        return ZERO_TIME
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _typed(body: dict[str, Any], key: str, types: tuple[type, ...], where: str = "") -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = "/".join(t.__name__.replace("str", "string").replace("dict", "object").replace("list", "array")
                         for t in types)
        raise BadRequest(f"json: cannot unmarshal {type(value).__name__} into field {where}{key} of type {names}")
    return value


def _strings(body: dict[str, Any], key: str, where: str = "") -> list[str] | None:
    value = _typed(body, key, (list, str), where)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not all(isinstance(v, str) for v in value):
        raise BadRequest(f"json: cannot unmarshal non-string into field {where}{key} of type []string")
    return list(value)


def port_strings(bindings: dict[str, Any]) -> list[str]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}`` -> ``["18080:80/tcp"]`` (the ``-p`` syntax)."""
    out = []
    for key, targets in bindings.items():
        if not isinstance(key, str) or not isinstance(targets, (list, type(None))):
            raise BadRequest("HostConfig.PortBindings: expected {\"PORT/PROTO\": [{HostIp, HostPort}]}")
        port, _, proto = key.partition("/")
        if not port.isdigit():
            raise BadRequest(f"invalid container port {key!r}")
        for target in targets or [{}]:
            if not isinstance(target, dict):
                raise BadRequest("HostConfig.PortBindings: each binding must be an object")
            ip, hport = str(target.get("HostIp") or ""), str(target.get("HostPort") or "")
            text = f"{ip}:{hport}:{port}" if ip else (f"{hport}:{port}" if hport else port)
            out.append(f"{text}/{proto or 'tcp'}")
    return out


def create_args(body: Any, name: str | None, net_installed: bool) -> dict[str, Any]:
    """A create body -> ``Engine.prepare`` kwargs (``argv, image, name, env, workdir, user, tty, interactive,
    remove, options``, and ``plugins`` when the network needs the net plugin)."""
    from .._engine import parse_env
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    image = _typed(body, "Image", (str,))
    if not image:
        raise BadRequest("Config.Image: an image is required")
    host = _typed(body, "HostConfig", (dict,)) or {}
    entry = _strings(body, "Entrypoint") or []
    cmd = _strings(body, "Cmd") or []
    argv = entry + cmd or ["sh"]
    options: dict[str, Any] = {}
    if hostname := _typed(body, "Hostname", (str,)):
        options["hostname"] = hostname
    if _typed(host, "Init", (bool,), "HostConfig."):
        options["init"] = True
    if binds := _strings(host, "Binds", "HostConfig."):
        options["volumes"] = binds
    publish = port_strings(_typed(host, "PortBindings", (dict,), "HostConfig.") or {})
    mode = _typed(host, "NetworkMode", (str,), "HostConfig.") or "default"
    if _typed(body, "NetworkDisabled", (bool,)):
        mode = "none"
    plugins = None
    if net_installed:
        options["network"] = "bridge" if mode == "default" else mode
        if publish:
            options["publish"] = publish
    elif publish:
        raise BadRequest("publishing ports (-p) needs the net plugin, which is not installed")
    elif mode not in ("default", "bridge", "none", "host"):
        raise BadRequest(f"network {mode!r} needs the net plugin, which is not installed")
    for field in REFUSED:
        if host.get(field):
            raise BadRequest(f"HostConfig.{field} is not supported by nsrun (requested {host[field]!r}); "
                             f"remove it to run the container without it")
    if cgroupns := _typed(host, "CgroupnsMode", (str,), "HostConfig."):
        if cgroupns not in CGROUPNS_MODES:
            raise BadRequest(f"invalid HostConfig.CgroupnsMode {cgroupns!r}: use private or host")
        options["cgroupns"] = cgroupns
    env = parse_env(_strings(body, "Env") or [], fill_from=None)   # never the daemon's own environment
    args = {"argv": argv, "image": image, "name": name or None, "env": env,
            "workdir": _typed(body, "WorkingDir", (str,)) or None, "user": _typed(body, "User", (str,)) or None,
            "tty": bool(_typed(body, "Tty", (bool,))), "interactive": bool(_typed(body, "OpenStdin", (bool,))),
            "detach": True, "remove": bool(_typed(host, "AutoRemove", (bool,), "HostConfig.")),
            "options": options}
    ext = _typed(body, "Nsrun", (dict,))
    if ext is not None:          # nsrun's own client: exact plugin selection and raw plugin options
        if (chosen := _strings(ext, "Plugins", "Nsrun.")) is not None:
            plugins = chosen
        args["options"] = _typed(ext, "Options", (dict,), "Nsrun.") or {}
        args["detach"] = bool(_typed(ext, "Detach", (bool,), "Nsrun."))
    if plugins is not None:
        args["plugins"] = plugins
    return args


def docker_state(status: str) -> str:
    return {"dead": "dead", "running": "running", "exited": "exited"}.get(status, "created")


def _status_text(status: str, state: dict[str, Any], now: float) -> str:
    def ago(ts: float | None) -> str:
        secs = max(0, int(now - (ts or now)))
        for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
            if secs >= size:
                return f"{secs // size} {unit}"
        return "Less than a second" if secs < 1 else f"{secs} seconds"
    if status == "running":
        return f"Up {ago(state.get('started'))}"
    if status == "exited":
        return f"Exited ({state.get('exit_code') or 0}) {ago(state.get('finished'))} ago"
    return status.capitalize()


def parse_publish(text: str) -> dict[str, Any] | None:
    """``[IP:][HOSTPORT:]PORT[/PROTO]`` -> ``{IP, PrivatePort, PublicPort, Type}`` (PublicPort 0 if unknown)."""
    spec, _, proto = str(text).partition("/")
    parts = spec.rsplit(":", 2)
    try:
        private = int(parts[-1])
        public = int(parts[-2]) if len(parts) >= 2 and parts[-2] else 0
    except ValueError:
        return None
    ip = parts[0].strip("[]") if len(parts) == 3 and parts[0] else "0.0.0.0"
    return {"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": proto or "tcp"}


def _ports(rec: Any) -> list[dict[str, Any]]:
    """Published ports: what the net plugin reported (``info["NetworkSettings"]["Ports"]``), else what was
    asked for (``-p``)."""
    reported = _settings(rec).get("Ports")
    if isinstance(reported, dict) and reported:   # Docker's {"80/tcp": [{"HostIp", "HostPort"}]}
        out = []
        for key, binds in reported.items():
            port, _, proto = str(key).partition("/")
            for b in binds or []:
                if isinstance(b, dict) and port.isdigit():
                    out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                                "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
        return out
    return [p for p in map(parse_publish, rec.spec.options.get("publish") or []) if p]


def _port_map(rec: Any) -> dict[str, Any]:
    ports: dict[str, Any] = {}
    for p in _ports(rec):
        ports.setdefault(f"{p['PrivatePort']}/{p['Type']}", []).append(
            {"HostIp": p.get("IP", ""), "HostPort": str(p.get("PublicPort") or "")})
    return ports


def ps_item(rec: Any, now: float) -> dict[str, Any]:
    """One ``GET /containers/json`` entry. ``rec`` is a ``Record`` (``id, name, spec, state, status``)."""
    status = rec.status
    mode = rec.spec.options.get("network") or ("default" if "net" in rec.spec.plugins else "host")
    return {"Id": rec.id, "Names": [f"/{rec.name}"], "Image": rec.spec.image or rec.spec.rootfs or "",
            "ImageID": "", "Command": " ".join(rec.spec.argv), "Created": int(rec.state.get("created") or 0),
            "Ports": _ports(rec), "Labels": {}, "State": docker_state(status),
            "Status": _status_text(status, rec.state, now), "HostConfig": {"NetworkMode": mode},
            "NetworkSettings": {"Networks": _settings(rec).get("Networks") or {}}, "Mounts": []}


def _settings(rec: Any) -> dict[str, Any]:
    settings = (rec.state.get("info") or {}).get("NetworkSettings")
    return settings if isinstance(settings, dict) else {}


def container_json(rec: Any) -> dict[str, Any]:
    """``GET /containers/{id}/json``: the fields both clients read, Docker-shaped."""
    st, spec, status = rec.state, rec.spec, rec.status
    info = st.get("info") or {}
    code = st.get("exit_code")
    return {
        "Id": rec.id, "Created": rfc3339(st.get("created")), "Path": spec.argv[0], "Args": spec.argv[1:],
        "State": {"Status": docker_state(status), "Running": status == "running", "Paused": False,
                  "Restarting": False, "OOMKilled": False, "Dead": status == "dead",
                  "Pid": (st.get("pid") or 0) if status == "running" else 0,
                  "ExitCode": code if isinstance(code, int) else 0, "Error": st.get("error") or "",
                  "StartedAt": rfc3339(st.get("started")), "FinishedAt": rfc3339(st.get("finished"))},
        "Image": spec.image or "", "Name": f"/{rec.name}", "RestartCount": 0, "Driver": "overlay2",
        "Platform": "linux", "LogPath": "", "HostnamePath": "", "HostsPath": "", "ResolvConfPath": "",
        "HostConfig": {"AutoRemove": spec.remove, "NetworkMode": spec.options.get("network") or "default",
                       "Binds": list(spec.options.get("volumes") or []), "Init": bool(spec.options.get("init")),
                       "PortBindings": _port_map(rec), "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                       "LogConfig": {"Type": "json-file", "Config": {}}},
        "Config": {"Hostname": info.get("Hostname") or spec.options.get("hostname") or rec.id[:12],
                   "Domainname": "", "User": "" if tuple(spec.user) == (0, 0) else ":".join(map(str, spec.user)),
                   "AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "Tty": spec.tty,
                   "OpenStdin": spec.interactive, "StdinOnce": spec.interactive,
                   "Env": [f"{k}={v}" for k, v in spec.env.items()], "Cmd": spec.argv, "Image": spec.image or "",
                   "WorkingDir": "" if spec.workdir == "/" else spec.workdir, "Entrypoint": None, "Labels": {}},
        "NetworkSettings": {"Ports": _port_map(rec), "IPAddress": "", "Gateway": "", "Networks": {},
                            **(info.get("NetworkSettings") if isinstance(info.get("NetworkSettings"), dict)
                               else {})},
        "Mounts": [], "GraphDriver": {"Name": "overlay2", "Data": {}},
        "Nsrun": {"Plugins": spec.plugins, "Options": spec.options, "Info": info},
    }
