"""A container's network endpoints as part of its config: which networks it joins at each start (the first
one: its mode, with the default route; the others as further interfaces), under which extra names
(``--network-alias``, ``NetworkingConfig.EndpointsConfig.<net>.Aliases``, ``network connect --alias``) and
with which address asked for (``network connect --ip``); and ``network connect`` / ``disconnect`` of
containers in any state.

What the options say (``network``, ``network_aliases``) holds until ``connect``/``disconnect`` changes it:
then ``net-endpoints.json`` in the container's directory holds the endpoint set, in order (``{}``: no
network; ``{NAME: {"Aliases": [...][, "IPAMConfig": {"IPv4Address": IP}]}, ...}``), read at every start,
and the same set is recorded in the container's ``info["NetworkEndpoints"]`` so that inspect shows it while
it is stopped. The file goes with the container.

As in Docker, a connection is config: a running container is connected live (``attach``: a veth added to
its namespace) AND the connection is recorded, so after a stop and a start (or a restart policy's restart)
it is on every network it was connected to; a created or stopped container's connection takes effect at its
next start; ``disconnect`` removes it from both. A network that was removed meanwhile makes the next start
fail (``network NAME not found``), as dockerd's does.
"""
from __future__ import annotations

import os

from nsrun import ConfigError, ConflictError, NotFoundError, Paths

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FILE", "endpoint_of", "endpoints_of", "extra_endpoints", "connect", "disconnect", "check_aliases"]

FILE = "net-endpoints.json"

_JOINED = ("host",)  # and container:/ns: modes: a namespace that is not the container's own


def check_aliases(aliases: Any, where: str) -> list[str]:
    if aliases is None:
        return []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ConfigError(f"{where}: expected a list of names")
    if not aliases:
        return []  # without importing ipam (and its hostports, json): a start without aliases needs neither
    from .ipam import NetworkStore
    for alias in aliases:
        if not NetworkStore._valid(alias):
            raise ConfigError(f"{where}: invalid alias {alias!r}")
    return list(dict.fromkeys(aliases))


def _read(cdir: str) -> dict[str, Any] | None:
    try:
        f = open(os.path.join(cdir, FILE))
    except OSError:
        return None
    import json  # only for a file there is: json (re, enum) is ~8 ms of a start with no endpoints to read
    with f:
        try:
            data = json.load(f)
        except (OSError, ValueError):
            return None
    return data if isinstance(data, dict) else None


def _own(mode: str) -> bool:
    """Whether ``mode`` is a network of the container's own (bridge or a user-defined one)."""
    return mode not in ("none", *_JOINED) and not mode.startswith(("container:", "ns:"))


def endpoints_of(options: dict[str, Any], cdir: str | None) -> dict[str, dict[str, Any]]:
    """The container's endpoint set, in order: ``connect``/``disconnect``'s file when there is one, else
    what its options say (``{}`` for ``none``; ``{MODE: {}}`` for ``host``/``container:``/``ns:``)."""
    data = _read(cdir) if cdir else None
    if data is not None:
        return {str(k): dict(v) if isinstance(v, dict) else {} for k, v in data.items()}
    mode = options.get("network") or "bridge"
    if mode == "none":
        return {}
    return {mode: {"Aliases": list(options.get("network_aliases") or [])} if _own(mode) else {}}


def endpoint_of(options: dict[str, Any], cdir: str | None) -> tuple[str, list[str]]:
    """(mode, aliases) of a container's first endpoint (the one it starts on); ``none`` when it has none."""
    endpoints = endpoints_of(options, cdir)
    if not endpoints:
        return "none", []
    name, ep = next(iter(endpoints.items()))
    return name, list(ep.get("Aliases") or [])


def extra_endpoints(options: dict[str, Any], cdir: str | None) -> list[tuple[str, list[str], str | None]]:
    """``(network, aliases, ip or None)`` of every endpoint after the first: the interfaces a start adds."""
    items = list(endpoints_of(options, cdir).items())[1:]
    return [(name, list(ep.get("Aliases") or []), (ep.get("IPAMConfig") or {}).get("IPv4Address") or None)
            for name, ep in items]


