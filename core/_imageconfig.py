"""An image's OCI config (``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``, ``User``, ``ExposedPorts``,
``StopSignal``, ``Labels``) and how it meets what the user asked for, with Docker's rules (dockerd's
``merge`` + ``mergeAndVerifyConfig``). Pure functions: no I/O.

``image_config(meta)`` is the one reader of an image record's config (an image store fills ``meta["config"]``).
``apply(...)`` merges it with a run's own values; every front end (CLI, ``-H``, the Docker API) reaches it
through ``Engine.prepare``, so there is one merge. ``parse_changes`` reads ``docker import --change``
instructions into a config.
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # no typing (nor json: it imports re) at run time: ps and inspect describe records with this
if TYPE_CHECKING:
    from typing import Any

from ._fields import Fields
from ._jsonlite import dumps, loads
from .errors import ConfigError

__all__ = ["image_config", "apply", "Applied", "container_config", "BUSYBOX_CONFIG", "parse_changes",
           "CHANGE_KEYS"]

# busybox runs ``sh`` when no command is given (Docker Hub's busybox image says so in its config).
BUSYBOX_CONFIG: dict[str, Any] = {"Cmd": ["sh"]}

_KINDS: dict[str, type | tuple[type, ...]] = {
    "Entrypoint": list, "Cmd": list, "Env": list, "WorkingDir": str, "User": str, "ExposedPorts": dict,
    "StopSignal": str, "Labels": dict, "Volumes": dict, "Healthcheck": dict}


def image_config(meta: dict[str, Any]) -> dict[str, Any]:
    """The OCI image config of an image record (``{}`` when it has none). Values of the wrong type are
    dropped, as an absent key: a hand-edited record cannot crash a run. A ``busybox`` record written before
    images had configs gets busybox's (``Cmd ["sh"]``), so old roots keep their default command."""
    config = meta.get("config")
    if isinstance(config, dict) and "rootfs" in config:  # the store keeps the whole OCI image config
        config = config.get("config") or {}
    if config is None and meta.get("name") == "busybox":
        config = BUSYBOX_CONFIG
    if not isinstance(config, dict):
        return {}
    return {k: v for k, v in config.items() if k in _KINDS and isinstance(v, _KINDS[k])}


class Applied(Fields):
    """A run's merged values: ``argv`` (entrypoint + command), ``env``, ``workdir``/``user`` (None: the
    default) and ``config``, what the container record keeps for inspect and stop: ``Entrypoint``, ``Cmd``
    (None when empty, as Docker shows them), ``Labels``, ``ExposedPorts``, ``StopSignal`` (when set)."""

    __slots__ = ("argv", "env", "workdir", "user", "config")
    argv: list[str]
    env: dict[str, str]
    workdir: str | None
    user: str | None
    config: dict[str, Any]


def apply(image: dict[str, Any], *, cmd: list[str] | None, entrypoint: list[str] | None = None,
          env: dict[str, str] | None = None, workdir: str | None = None, user: str | None = None,
          stop_signal: str | None = None, labels: dict[str, str] | None = None,
          healthcheck: dict[str, Any] | None = None) -> Applied:
    """Merge the image's config (``image_config``) with the user's values, as dockerd does:

    - ``entrypoint`` None keeps the image's; ``[""]`` clears it; any other value replaces it. The image's
      ``Cmd`` is used only when the user gave neither a command nor an entrypoint (``--entrypoint`` drops the
      image's default command, as Docker documents). Nothing to run: ConfigError "No command specified".
    - ``Env``: the image's, under the user's (the user wins per key; PATH's default is the runtime's).
    - ``WorkingDir``/``User``/``StopSignal``: the user's when given, else the image's.
    - ``Labels``: the image's, under the user's (``--label``, a create body's ``Labels``: the user wins per
      key), as dockerd merges them. ``ExposedPorts``: the image's (``--expose`` adds to them).
    """
    cmd = list(cmd or [])
    if entrypoint is None:
        if not cmd:
            cmd = list(image.get("Cmd") or [])
        entry = list(image.get("Entrypoint") or [])
    else:
        entry = [] if entrypoint == [""] else list(entrypoint)
    argv = entry + cmd
    if not argv:
        raise ConfigError("No command specified")
    merged_env: dict[str, str] = {}
    for item in image.get("Env") or ():
        if isinstance(item, str) and "=" in item and item.partition("=")[0]:
            key, _, value = item.partition("=")
            merged_env[key] = value
    merged_env.update(env or {})
    if not workdir and image.get("WorkingDir"):
        workdir = os.path.normpath(os.path.join("/", image["WorkingDir"]))
    record: dict[str, Any] = {
        "Entrypoint": entry or None, "Cmd": cmd or None,
        "Labels": {**{str(k): str(v) for k, v in (image.get("Labels") or {}).items()}, **(labels or {})},
        "ExposedPorts": {str(k): {} for k in image.get("ExposedPorts") or {}}}
    if healthcheck or image.get("Healthcheck"):   # the user's fields over the image's (``_health.merge``)
        from ._health import merge
        if merged := merge(image.get("Healthcheck"), healthcheck):
            record["Healthcheck"] = merged
    if image.get("Volumes"):   # mount points the image declares: the plugin owning mounts makes volumes there
        record["Volumes"] = {str(k): {} for k in image["Volumes"]}
    if stop_signal or image.get("StopSignal"):
        record["StopSignal"] = stop_signal or image["StopSignal"]
    return Applied(argv, merged_env, workdir or None, user or image.get("User") or None, record)


