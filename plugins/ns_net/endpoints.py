"""A container's network endpoint: which network it joins (the mode) and under which extra names
(``--network-alias``, ``NetworkingConfig.EndpointsConfig.<net>.Aliases``), and ``network connect`` /
``disconnect`` of containers that have not started yet.

What the options say (``network``, ``network_aliases``) holds until ``connect``/``disconnect`` changes it:
then ``net-endpoints.json`` in the container's directory holds the endpoint set (``{}``: no network,
``{NAME: {"Aliases": [...]}}``: one), read at every start, and the same set is recorded in the container's
``info["NetworkEndpoints"]`` so that inspect shows it. The file goes with the container.

A created or stopped container joins one bridge network here: connecting it to a second one is refused
by name, never half-done. A RUNNING container is connected to (and disconnected from) any number of
networks live, by ``attach`` (a veth added to its namespace); those endpoints go when it stops.
"""
from __future__ import annotations

import json
import os
from typing import Any

from nsrun import ConfigError, ConflictError, NotFoundError, Paths

__all__ = ["FILE", "endpoint_of", "connect", "disconnect", "check_aliases"]

FILE = "net-endpoints.json"


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
        with open(os.path.join(cdir, FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def endpoint_of(options: dict[str, Any], cdir: str | None) -> tuple[str, list[str]]:
    """(mode, aliases) of a container: ``connect``/``disconnect``'s file when there is one, else its options.
    ``none`` when it was disconnected from its only network."""
    data = _read(cdir) if cdir else None
    if data is not None:
        if not data:
            return "none", []
        name, ep = next(iter(data.items()))
        return name, list((ep or {}).get("Aliases") or [])
    return options.get("network") or "bridge", list(options.get("network_aliases") or [])


def _container(paths: Paths, ref: str, action: str) -> dict[str, Any]:
    from nsrun import find_container
    c = find_container(paths, ref)
    if c["status"] == "dead":
        raise ConflictError(f"container {c['id']} is dead: run `nsrun gc` or remove it")
    return c


def _write(paths: Paths, cid: str, endpoints: dict[str, Any]) -> None:
    from nsrun import update_container_info
    cdir = paths.container_dir(cid)
    tmp = os.path.join(cdir, f"{FILE}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(endpoints, f)
    os.replace(tmp, os.path.join(cdir, FILE))
    update_container_info(paths, cid, {"NetworkEndpoints": endpoints})


def connect(paths: Paths, network: str, ref: str, aliases: list[str], ip: str | None = None) -> None:
    """``POST /networks/{network}/connect``: a created (or stopped) container joins ``network`` at its next
    start; a running one joins it now (``attach.connect_running``; ``ip``: ``--ip``)."""
    from .ipam import DEFAULT_NAME, NetworkStore
    store = NetworkStore(paths)
    net = store.resolve(network) if network == DEFAULT_NAME else store.get(network)
    if net is None:
        raise NotFoundError(f"network {network} not found")
    c = _container(paths, ref, "connect")
    mode, current = endpoint_of(c["options"], paths.container_dir(c["id"]))
    if mode in ("host",) or mode.startswith(("container:", "ns:")):
        raise ConfigError(f"container sharing network namespace with another container or host cannot be "
                          f"connected to any other network (its mode is {mode})")
    if c["pid"] is not None:
        if mode == "none":
            raise ConfigError("container cannot be connected to multiple networks with one of the networks in "
                              "private (none) mode")
        if ip is not None and net.name == DEFAULT_NAME:
            raise ConfigError("user specified IP address is supported on user defined networks only")
        if aliases and net.name == DEFAULT_NAME:
            raise ConfigError("network-scoped alias is supported only for containers in user defined networks")
        from .attach import connect_running
        connect_running(paths, c, net, aliases, ip)
        return
    if ip is not None:
        raise ConfigError("network connect --ip of a container that is not running is not supported by nsrun yet")
    if mode == net.name:
        raise ConflictError(f"endpoint with name {c['name']} already exists in network {net.name}")
    if mode != "none":
        raise ConfigError(f"connecting {c['name']} to a second network ({net.name}; it is on {mode}) is not "
                          f"supported by nsrun: a container joins one network (disconnect it first)")
    if aliases and net.name == DEFAULT_NAME:
        raise ConfigError("network-scoped alias is supported only for containers in user defined networks")
    _write(paths, c["id"], {net.name: {"Aliases": aliases}})


def disconnect(paths: Paths, network: str, ref: str) -> None:
    """``POST /networks/{network}/disconnect`` of a created (or stopped) container."""
    from .ipam import DEFAULT_NAME, NetworkStore
    store = NetworkStore(paths)
    net = store.resolve(network) if network == DEFAULT_NAME else store.get(network)
    if net is None:
        raise NotFoundError(f"network {network} not found")
    c = _container(paths, ref, "disconnect")
    if c["pid"] is not None:
        from .attach import disconnect_running
        disconnect_running(paths, c, net)
        return
    mode, _ = endpoint_of(c["options"], paths.container_dir(c["id"]))
    if mode != net.name:
        raise ConfigError(f"container {c['id']} is not connected to network {net.name}")
    _write(paths, c["id"], {})
