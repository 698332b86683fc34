"""Docker Engine API JSON <-> nsrun's own data. Pure functions: no I/O, no engine.

``create_args`` turns a ``POST /containers/create`` body into ``Engine.prepare`` keyword arguments;
``container_json`` / ``ps_item`` turn a container record into what ``GET /containers/{id}/json`` and
``GET /containers/json`` return. The core maps only its own fields; each plugin maps its own through the
``docker_create`` and ``docker_view`` hooks, so no field of a plugin is named here. Wrong types raise
``BadRequest``/``FieldError`` (HTTP 400); a field that is set and that nobody maps is refused by name.
"""
from __future__ import annotations

import datetime
from typing import Any

from .._fieldsource import FieldSource
from .._state import plugin_state
from .._imageconfig import container_config
from ..errors import ConfigError

__all__ = ["BadRequest", "parse_bool", "create_args", "container_json", "ps_item", "rfc3339", "docker_state",
           "DOCKER_DEFAULTS"]

ZERO_TIME = "0001-01-01T00:00:00Z"


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


# What the docker CLI sends for options the user did not give, beyond zero values (see FieldSource).
DOCKER_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "HostConfig.MemorySwappiness": (-1,), "HostConfig.NetworkMode": ("default",),
    "HostConfig.RestartPolicy.Name": ("no",), "HostConfig.LogConfig.Type": ("json-file",),
}
DOCKER_KEYED = ("ExposedPorts", "Volumes", "HostConfig.PortBindings", "Labels")


def create_args(body: Any, name: str | None, docker_create: Any) -> dict[str, Any]:
    """A create body -> ``Engine.prepare`` kwargs (``argv`` (the ``Cmd``), ``entrypoint, image, name, env,
    workdir, user, stop_signal, tty, interactive, detach, remove, options`` and ``plugins`` when nsrun's
    own client chose them).

    The core takes its own fields; each of the daemon's plugins takes its own through ``docker_create`` (the
    hook, called for those plugins); a field that is set and nobody took is refused (FieldError naming it),
    so nothing is accepted and ignored."""
    from .._parse import parse_env
    fields = FieldSource(body, "field", defaults=DOCKER_DEFAULTS, keyed=DOCKER_KEYED)
    image = fields.take("Image", str)
    if not image:
        raise BadRequest("Config.Image: an image is required")
    # The image's config is merged by Engine.prepare (``_imageconfig.apply``): here only what was sent.
    # ``Entrypoint: [""]`` is the docker CLI's ``--entrypoint ""`` (clear the image's), not an unset field.
    cleared = isinstance(body, dict) and body.get("Entrypoint") in ([""], "")
    entrypoint = fields.take_strings("Entrypoint")
    argv = fields.take_strings("Cmd") or []
    # How the client attaches (shown by inspect), and StdinOnce: whether the end of an attached client's
    # stdin closes the container's (``Engine.prepare``).
    attach = tuple(bool(fields.take(key, bool)) for key in ("AttachStdin", "AttachStdout", "AttachStderr"))
    stdin_once = bool(fields.take("StdinOnce", bool))
    fields.take("HostConfig.ConsoleSize", list)       # the first resize; the client sends /resize too
    fields.take("HostConfig.ContainerIDFile", str)    # written by the client
    env = parse_env(fields.take_strings("Env") or [], fill_from=None)  # the daemon never lends its environment
    args: dict[str, Any] = {
        "argv": argv, "image": image, "name": name or None, "env": env,
        "workdir": fields.take("WorkingDir", str), "user": fields.take("User", str),
        "tty": bool(fields.take("Tty", bool)), "interactive": bool(fields.take("OpenStdin", bool)),
        "detach": True, "remove": bool(fields.take("HostConfig.AutoRemove", bool)), "options": {},
        "entrypoint": [""] if cleared else entrypoint, "stop_signal": fields.take("StopSignal", str),
        "group_add": fields.take_strings("HostConfig.GroupAdd") or [], "restart": _restart(fields),
        "log_opts": _log_config(fields), "stdin_once": stdin_once, "attach": attach}
    if (stop_timeout := _stop_timeout(fields)) is not None:
        args["stop_timeout"] = stop_timeout
    if (health := fields.take("Healthcheck", dict)) is not None:
        from .._health import merge
        args["healthcheck"] = merge(None, health)
    for result in docker_create(fields=fields):
        args["options"].update(result)
    # Labels are the container's metadata (the core's), whether or not a plugin also read one of them
    # (the example's ``motd``): every one is kept and shown, as dockerd does.
    labels = fields.take("Labels", dict) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise BadRequest("Labels: expected an object of strings")
    args["labels"] = dict(labels)
    ext = fields.take("Nsrun", dict)
    if ext is not None:          # nsrun's own client: exact plugin selection and raw plugin options
        ext_fields = FieldSource(ext, prefix="Nsrun.")
        if (chosen := ext_fields.take_strings("Plugins")) is not None:
            args["plugins"] = chosen
        args["options"] = ext_fields.take("Options", dict) or {}
        args["detach"] = bool(ext_fields.take("Detach", bool))
    fields.refuse_leftover()
    return args


