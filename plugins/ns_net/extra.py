"""The endpoints a start adds after the first (``endpoints.extra_endpoints``: what ``network connect`` put
into the container's config): each as ``network connect`` of a running container makes one
(``attach.connect_running``), split over the start's hooks so that nothing exists before it is recorded.

- ``reserve`` [pre_clone]: each network ensured (bridge, firewall rules), an address leased (the one asked
  for with ``--ip``, else the lowest free; not kept at stop, as Docker keeps none), the endpoint written to
  ``net-live.json`` (``attach.LIVE_FILE``: what teardown's ``attach.undo_all`` and ``gc`` undo), the
  network's other containers added to the container's ``/etc/hosts`` (``ctx.hosts``, before mnt writes it).
- ``wire`` [post_start]: the veth with its peer made inside as ``eth1``, ``eth2``... in config order, the
  address (no default route: it stays the first network's), the container announced in its peers' hosts
  files, ``info["NetworkSettings"]["Networks"]`` filled.
"""
from __future__ import annotations

import contextlib
from typing import Any

from nsrun import RunContext, StashKey

__all__ = ["reserve", "wire"]

EXTRA_KEY = StashKey[list]()   # [(Network, live entry)] reserved by ``reserve``, wired by ``wire``


def reserve(ctx: RunContext, store: Any, fw: Any, extras: list[tuple[Any, list[str], str | None]]) -> None:
    """[pre_clone] Lease and record every extra endpoint (``(Network, aliases, ip)``); on a failure what was
    recorded stays for teardown (``undo_all``) to remove."""
    from .attach import peer_lines, write_live, live_endpoints
    from .bridge import ensure_network
    from .ipam import endpoint_veth_name
    from .rtnl import Rtnl
    cid, name, cdir = ctx.spec.id, ctx.spec.name, ctx.container_dir
    done: list = []
    ctx.stash[EXTRA_KEY] = done

    def record(net: Any, entry: dict) -> None:  # each lease recorded as soon as it exists: teardown frees it
        with store.lock():
            live = live_endpoints(cdir)
            live[net.name] = entry
            write_live(cdir, live)

    for n, (net, aliases, ip) in enumerate(extras, start=1):
        with contextlib.closing(Rtnl()) as rt:
            ensure_network(rt, store, net, fw)
        addr = store.allocate(net, cid, name, list(aliases), ip=ip)
        entry = {"ip": addr, "ifname": f"eth{n}", "veth": endpoint_veth_name(ctx.paths.tag, cid, net.name),
                 "aliases": list(aliases), **({"fixed": True} if ip else {})}
        record(net, entry)
        if net.subnet6:
            entry["ip6"] = store.allocate6(net, cid, name, list(aliases))
            record(net, entry)
        done.append((net, entry))
        for line in peer_lines(store, net, cid):
            for text in line.splitlines():
                peer_ip, _, names = text.partition("\t")
                ctx.hosts.append((peer_ip, names))


def wire(ctx: RunContext, pid: int) -> None:
    """[post_start] The reserved endpoints' interfaces, addresses, peers' hosts lines and inspect entries."""
    from .bridge import announce, endpoint_settings, hosts_line
    from .ipam import DEFAULT_NAME
    from .netlink import add_veth, configure_inside, link_mtus, mac_for
    from .rtnl import Rtnl
    done = ctx.stash.get(EXTRA_KEY) or []
    if not done:
        return
    link_mtu, _ = link_mtus()
    networks = ctx.info.setdefault("NetworkSettings", {}).setdefault("Networks", {})
    for net, ep in done:
        with contextlib.closing(Rtnl()) as rt:
            add_veth(rt, ep["veth"], net.bridge, pid, mac_for(ep["ip"]), link_mtu, big_tcp=net.big_tcp,
                     peer=ep["ifname"])
        configure_inside(pid, ep["ip"], net.prefixlen, None, ifname=ep["ifname"], ip6=ep.get("ip6", ""),
                         prefixlen6=net.prefixlen6)
        if net.name != DEFAULT_NAME:
            announce(ctx.paths, net, ctx.spec.id, hosts_line(ep["ip"], ctx.spec.name, ep["aliases"],
                                                             ep.get("ip6", "")))
        ipam = {"IPv4Address": ep["ip"]} if ep.get("fixed") else None
        networks[net.name] = endpoint_settings(net, ctx.spec.id, ep["ip"], ep["aliases"], ipam,
                                               ip6=ep.get("ip6", ""))
