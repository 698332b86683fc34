"""The net plugin's side of the daemon's network endpoints (``GET/POST/DELETE /networks``).

The routes (``docker_fields.routes``, through the ``daemon_routes`` hook) call these four functions; each
takes the root's ``Paths`` and returns Docker-shaped dicts, raising NotFoundError / ConflictError / ConfigError as ``nsrun network`` does. The pre-defined ``host``
and ``none`` networks are listed too (they are modes, not objects).
"""
from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any

from nsrun import ConfigError, ConflictError, NotFoundError, Paths, labels_match, parse_filters, parse_time

from .firewall import installed_firewalls
from .ipam import BIG_TCP_OPTION, DEFAULT_NAME, Network, NetworkStore

__all__ = ["network_list", "network_inspect", "network_create", "network_remove", "network_prune",
           "PRUNE_FILTERS"]

_MODES = {"host": "host", "none": "null"}


def _time(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts or 0, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _running_ids(paths: Paths) -> set[str]:
    from nsrun import list_containers
    return {c["id"] for c in list_containers(paths) if c.get("pid") is not None}


def active_leases(store: NetworkStore, name: str, v6: bool = False, running: set[str] | None = None) -> dict:
    """The leases of network ``name`` that are endpoints (Docker's "active endpoints"): all but the fixed
    addresses (``run --ip``) that stopped containers keep for their next start."""
    leases = store.leases(name, v6=v6)
    if not any(d.get("fixed") for d in leases.values()):
        return leases
    running = _running_ids(store.paths) if running is None else running
    return {ip: d for ip, d in leases.items() if not d.get("fixed") or d.get("id") in running}


def _docker(store: NetworkStore, net: Network) -> dict[str, Any]:
    leases = active_leases(store, net.name)
    v6 = {d.get("id"): ip for ip, d in active_leases(store, net.name, v6=True).items()} if net.subnet6 else {}
    return {"Name": net.name, "Id": net.id, "Created": _time(net.created), "Scope": "local", "Driver": "bridge",
            "EnableIPv6": bool(net.subnet6), "Internal": bool(net.internal), "Attachable": False, "Ingress": False,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": net.subnet, "Gateway": net.gateway},
                                *([{"Subnet": net.subnet6, "Gateway": net.gateway6}] if net.subnet6 else [])]},
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Labels": dict(net.labels or {}),
            # the options as given at create (compose compares them with its file's); the default network
            # shows its bridge's name, as docker0's does
            "Options": ({"com.docker.network.bridge.name": net.bridge} if net.name == DEFAULT_NAME else
                        dict(net.options or {})),
            # what nsrun made of it (Docker's clients ignore this key)
            "Nsrun": {"Bridge": net.bridge, "Options": {BIG_TCP_OPTION: "true" if net.big_tcp else "false"}},
            "Containers": {d.get("id", ""): {"Name": d.get("name", ""), "EndpointID": d.get("id", ""),
                                             "MacAddress": "", "IPv4Address": f"{ip}/{net.prefixlen}",
                                             "IPv6Address": f"{v6[d['id']]}/{net.prefixlen6}"
                                             if d.get("id") in v6 else ""}
                           for ip, d in sorted(leases.items())}}


def _mode(name: str) -> dict[str, Any]:
    return {"Name": name, "Id": name, "Created": _time(0), "Scope": "local", "Driver": _MODES[name],
            "EnableIPv6": False, "Internal": False, "Attachable": False, "Ingress": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []}, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Labels": {}, "Options": {}, "Containers": {}}


def _find(store: NetworkStore, ref: str) -> Network:
    net = store.resolve(ref) if ref == DEFAULT_NAME else store.get(ref)
    if net is None:   # Docker also finds networks by (a prefix of) their id
        matches = [n for n in store.list() if len(ref) >= 4 and n.id.startswith(ref)]
        net = matches[0] if len(matches) == 1 else None
    if net is None:
        raise NotFoundError(f"network {ref} not found")
    return net


_LIST_FILTERS = ("name", "id", "label", "driver", "type", "scope", "dangling")


