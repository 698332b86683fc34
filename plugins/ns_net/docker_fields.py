"""The net plugin's fields of Docker's API (pure): the create body's network fields onto ``--network`` /
``-p`` / ``--expose``, and back into a container's inspect view; the ``/networks`` routes.

Owned fields: ``HostConfig.NetworkMode``, ``HostConfig.PortBindings``, ``HostConfig.PublishAllPorts``,
``NetworkDisabled``, ``HostConfig.ExtraHosts``/``Dns``/``DnsSearch``/``DnsOptions``, the ``net.*`` entries of ``HostConfig.Sysctls``, ``Config.ExposedPorts`` (``ExposedPorts``: the user's; the image's come with the core's
config), ``MacAddress``, ``HostConfig.Links`` and ``NetworkingConfig`` (only the one endpoint a create may
name: the network the container joins, with its ``Aliases``, ``IPAMConfig.IPv4Address``/``IPv6Address``,
``MacAddress`` and ``Links``; any other endpoint setting is refused by name).
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


def _endpoint_network(fields: FieldSource, mode: str, options: dict[str, Any]) -> list[str]:
    """``NetworkingConfig.EndpointsConfig``: the one network a create joins (the docker CLI names the mode's
    network with empty settings; compose gives its aliases); the endpoint's ``Aliases`` -> the aliases,
    ``IPAMConfig.IPv4Address``/``IPv6Address`` -> ``ip``/``ip6``, ``MacAddress`` -> ``mac_address``, ``Links``
    -> ``links`` (into ``options``). The other endpoint settings are refused by name."""
    endpoints = fields.take("NetworkingConfig.EndpointsConfig", dict) or {}
    aliases: list[str] = []
    for name, settings in endpoints.items():
        if name not in (mode, "default", "bridge"):
            raise ConfigError(f"NetworkingConfig.EndpointsConfig: only the network of HostConfig.NetworkMode "
                              f"can be joined at create (got {name!r} with NetworkMode {mode!r})")
        extra = FieldSource(settings if isinstance(settings, dict) else {},
                            prefix=f"NetworkingConfig.EndpointsConfig.{name}.")
        from .endpoints import check_aliases
        aliases += check_aliases(extra.take("Aliases", list), f"NetworkingConfig.EndpointsConfig.{name}.Aliases")
        where = f"NetworkingConfig.EndpointsConfig.{name}"
        ipam = FieldSource(extra.take("IPAMConfig", dict) or {}, prefix=f"{where}.IPAMConfig.")
        for key, dest in (("IPv4Address", "ip"), ("IPv6Address", "ip6")):
            if value := ipam.take(key, str):
                options[dest] = value
        if ipam.take("LinkLocalIPs", list):  # the CLI sends [] for none
            raise ConfigError(f"{where}.IPAMConfig.LinkLocalIPs is not supported by nsrun")
        ipam.refuse_leftover()
        if mac := extra.take("MacAddress", str):
            options["mac_address"] = _mac(mac, f"{where}.MacAddress")
        if links := extra.take("Links", list):
            options["links"] = _links(links, f"{where}.Links")
        extra.refuse_leftover()
    fields.take("NetworkingConfig")
    return aliases


def _mac(value: str, where: str) -> str:
    from .fixed import check_mac
    return check_mac(value, where)


def _links(items: list[Any], where: str) -> list[str]:
    """``["/web:/me/db", "web:db", "web"]`` -> ``["web:db", "web:db", "web:web"]`` (``--link``'s form)."""
    from .fixed import parse_link
    return [":".join(parse_link(item, where)) for item in items]


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
    if mac := fields.take("MacAddress", str):  # Config.MacAddress: API < 1.44's place for it
        options["mac_address"] = _mac(mac, "MacAddress")
    if links := fields.take("HostConfig.Links", list):
        options["links"] = _links(links, "HostConfig.Links")
    if aliases := _endpoint_network(fields, mode, options):
        options["network_aliases"] = aliases
    sysctls = fields.take_entries("HostConfig.Sysctls", lambda key: key.startswith("net."))
    if sysctls:
        if not all(isinstance(v, str) for v in sysctls.values()):
            raise ConfigError("HostConfig.Sysctls: values must be strings")
        options["net_sysctls"] = [f"{k}={v}" for k, v in sysctls.items()]
    from . import names
    for field, dest, check in (("ExtraHosts", "add_hosts", names.extra_hosts), ("Dns", "dns", names.check_dns),
                               ("DnsSearch", "dns_search", names.check_search),
                               ("DnsOptions", "dns_options", names.check_options)):
        if items := fields.take(f"HostConfig.{field}", list):
            check(items, f"HostConfig.{field}")  # named by its field, before anything exists
            options[dest] = list(items)
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
    if not view["State"].get("Running"):  # not running: every network it will join (its config), no addresses
        endpoints = info.get("NetworkEndpoints")
        if not isinstance(endpoints, dict):
            from .endpoints import endpoints_of
            endpoints = {name: ep for name, ep in endpoints_of(options, None).items()
                         if name not in ("host",) and not name.startswith(("container:", "ns:"))}
        first = next(iter(endpoints), None)
        fixed = {**({"IPv4Address": options["ip"]} if options.get("ip") else {}),
                 **({"IPv6Address": options["ip6"]} if options.get("ip6") else {})} or None
        view["NetworkSettings"]["Networks"] = {
            name: {"IPAMConfig": (ep or {}).get("IPAMConfig") or (fixed if name == first else None), "Links": None,
                   "Aliases": list((ep or {}).get("Aliases") or []) or None,
                   "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                   "MacAddress": (options.get("mac_address") or "") if name == first else "", "DriverOpts": None}
            for name, ep in endpoints.items()}
        view["NetworkSettings"].update({"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "",
                                        "SandboxKey": ""})
        if "GlobalIPv6Address" in view["NetworkSettings"]:
            view["NetworkSettings"].update({"GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": ""})
    name = (view.get("Name") or "").lstrip("/")
    view["HostConfig"]["Links"] = [f"/{target}:/{name}/{alias}" for target, _, alias in
                                   (str(link).partition(":") for link in options.get("links") or ())] or None
    if options.get("mac_address"):
        view["Config"]["MacAddress"] = options["mac_address"]
    view["HostConfig"]["PublishAllPorts"] = bool(options.get("publish_all"))
    if items := options.get("net_sysctls"):
        view["HostConfig"]["Sysctls"] = {**(view["HostConfig"].get("Sysctls") or {}),
                                         **dict(item.split("=", 1) for item in items)}
    for field, dest in (("ExtraHosts", "add_hosts"), ("Dns", "dns"), ("DnsSearch", "dns_search"),
                        ("DnsOptions", "dns_options")):
        items = options.get(dest)
        view["HostConfig"][field] = list(items) if items else ([] if field != "ExtraHosts" else None)
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


def _connect(api: Any, req: ApiRequest) -> ApiResponse:
    from .endpoints import check_aliases, connect
    body = req.body if isinstance(req.body, dict) else {}
    fields = FieldSource(body, prefix="")
    container = fields.take("Container", str)
    if not container:
        raise ConfigError("network connect: Container is required")
    settings = fields.take("EndpointConfig", dict) or {}
    extra = FieldSource(settings, prefix="EndpointConfig.")
    aliases = check_aliases(extra.take("Aliases", list), "EndpointConfig.Aliases")
    ipam = extra.take("IPAMConfig", dict) or {}
    ip = ipam.get("IPv4Address") or None
    if ip is not None and not isinstance(ip, str):
        raise ConfigError("EndpointConfig.IPAMConfig.IPv4Address: expected a string")
    if others := sorted(k for k, v in ipam.items() if k != "IPv4Address" and v):
        raise ConfigError(f"EndpointConfig.IPAMConfig.{others[0]} is not supported by nsrun (IPv4Address is)")
    extra.refuse_leftover()
    fields.refuse_leftover()
    connect(req.paths, req.params["name"], container, aliases, ip)
    return ApiResponse(200)


def _disconnect(api: Any, req: ApiRequest) -> ApiResponse:
    from .endpoints import disconnect
    body = req.body if isinstance(req.body, dict) else {}
    fields = FieldSource(body, prefix="")
    container = fields.take("Container", str)
    if not container:
        raise ConfigError("network disconnect: Container is required")
    force = bool(fields.take("Force", bool))  # a stopped container may drop a network removed meanwhile
    fields.refuse_leftover()
    disconnect(req.paths, req.params["name"], container, force=force)
    return ApiResponse(200)


def _prune(api: Any, req: ApiRequest) -> dict[str, Any]:
    from nsrun import parse_filters
    extra = sorted(set(req.query) - {"filters"})
    if extra:
        raise ConfigError(f"network prune: unknown query parameter {extra[0]!r}")
    return {"NetworksDeleted": api.network_prune(req.paths, parse_filters(req.query.get("filters"),
                                                                           api.PRUNE_FILTERS))}


def _remove(api: Any, req: ApiRequest) -> ApiResponse:
    api.network_remove(req.paths, req.params["name"])
    return ApiResponse(204)


def routes() -> list[Route]:
    return [
        Route("GET", "/networks", _route(lambda api, req: api.network_list(req.paths, req.query.get("filters")))),
        Route("POST", "/networks/{name}/connect", _route(_connect)),
        Route("POST", "/networks/{name}/disconnect", _route(_disconnect)),
        Route("POST", "/networks/create", _route(_create)),
        Route("POST", "/networks/prune", _route(_prune)),
        Route("GET", "/networks/{name}", _route(lambda api, req: api.network_inspect(req.paths, req.params["name"]))),
        Route("DELETE", "/networks/{name}", _route(_remove)),
    ]
