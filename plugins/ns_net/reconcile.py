"""``gc`` of the net plugin: what dead containers left (port DNATs, leases, veths) and, with ``reset``, every
network of this root (bridges, the backends' tables and chains) plus ``ip_forward`` as nsrun found it.

The journal is on disk (``ipam``): a port or address lease names its owner, and a port lease names the
backend that published it. Every installed backend is reached through the ``net_firewall_backend`` hook,
selected or not. Only objects carrying this root's tag are touched.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING

from nsrun import Paths

from .firewall import installed_firewalls
from .ipam import NetworkStore, endpoint_veth_name
from .ports import Binding

if TYPE_CHECKING:
    from .firewall import Firewall

__all__ = ["collect"]


def _dead_ports(store: NetworkStore, live: frozenset[str], backends: dict[str, Firewall]) -> list[str]:
    lines = []
    for fname, data in store.port_leases().items():
        if data.get("id") in live:
            continue
        try:
            b = Binding.from_json(data["binding"])
            if data.get("backend") in backends:  # the backend that published it (any installed one)
                backends[data["backend"]].unpublish([b])
        except (KeyError, TypeError):
            pass
        store.forget_port_lease(fname)
        lines.append(f"released host port {fname[:-6].replace('/', '-')}")
    return lines


def _dead_leases(store: NetworkStore, live: frozenset[str], reset: bool) -> list[str]:
    """Leases of containers not running; a fixed address (``run --ip``) stays its container's while its record
    exists (``ipam.NetworkStore.leases`` drops it once the record is gone), except at ``reset``."""
    lines = []
    for net in store.list():
        for ip, data in [*store.leases(net.name).items(), *store.leases6(net.name).items()]:
            if data.get("fixed") and not reset and os.path.isdir(store.paths.container_dir(str(data.get("id")))):
                continue
            if data.get("id") not in live:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(store.dir, net.name, f"{ip}.lease"))
                lines.append(f"released address {ip} of network {net.name}")
    return lines


def _dead_veths(store: NetworkStore, live: frozenset[str], reset: bool) -> list[str]:
    tag = store.paths.tag
    pattern = re.compile(rf"^nsr{tag}v([0-9a-f]{{6}})$")  # veth_name()
    extra = re.compile(rf"^nsr{tag}e[0-9a-f]{{6}}$")       # endpoint_veth_name(): `network connect` of a running one
    alive = {cid[:6] for cid in live}
    names = os.listdir("/sys/class/net")
    kept: set[str] = set()
    if any(extra.match(n) for n in names) and not reset:  # the live containers' endpoints, from their leases
        kept = {endpoint_veth_name(tag, lease["id"], net.name) for net in store.list()
                for lease in store.leases(net.name).values() if lease.get("id") in live}
    doomed = [n for n in names if ((m := pattern.match(n)) and (reset or m.group(1) not in alive))
              or (extra.match(n) and n not in kept)]
    if not doomed:
        return []
    from .netlink import delete_link, open_ipr
    with contextlib.closing(open_ipr()) as ipr:
        return [f"removed veth {name}" for name in doomed if delete_link(ipr, name)]


def _reset_networks(store: NetworkStore, backends: dict[str, Firewall]) -> list[str]:
    lines = []
    nets = store.list()
    bridges = [n.bridge for n in nets if os.path.exists(f"/sys/class/net/{n.bridge}")]
    if bridges:
        from .netlink import delete_link, open_ipr
        with contextlib.closing(open_ipr()) as ipr:
            lines += [f"removed bridge {b}" for b in bridges if delete_link(ipr, b)]
    for name, fw in backends.items():  # one backend's failure must not keep the others' tables
        try:
            lines += fw.reset()
        except Exception as exc:  # noqa: BLE001 - reported, the reset goes on
            lines.append(f"{name}: reset failed: {exc}")
    for net in nets:
        store.remove(net.name)
        lines.append(f"removed network {net.name}")
    for marker, path, key in ((".ip_forward-was-0", "/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward"),
                              (".ipv6_forward-was-0", "/proc/sys/net/ipv6/conf/all/forwarding",
                               "net.ipv6.conf.all.forwarding")):
        marker = os.path.join(store.dir, marker)
        if os.path.exists(marker):
            others = [n for n in os.listdir("/sys/class/net") if n.startswith("nsr")
                      and os.path.isdir(f"/sys/class/net/{n}/bridge")]
            if not others:  # no other nsrun root still routes: put it back as we found it
                with open(path, "w") as f:
                    f.write("0")
                lines.append(f"restored {key}=0")
            os.unlink(marker)
    return lines


def collect(paths: Paths, live: frozenset[str], reset: bool) -> list[str]:
    store = NetworkStore(paths)
    if not os.path.isdir(store.dir) and not reset:
        return _dead_veths(store, live, reset)
    backends = {fw.name: fw for fw in installed_firewalls(paths)}
    with store.lock():
        lines = _dead_ports(store, live, backends) + _dead_leases(store, live, reset)
    lines += _dead_veths(store, live, reset)
    if reset:
        lines += _reset_networks(store, backends)
    return lines
