"""``network connect`` / ``disconnect`` of a RUNNING container: a veth added to, or removed from, its live
network namespace, with the same steps a start takes (``bridge``: the network ensured, an address leased, the
veth made with its peer created directly inside, the address configured, the hosts files of the container
and its peers on that network updated), in the same order as the journal wants: the lease (naming the
container) exists before the kernel objects and goes after them.

What a running container joined this way is recorded in ``net-live.json`` in its directory
(``{NETWORK: {"ip", "ifname", "veth", "aliases"[, "ip6"]}}``; ``ip6`` on a dual-stack network) and in its ``info["NetworkSettings"]["Networks"]``
(inspect, ``ps --filter network=``). Its teardown (``undo_all``, from the net plugin's ``teardown``)
removes these endpoints like the first one; ``gc`` after a kill -9 finds their leases (they name the
container) and their veths (``ipam.endpoint_veth_name``); ``system reset`` removes everything anyway.

The interfaces added live go when the container stops; the connection itself is config
(``endpoints.connect`` records it), so its next start makes them again (``extra``), as Docker's does.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from nsrun import ConfigError, ConflictError, Paths, process_start_time

from .bridge import VETH_WAIT, _gone, announce, endpoint_settings, ensure_network, hosts_line, unannounce
from .ipam import DEFAULT_NAME, Network, NetworkStore, endpoint_veth_name, veth_name

__all__ = ["LIVE_FILE", "connect_running", "disconnect_running", "undo_all", "live_endpoints"]

LIVE_FILE = "net-live.json"


def live_endpoints(cdir: str) -> dict[str, dict[str, Any]]:
    """The endpoints ``connect_running`` added to the container whose directory is ``cdir`` ({} if none)."""
    try:
        with open(os.path.join(cdir, LIVE_FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_live(cdir: str, data: dict[str, Any]) -> None:
    path = os.path.join(cdir, LIVE_FILE)
    if not data:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _firewall(paths: Paths, c: dict) -> Any:
    """The backend the container runs with (one of its plugins), else the first installed one."""
    from .firewall import installed_firewalls
    backends = installed_firewalls(paths)
    chosen = [fw for fw in backends if fw.name in c.get("plugins", ())]
    if not (chosen or backends):
        raise ConfigError("bridge networking needs a firewall backend: none is installed")
    return (chosen or backends)[0]


def _alive(c: dict) -> bool:
    return c.get("pid") is not None and process_start_time(c["pid"]) == c.get("pid_start")


def _settings(c: dict) -> dict[str, Any]:
    settings = (c.get("info") or {}).get("NetworkSettings")
    return dict(settings) if isinstance(settings, dict) else {}


def _lease_of(store: NetworkStore, net: Network, cid: str) -> str | None:
    return next((ip for ip, lease in store.leases(net.name).items() if lease.get("id") == cid), None)


def peer_lines(store: NetworkStore, net: Network, cid: str) -> list[str]:
    """``IP\\tnames`` of the other containers on ``net`` (and their IPv6 ones), for the newcomer's own hosts
    file."""
    if net.name == DEFAULT_NAME:
        return []
    six = {lease.get("id"): ip for ip, lease in store.leases6(net.name).items()} if net.subnet6 else {}
    return [hosts_line(ip, lease.get("name") or "", list(lease.get("aliases") or []), six.get(lease.get("id"), ""))
            for ip, lease in sorted(store.leases(net.name).items())
            if lease.get("id") != cid and (lease.get("name") or lease.get("aliases"))]


def _free_ifname(pid: int) -> str:
    """The first ``ethN`` not in the container's namespace (read through its /proc/PID/net/dev)."""
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            names = {line.split(":", 1)[0].strip() for line in f if ":" in line}
    except OSError as exc:
        raise ConflictError(f"container process {pid} is gone: {exc.strerror}") from None
    return next(f"eth{n}" for n in range(1, 4096) if f"eth{n}" not in names)


def connect_running(paths: Paths, c: dict, net: Network, aliases: list[str], ip: str | None = None) -> None:
    """Attach running container ``c`` (``find_container``'s dict) to ``net``; on any failure nothing of it
    is left (lease, veth, hosts lines, records)."""
    from .netlink import add_veth, configure_inside, link_mtus, mac_for, remove_link
    from .rtnl import Rtnl
    cid, pid, name = c["id"], c["pid"], c["name"]
    settings = _settings(c)
    if net.name in (settings.get("Networks") or {}):
        raise ConflictError(f"endpoint with name {name} already exists in network {net.name}")
    store, cdir = NetworkStore(paths), paths.container_dir(cid)
    fw = _firewall(paths, c)
    with contextlib.closing(Rtnl()) as rt:
        ensure_network(rt, store, net, fw)
    fixed = ip is not None
    ip = store.allocate(net, cid, name, list(aliases), ip=ip)
    ip6, done = "", False
    try:
        if net.subnet6:
            ip6 = store.allocate6(net, cid, name, list(aliases))
    finally:
        if net.subnet6 and not ip6:
            store.release(net.name, ip, cid)
    veth, line, peers = endpoint_veth_name(paths.tag, cid, net.name), hosts_line(ip, name, aliases, ip6), []
    own_hosts = os.path.join(cdir, "hosts")
    try:
        with store.lock():  # against the container's teardown (``undo_all`` reads the file under it)
            if not _alive(c):
                raise ConflictError(f"container {name} is not running")
            live = live_endpoints(cdir)
            live[net.name] = {"ip": ip, "ifname": _free_ifname(pid), "veth": veth, "aliases": list(aliases),
                              **({"ip6": ip6} if ip6 else {})}
            write_live(cdir, live)
        ifname = live[net.name]["ifname"]
        link_mtu, _ = link_mtus()
        with contextlib.closing(Rtnl()) as rt:
            add_veth(rt, veth, net.bridge, pid, mac_for(ip), link_mtu, big_tcp=net.big_tcp, peer=ifname)
        configure_inside(pid, ip, net.prefixlen, None, ifname=ifname, ip6=ip6, prefixlen6=net.prefixlen6)
        if net.name != DEFAULT_NAME:
            lines = peer_lines(store, net, cid)
            if lines and os.path.exists(own_hosts):
                with open(own_hosts, "a") as f:
                    f.write("".join(lines))
            peers = announce(paths, net, cid, line)
        ipam = {"IPv4Address": ip} if fixed else None
        settings.setdefault("Networks", {})[net.name] = endpoint_settings(net, cid, ip, list(aliases), ipam, ip6=ip6)
        _update_settings(paths, cid, settings)
        done = True
    finally:
        if not done:
            unannounce(peers, line)
            with store.lock():
                live = live_endpoints(cdir)
                if live.pop(net.name, None) is not None:
                    write_live(cdir, live)
            if os.path.exists(f"/sys/class/net/{veth}"):
                with contextlib.closing(Rtnl()) as rt:
                    remove_link(rt, veth)
            if ip6:
                store.release(net.name, ip6, cid)
            store.release(net.name, ip, cid)


