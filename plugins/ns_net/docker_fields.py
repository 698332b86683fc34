"""The net plugin's fields of Docker's API (pure): the create body's network fields onto ``--network`` /
``-p`` / ``--expose``, and back into a container's inspect view; the ``/networks`` routes.

Owned fields: ``HostConfig.NetworkMode``, ``HostConfig.PortBindings``, ``HostConfig.PublishAllPorts``,
``NetworkDisabled``, the ``net.*`` entries of ``HostConfig.Sysctls``, ``Config.ExposedPorts`` (``ExposedPorts``: the user's; the image's come with the core's
config) and ``NetworkingConfig`` (only the one endpoint a create may name: the network the container joins;
per-endpoint settings — aliases, a fixed address — are refused by name).
"""
from __future__ import annotations

from typing import Any

from nsrun import ApiRequest, ApiResponse, ConfigError, FieldSource, Route

__all__ = ["from_docker", "into_view", "port_strings", "routes"]


def port_strings(bindings: Any) -> list[str]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}`` -> ``["18080:80/tcp"]`` (the ``-p`` syntax)."""
    if not isinstance(bindings, dict):
        raise ConfigError("HostConfig.PortBindings: expected {\"PORT/PROTO\": [{HostIp, HostPort}]}")
    out = []
    for key, targets in bindings.items():
        if not isinstance(key, str) or not isinstance(targets, (list, type(None))):
            raise ConfigError("HostConfig.PortBindings: expected {\"PORT/PROTO\": [{HostIp, HostPort}]}")
        port, _, proto = key.partition("/")
        if not port.isdigit():
            raise ConfigError(f"invalid container port {key!r}")
        for target in targets or [{}]:
            if not isinstance(target, dict):
                raise ConfigError("HostConfig.PortBindings: each binding must be an object")
            ip, hport = str(target.get("HostIp") or ""), str(target.get("HostPort") or "")
            text = f"{ip}:{hport}:{port}" if ip else (f"{hport}:{port}" if hport else port)
            out.append(f"{text}/{proto or 'tcp'}")
    return out


def _endpoint_network(fields: FieldSource, mode: str) -> None:
    """``NetworkingConfig.EndpointsConfig``: the docker CLI names the mode's network with empty settings."""
    endpoints = fields.take("NetworkingConfig.EndpointsConfig", dict) or {}
    for name, settings in endpoints.items():
        if name not in (mode, "default", "bridge"):
            raise ConfigError(f"NetworkingConfig.EndpointsConfig: only the network of HostConfig.NetworkMode "
                              f"can be joined at create (got {name!r} with NetworkMode {mode!r})")
        extra = FieldSource(settings if isinstance(settings, dict) else {},
                            prefix=f"NetworkingConfig.EndpointsConfig.{name}.")
        extra.refuse_leftover()
    fields.take("NetworkingConfig")


def from_docker(fields: FieldSource) -> dict[str, Any]:
    mode = fields.take("HostConfig.NetworkMode", str) or "default"
    if fields.take("NetworkDisabled", bool):
        mode = "none"
    options: dict[str, Any] = {}
    if mode != "default":
        options["network"] = mode
    bindings = fields.take("HostConfig.PortBindings", dict)
    if bindings:
        options["publish"] = port_strings(bindings)
    exposed = fields.take("ExposedPorts", dict)
    if exposed:
        options["expose"] = sorted(exposed)
    if fields.take("HostConfig.PublishAllPorts", bool):
        options["publish_all"] = True
    _endpoint_network(fields, mode)
    sysctls = fields.take_entries("HostConfig.Sysctls", lambda key: key.startswith("net."))
    if sysctls:
        if not all(isinstance(v, str) for v in sysctls.values()):
            raise ConfigError("HostConfig.Sysctls: values must be strings")
        options["net_sysctls"] = [f"{k}={v}" for k, v in sysctls.items()]
    return options


def into_view(options: dict[str, Any], info: dict[str, Any], view: dict[str, Any]) -> None:
    view["HostConfig"]["NetworkMode"] = options.get("network") or "default"
    settings = info.get("NetworkSettings") if isinstance(info.get("NetworkSettings"), dict) else {}
    ports = settings.get("Ports") if isinstance(settings.get("Ports"), dict) else None
    if ports is None:  # not started (yet): what was asked for, host ports as given
        from .ports import parse_publish
        ports = {}
        for text in options.get("publish") or ():
            try:
                spec = parse_publish(text)
            except ConfigError:
                continue
            ports.setdefault(f"{spec.ctr_port}/{spec.proto}", []).append(
                {"HostIp": spec.host_ip, "HostPort": str(spec.host_port or "")})
    view["HostConfig"]["PortBindings"] = ports
    view["NetworkSettings"].update(settings)
    view["NetworkSettings"]["Ports"] = ports
    view["HostConfig"]["PublishAllPorts"] = bool(options.get("publish_all"))
    if items := options.get("net_sysctls"):
        view["HostConfig"]["Sysctls"] = {**(view["HostConfig"].get("Sysctls") or {}),
                                         **dict(item.split("=", 1) for item in items)}
    if options.get("expose"):  # the core shows the image's and these together; a record older than that:
        view["Config"].setdefault("ExposedPorts", {}).update({port: {} for port in options["expose"]})


def _route(handler: Any) -> Any:
    def wrapped(req: ApiRequest) -> Any:
        from . import daemon_api
        return handler(daemon_api, req)
    return wrapped


def _create(api: Any, req: ApiRequest) -> ApiResponse:
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("Name"), str) or not body["Name"]:
        raise ConfigError("network create: Name (a string) is required")
    result = api.network_create(req.paths, body["Name"], body)
    return ApiResponse(201, {"Id": result.get("Id", body["Name"]), "Warning": ""})


def _remove(api: Any, req: ApiRequest) -> ApiResponse:
    api.network_remove(req.paths, req.params["name"])
    return ApiResponse(204)


def routes() -> list[Route]:
    return [
        Route("GET", "/networks", _route(lambda api, req: api.network_list(req.paths))),
        Route("POST", "/networks/create", _route(_create)),
        Route("GET", "/networks/{name}", _route(lambda api, req: api.network_inspect(req.paths, req.params["name"]))),
        Route("DELETE", "/networks/{name}", _route(_remove)),
    ]