def container_config(spec: Any) -> dict[str, Any]:
    """What inspect shows of a container's share of the image config (``Config.Entrypoint``, ``Cmd``,
    ``Labels``, ``ExposedPorts``, ``StopSignal`` when set), from a ContainerSpec; a record made before images
    had configs shows its whole argv as ``Cmd``."""
    config = spec.config
    if not config:
        return {"Entrypoint": None, "Cmd": list(spec.argv), "Labels": {}}
    out = {"Entrypoint": config.get("Entrypoint"), "Cmd": config.get("Cmd"), "Labels": config.get("Labels") or {}}
    if config.get("ExposedPorts"):
        out["ExposedPorts"] = config["ExposedPorts"]
    if config.get("StopSignal"):
        out["StopSignal"] = config["StopSignal"]
    if config.get("StopTimeout") is not None:
        out["StopTimeout"] = config["StopTimeout"]
    if config.get("Volumes"):
        out["Volumes"] = config["Volumes"]
    if config.get("Healthcheck"):
        out["Healthcheck"] = config["Healthcheck"]
    return out


# -- docker import --change ------------------------------------------------------------------------------------
CHANGE_KEYS = ("CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "EXPOSE", "LABEL", "STOPSIGNAL", "VOLUME")


def parse_changes(changes: list[str] | tuple[str, ...], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Dockerfile instructions (``docker import --change``) applied in order to ``base`` (a config): ``CMD`` and
    ``ENTRYPOINT`` in exec form (a JSON array) or shell form (``/bin/sh -c TEXT``), ``ENV K=V ...`` or
    ``ENV K V``, ``WORKDIR``, ``USER``, ``EXPOSE PORT[/PROTO] ...``, ``LABEL K=V ...``, ``STOPSIGNAL``,
    ``VOLUME /PATH ...`` (or a JSON array).
    Any other instruction, or a malformed one, is a ConfigError naming it."""
    import shlex
    config = loads(dumps(base or {}))  # a deep copy of plain JSON
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        key, rest = word.upper(), rest.strip()
        if key not in CHANGE_KEYS:
            raise ConfigError(f"invalid --change {change!r}: {word or 'an instruction'} is not supported "
                              f"(supported: {', '.join(CHANGE_KEYS)})")
        if not rest:
            raise ConfigError(f"invalid --change {change!r}: {key} needs an argument")
        if key in ("CMD", "ENTRYPOINT"):
            config["Cmd" if key == "CMD" else "Entrypoint"] = _command(rest, change)
            if key == "ENTRYPOINT":
                config.pop("Cmd", None)  # Docker: a new ENTRYPOINT resets the inherited CMD
        elif key in ("WORKDIR", "USER", "STOPSIGNAL"):
            if key == "STOPSIGNAL":
                from ._parse import parse_signal
                parse_signal(rest)
            if key == "WORKDIR":
                rest = os.path.normpath(os.path.join(config.get("WorkingDir") or "/", rest))
            config[{"WORKDIR": "WorkingDir", "USER": "User", "STOPSIGNAL": "StopSignal"}[key]] = rest
        elif key == "VOLUME":
            paths = _command(rest, change) if rest.startswith("[") else rest.split()
            for path in paths:
                if not path.startswith("/"):
                    raise ConfigError(f"invalid --change {change!r}: {path!r} is not an absolute path")
                config.setdefault("Volumes", {})[path] = {}
        elif key == "EXPOSE":
            ports = config.setdefault("ExposedPorts", {})
            for item in rest.split():
                port, _, proto = item.partition("/")
                if not port.isdigit() or not 0 < int(port) <= 65535 or proto not in ("", "tcp", "udp", "sctp"):
                    raise ConfigError(f"invalid --change {change!r}: {item!r} is not PORT[/tcp|udp|sctp]")
                ports[f"{int(port)}/{proto or 'tcp'}"] = {}
        else:
            pairs = _pairs(rest, change, shlex)
            if key == "ENV":
                env = [e for e in config.get("Env") or [] if e.partition("=")[0] not in pairs]
                config["Env"] = env + [f"{k}={v}" for k, v in pairs.items()]
            else:
                config["Labels"] = {**(config.get("Labels") or {}), **pairs}
    return config


def _command(text: str, change: str) -> list[str]:
    if text.startswith("["):
        try:
            value = loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"invalid --change {change!r}: expected a JSON array of strings")
        return value
    return ["/bin/sh", "-c", text]


def _pairs(text: str, change: str, shlex: Any) -> dict[str, str]:
    """``K=V K2="v 2"`` (or the legacy ``K V`` with one key) -> dict."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"invalid --change {change!r}: {exc}") from None
    if words and "=" not in words[0]:
        key, _, value = text.partition(" ")
        return {key: value.strip()}
    out = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ConfigError(f"invalid --change {change!r}: {word!r} is not KEY=VALUE")
        out[key] = value
    return out