def _stop_timeout(fields: FieldSource) -> int | None:
    """``StopTimeout`` (a pointer in Docker's API: 0 is a value, stop at once; absent or null: the default)."""
    fields.take("StopTimeout", int)  # its type checked, marked as handled; 0 reads as unset there
    raw = fields.data.get("StopTimeout")
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _restart(fields: FieldSource) -> str:
    """``HostConfig.RestartPolicy`` -> ``--restart``'s text (checked by ``Engine.prepare``)."""
    name = fields.take("HostConfig.RestartPolicy.Name", str) or ""
    count = fields.take("HostConfig.RestartPolicy.MaximumRetryCount", int)
    if count is not None and count < 0:
        raise BadRequest("HostConfig.RestartPolicy.MaximumRetryCount: invalid restart policy: maximum retry count "
                         "cannot be negative")
    if count and name != "on-failure":
        raise BadRequest(f"HostConfig.RestartPolicy: invalid restart policy: maximum retry count can only be used "
                         f"with 'on-failure' (not {name or 'no'!r})")
    return f"{name}:{count}" if count else name


def _log_config(fields: FieldSource) -> dict[str, str]:
    """``HostConfig.LogConfig``: the json-file driver (or none named) and its ``Config`` (``_logfile``)."""
    from .._logfile import parse_log_opts
    kind = fields.take("HostConfig.LogConfig.Type", str) or "json-file"
    if kind != "json-file":
        raise BadRequest(f"HostConfig.LogConfig.Type: log driver {kind!r} is not supported by nsrun (json-file only)")
    config = fields.take("HostConfig.LogConfig.Config", dict) or {}
    try:
        return parse_log_opts(config)
    except ConfigError as exc:
        raise BadRequest(f"HostConfig.LogConfig.Config: {exc.message}") from None


def docker_state(status: str) -> str:
    return {"dead": "dead", "running": "running", "exited": "exited", "paused": "paused",
            "restarting": "restarting"}.get(status, "created")


def _status_text(status: str, state: dict[str, Any], now: float) -> str:
    def ago(ts: float | None) -> str:
        secs = max(0, int(now - (ts or now)))
        for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
            if secs >= size:
                return f"{secs // size} {unit}"
        return "Less than a second" if secs < 1 else f"{secs} seconds"
    if status == "running":
        health = (state.get("health") or {}).get("Status")
        shown = {"starting": " (health: starting)", "healthy": " (healthy)", "unhealthy": " (unhealthy)"}
        return f"Up {ago(state.get('started'))}{shown.get(health, '')}"
    if status == "paused":
        return f"Up {ago(state.get('started'))} (Paused)"
    if status == "exited":
        return f"Exited ({state.get('exit_code') or 0}) {ago(state.get('finished'))} ago"
    if status == "restarting":
        return f"Restarting ({state.get('exit_code') or 0}) {ago(state.get('finished'))} ago"
    return status.capitalize()