def _container(paths: Paths, ref: str) -> dict[str, Any]:
    from nsrun import find_container
    c = find_container(paths, ref)
    if c["status"] == "dead":
        raise ConflictError(f"container {c['id']} is dead: run `nsrun gc` or remove it")
    return c


def _write(paths: Paths, cid: str, endpoints: dict[str, Any]) -> None:
    from nsrun import update_container_info
    cdir = paths.container_dir(cid)
    import json
    tmp = os.path.join(cdir, f"{FILE}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(endpoints, f)
    os.replace(tmp, os.path.join(cdir, FILE))
    update_container_info(paths, cid, {"NetworkEndpoints": endpoints})


def _entry(aliases: list[str], ip: str | None) -> dict[str, Any]:
    return {"Aliases": list(aliases), **({"IPAMConfig": {"IPv4Address": ip}} if ip else {})}


def _resolve(paths: Paths, network: str) -> Any:
    from .ipam import DEFAULT_NAME, NetworkStore
    store = NetworkStore(paths)
    net = store.resolve(network) if network == DEFAULT_NAME else store.get(network)
    if net is None:
        raise NotFoundError(f"network {network} not found")
    return net


def connect(paths: Paths, network: str, ref: str, aliases: list[str], ip: str | None = None) -> None:
    """``POST /networks/{network}/connect``: ``network`` joins the container's endpoint set (its next start
    joins it); a running container also joins it now (``attach.connect_running``; ``ip``: ``--ip``)."""
    from .ipam import DEFAULT_NAME
    net = _resolve(paths, network)
    c = _container(paths, ref)
    cdir = paths.container_dir(c["id"])
    endpoints = endpoints_of(c["options"], cdir)
    mode = next(iter(endpoints), "none")
    if mode != "none" and not _own(mode):
        raise ConfigError(f"container sharing network namespace with another container or host cannot be "
                          f"connected to any other network (its mode is {mode})")
    if ip is not None and net.name == DEFAULT_NAME:
        raise ConfigError("user specified IP address is supported on user defined networks only")
    if aliases and net.name == DEFAULT_NAME:
        raise ConfigError("network-scoped alias is supported only for containers in user defined networks")
    if net.name in endpoints:
        raise ConflictError(f"endpoint with name {c['name']} already exists in network {net.name}")
    if c["pid"] is not None:
        if mode == "none" and (c["options"].get("network") or "bridge") == "none":
            raise ConfigError("container cannot be connected to multiple networks with one of the networks in "
                              "private (none) mode")
        from .attach import connect_running
        connect_running(paths, c, net, aliases, ip)
    elif ip is not None:
        import ipaddress
        try:
            inside = ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(net.subnet)
        except ValueError:
            inside = False
        if not inside:
            raise ConfigError(f"invalid address {ip!r}: not a usable address of network {net.name} ({net.subnet})")
    endpoints[net.name] = _entry(aliases, ip)
    _write(paths, c["id"], endpoints)


def disconnect(paths: Paths, network: str, ref: str, force: bool = False) -> None:
    """``POST /networks/{network}/disconnect``: ``network`` leaves the container's endpoint set; a running
    container also loses the interface now (``attach.disconnect_running``). ``force``: a stopped container
    may drop a network that no longer exists (dockerd's ``-f``)."""
    c = _container(paths, ref)
    cdir = paths.container_dir(c["id"])
    endpoints = endpoints_of(c["options"], cdir)
    try:
        net = _resolve(paths, network)
    except NotFoundError:
        if not (force and c["pid"] is None and network in endpoints):
            raise
        net = None
    name = net.name if net is not None else network
    if c["pid"] is not None:
        from .attach import disconnect_running
        disconnect_running(paths, c, net)
    elif name not in endpoints or not _own(name):
        raise ConfigError(f"container {c['id']} is not connected to network {name}")
    elif net is not None:  # a fixed address (run --ip) it kept for its next start there goes too
        from .ipam import NetworkStore
        store = NetworkStore(paths)
        for v6 in (False, True):
            for addr, lease in store.leases(net.name, v6=v6).items():
                if lease.get("id") == c["id"]:
                    store.release(net.name, addr, c["id"])
    endpoints.pop(name, None)
    _write(paths, c["id"], endpoints)