def _passes(item: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    custom = item["Name"] not in ("bridge", "host", "none")
    tests = {"name": lambda v: v in item["Name"], "id": lambda v: item["Id"].startswith(v),
             "driver": lambda v: item["Driver"] == v, "scope": lambda v: v == "local",
             "type": lambda v: v == ("custom" if custom else "builtin"),
             "dangling": lambda v: (v.lower() in ("true", "1")) == (custom and not item["Containers"])}
    for key, values in filters.items():
        if key == "label":
            if not labels_match(item["Labels"], values):
                return False
        elif values and not any(tests[key](v) for v in values):
            return False
    return True


def network_list(paths: Paths, filters: str | None = None) -> list[dict[str, Any]]:
    wanted = parse_filters(filters, _LIST_FILTERS)
    store = NetworkStore(paths)
    nets = store.list()
    if not any(n.name == DEFAULT_NAME for n in nets):
        nets.insert(0, store.resolve(DEFAULT_NAME))
    items = [_docker(store, n) for n in nets] + [_mode(m) for m in _MODES]
    return [i for i in items if _passes(i, wanted)]


def network_inspect(paths: Paths, ref: str) -> dict[str, Any]:
    if ref in _MODES:
        return _mode(ref)
    store = NetworkStore(paths)
    return _docker(store, _find(store, ref))


def network_create(paths: Paths, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` is Docker's create body: Driver (bridge only), IPAM.Config (one IPv4 and, with EnableIPv6, one
    IPv6 {Subnet, Gateway}), Options, Labels, Internal, EnableIPv6."""
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise ConfigError(f"plugin {driver!r} not found: only the bridge driver exists")
    configs = ((body.get("IPAM") or {}).get("Config") or [{}]) if isinstance(body.get("IPAM"), (dict, type(None))) \
        else None
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise ConfigError("IPAM.Config must be a list of {Subnet, Gateway}")
    from .ipam import split_families
    for c in configs:
        for key in ("Subnet", "Gateway", "IPRange"):
            if c.get(key) is not None and not isinstance(c[key], str):
                raise ConfigError(f"IPAM.Config: {key} must be a string")
        if c.get("IPRange") or c.get("AuxiliaryAddresses"):
            raise ConfigError("IPAM.Config: IPRange and AuxiliaryAddresses are not supported by nsrun yet")
        if c.get("Gateway") and not c.get("Subnet"):
            raise ConfigError("a gateway needs a subnet")
    ipam = split_families([(c.get("Subnet") or None, c.get("Gateway") or None) for c in configs])
    ipv6 = body.get("EnableIPv6") or False
    if not isinstance(ipv6, bool):
        raise ConfigError("EnableIPv6 must be a boolean")
    options = body.get("Options") or {}
    if not isinstance(options, dict):
        raise ConfigError("Options must be an object of strings")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError("Labels must be an object of strings")
    # Attachable matters only to swarm services: a local bridge network is attachable anyway (as dockerd's)
    internal = body.get("Internal") or False
    if not isinstance(internal, bool):
        raise ConfigError("Internal must be a boolean")
    for key in ("Ingress", "ConfigOnly"):
        if body.get(key):
            raise ConfigError(f"network create: {key} is not supported by nsrun yet")
    net = NetworkStore(paths).create(name, ipam["subnet"], ipam["gateway"],
                                     options={str(k): str(v) for k, v in options.items()},
                                     labels=dict(labels), internal=internal, ipv6=ipv6, subnet6=ipam["subnet6"],
                                     gateway6=ipam["gateway6"])
    return {"Id": net.id}


def network_remove(paths: Paths, ref: str) -> None:
    """As ``nsrun network rm``: refused while a container uses it; firewall state and bridge go with it."""
    if ref in _MODES or ref == DEFAULT_NAME:
        raise ConfigError(f"{ref} is a pre-defined network and cannot be removed")
    store = NetworkStore(paths)
    net = _find(store, ref)
    if active_leases(store, net.name) or active_leases(store, net.name, v6=True):
        raise ConflictError(f"error while removing network: network {net.name} has active endpoints")
    for v6 in (False, True):  # stopped containers' fixed addresses: their next start fails (network not found)
        for ip, lease in store.leases(net.name, v6=v6).items():
            store.release(net.name, ip, lease.get("id") or "")
    with store.lock():
        for fw in installed_firewalls(store.paths):  # whichever backend set it up
            fw.teardown_network(net)
        if os.path.exists(f"/sys/class/net/{net.bridge}"):
            from .netlink import delete_link, open_ipr
            with contextlib.closing(open_ipr()) as ipr:
                delete_link(ipr, net.bridge)
        store.remove(net.name)


PRUNE_FILTERS = ("until", "label", "label!")


def network_prune(paths: Paths, filters: dict[str, list[str]]) -> list[str]:
    """Remove every user-defined network without endpoints that passes ``filters`` (``parse_filters`` /
    ``filter_items`` with ``PRUNE_FILTERS``: ``until`` created before, ``label``/``label!`` on its labels);
    the names removed. A network a container joins meanwhile is kept (its removal is refused)."""
    import time
    now = time.time()
    untils = [parse_time(v, now, "the until filter") for v in filters.get("until", ())]
    store = NetworkStore(paths)
    removed = []
    for net in store.list():
        if net.name == DEFAULT_NAME or active_leases(store, net.name):
            continue
        labels = dict(net.labels or {})
        if any(net.created >= until for until in untils) or not labels_match(labels, filters.get("label", [])):
            continue
        if any(labels_match(labels, [item]) for item in filters.get("label!", ())):
            continue
        try:
            network_remove(paths, net.name)
        except (ConflictError, NotFoundError):
            continue
        removed.append(net.name)
    return removed