def _update_settings(paths: Paths, cid: str, settings: dict[str, Any]) -> None:
    from nsrun import update_container_info
    update_container_info(paths, cid, {"NetworkSettings": settings})


def disconnect_running(paths: Paths, c: dict, net: Network) -> None:
    """Detach running container ``c`` from ``net``: the endpoint ``connect_running`` added, or the one it
    started with (its veth deleted, taking its routes; its lease released; its hosts lines removed)."""
    cid, name = c["id"], c["name"]
    settings = _settings(c)
    if net.name not in (settings.get("Networks") or {}):
        raise ConfigError(f"container {cid} is not connected to network {net.name}")
    store, cdir = NetworkStore(paths), paths.container_dir(cid)
    with store.lock():
        live = live_endpoints(cdir)
        ep = live.pop(net.name, None)
        write_live(cdir, live)
    if ep is None:  # the network it started with
        if settings.get("Ports"):
            raise ConfigError(f"disconnecting {name} from {net.name}, where it publishes ports, is not supported "
                              f"by nsrun: stop it first")
        ip = _lease_of(store, net, cid) or settings["Networks"][net.name].get("IPAddress") or ""
        aliases = [a for a in settings["Networks"][net.name].get("Aliases") or [] if a != cid[:12]]
        ep = {"ip": ip, "veth": veth_name(paths.tag, cid), "aliases": aliases,
              "ip6": store.lease6_of(net.name, cid) if net.subnet6 else ""}
    _remove(paths, store, net, cid, name, ep)
    settings["Networks"].pop(net.name, None)
    if settings.get("IPAddress") == ep["ip"]:  # the top-level fields describe the network it started with
        settings.update({"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "", "Bridge": ""})
        if "GlobalIPv6Address" in settings:
            settings.update({"GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": ""})
    _update_settings(paths, cid, settings)


def _remove(paths: Paths, store: NetworkStore, net: Network, cid: str, name: str, ep: dict, wait: bool = False) -> None:
    """Undo one endpoint: peers' hosts lines, the veth (``wait``: give the kernel ``VETH_WAIT`` to delete it
    with a dying namespace first), the peers' lines in the container's own file, the lease."""
    from .netlink import remove_link
    from .rtnl import Rtnl
    line = hosts_line(ep["ip"], name, list(ep.get("aliases") or []), ep.get("ip6") or "")
    if net.name != DEFAULT_NAME:
        peers = [os.path.join(paths.container_dir(lease["id"]), "hosts")
                 for lease in store.leases(net.name).values() if lease.get("id") and lease.get("id") != cid]
        unannounce(peers, line)
        own = [os.path.join(paths.container_dir(cid), "hosts")]
        for peer_line in peer_lines(store, net, cid):
            unannounce(own, peer_line)
    link = f"/sys/class/net/{ep.get('veth')}"
    if ep.get("veth") and os.path.exists(link) and not (wait and _gone(link, VETH_WAIT)):
        with contextlib.closing(Rtnl()) as rt:
            remove_link(rt, ep["veth"])
    if ep.get("ip6"):
        store.release(net.name, ep["ip6"], cid)
    if ep.get("ip"):
        store.release(net.name, ep["ip"], cid)


def undo_all(paths: Paths, cid: str, name: str) -> None:
    """[teardown] Remove every endpoint ``connect_running`` added to container ``cid`` (its namespace is
    going or gone: the kernel deletes most veths itself). Safe to call twice; a missing file is nothing."""
    cdir = paths.container_dir(cid)
    if not os.path.exists(os.path.join(cdir, LIVE_FILE)):
        return
    store = NetworkStore(paths)
    with store.lock():
        live = live_endpoints(cdir)
        write_live(cdir, {})
    for net_name, ep in live.items():
        net = store.get(net_name) if net_name != DEFAULT_NAME else store.resolve(net_name)
        if net is not None and isinstance(ep, dict):
            _remove(paths, store, net, cid, name, ep, wait=True)