def container_json(rec: Any, view_hook: Any) -> dict[str, Any]:
    """``GET /containers/{id}/json``: the fields both clients read, Docker-shaped. The core fills its own;
    the container's plugins fill theirs through ``docker_view`` (``view_hook`` is that hook, called for the
    record's own plugins)."""
    st, spec, status = rec.state, rec.spec, rec.status
    info = st.get("info") or {}
    code = st.get("exit_code")
    flags = plugin_state(info, status)
    view = {
        "Id": rec.id, "Created": rfc3339(st.get("created")), "Path": spec.argv[0], "Args": spec.argv[1:],
        "State": {"Status": docker_state(flags["Status"]), "Running": status == "running",
                  "Paused": flags["Paused"], "Restarting": status == "restarting", "OOMKilled": flags["OOMKilled"],
                  "Dead": status == "dead",
                  "Pid": (st.get("pid") or 0) if status == "running" else 0,
                  "ExitCode": code if isinstance(code, int) else 0, "Error": st.get("error") or "",
                  "StartedAt": rfc3339(st.get("started")), "FinishedAt": rfc3339(st.get("finished"))},
        "Image": spec.image or "", "Name": f"/{rec.name}", "RestartCount": int(st.get("restart_count") or 0),
        "Driver": "overlay2",
        "Platform": "linux", "LogPath": "", "HostnamePath": "", "HostsPath": "", "ResolvConfPath": "",
        "HostConfig": {"AutoRemove": spec.remove, "NetworkMode": "host",
                       "GroupAdd": [str(g) for g in getattr(spec, "groups", ())] or None,
                       "RestartPolicy": {"Name": (spec.restart or "no").partition(":")[0],
                                         "MaximumRetryCount": int(spec.restart.partition(":")[2] or 0)},
                       "LogConfig": {"Type": "json-file", "Config": dict(getattr(spec, "log_opts", None) or {})}},
        "Config": {"Hostname": rec.id[:12], "Domainname": "",
                   "User": "" if tuple(spec.user) == (0, 0) else ":".join(map(str, spec.user)),
                   "AttachStdin": bool(spec.config.get("AttachStdin", False)),
                   "AttachStdout": bool(spec.config.get("AttachStdout", not spec.detach)),
                   "AttachStderr": bool(spec.config.get("AttachStderr", not spec.detach)), "Tty": spec.tty,
                   "OpenStdin": spec.interactive, "StdinOnce": bool(spec.config.get("StdinOnce", False)),
                   "Env": [f"{k}={v}" for k, v in spec.env.items()], "Image": spec.image or "",
                   "WorkingDir": "" if spec.workdir == "/" else spec.workdir, **container_config(spec)},
        "NetworkSettings": {"Ports": {}, "IPAddress": "", "Gateway": "", "Networks": {}},
        "Mounts": [], "GraphDriver": {"Name": "overlay2", "Data": {}},
        "Nsrun": {"Plugins": spec.plugins, "Options": spec.options, "Info": info},
    }
    if (spec.config.get("Healthcheck") or {}).get("Test", ["NONE"])[0] != "NONE":
        health = st.get("health") or {"Status": "starting" if status == "running" else "unhealthy",
                                      "FailingStreak": 0, "Log": []}
        view["State"]["Health"] = health
    view_hook(options=spec.options, info=info, view=view)
    return view


def ps_item(rec: Any, now: float, view_hook: Any, view: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``GET /containers/json`` entry, derived from the inspect view (so the plugins fill it too;
    ``view``: that view when the caller made it already)."""
    view = view if view is not None else container_json(rec, view_hook)
    ports = [{"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(key.partition("/")[0]),
              "PublicPort": int(b.get("HostPort") or 0), "Type": key.partition("/")[2] or "tcp"}
             for key, binds in (view["NetworkSettings"].get("Ports") or {}).items()
             if key.partition("/")[0].isdigit() for b in binds or () if isinstance(b, dict)]
    return {"Id": rec.id, "Names": [f"/{rec.name}"], "Image": rec.spec.image or rec.spec.rootfs or "",
            "ImageID": "", "Command": " ".join(rec.spec.argv), "Created": int(rec.state.get("created") or 0),
            "Ports": ports, "Labels": view["Config"].get("Labels") or {}, "State": view["State"]["Status"],
            "Status": _status_text(view["State"]["Status"], rec.state, now),
            "HostConfig": {"NetworkMode": view["HostConfig"]["NetworkMode"]},
            "NetworkSettings": {"Networks": view["NetworkSettings"].get("Networks") or {}},
            "Mounts": view["Mounts"]}
