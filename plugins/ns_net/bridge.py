"""Bridge mode, host side: the steps the net plugin's hooks call, each recording in ``ctx.stash`` only what
exists, and the matching undo. Kernel work goes through ``netlink`` (over ``rtnl``: no pyroute2 on this path).
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from nsrun import RunContext, StashKey

from .firewall import Firewall
from .ipam import DEFAULT_NAME, Network, NetworkStore, veth_name
from .ports import Binding, PortSpec, docker_ports, format_ports

__all__ = ["reserve", "wire", "undo", "ensure_network", "netns_in_use", "endpoint_settings", "announce",
           "unannounce", "hosts_line", "RTNL_KEY", "LEASE_KEY", "PORTS_KEY", "VETH_KEY", "NETNS_KEY", "PUBLISHED_KEY"]

RTNL_KEY = StashKey[Any]()                    # the open rtnl.Rtnl socket (closed by wire and undo)
LEASE_KEY = StashKey[tuple[Network, str]]()    # (network, address) leased
LEASE6_KEY = StashKey[str]()                   # a dual-stack network's IPv6 address leased (same network)
PORTS_KEY = StashKey[list[Binding]]()          # host ports reserved (journal files written)
VETH_KEY = StashKey[str]()                     # host side of the veth pair, created
NETNS_KEY = StashKey[tuple[int, int]]()        # (st_dev, st_ino) of the container's network namespace
PUBLISHED_KEY = StashKey[list[Binding]]()      # DNAT elements/rules in place
HOSTS_KEY = StashKey[list[str]]()              # other containers' hosts files we added a line to
FIXED_KEY = StashKey[Any]()                    # fixed.Fixed: --ip/--ip6/--mac-address/--link of the create


def _rtnl(ctx: RunContext) -> Any:
    rt = ctx.stash.get(RTNL_KEY)
    if rt is None:
        from .rtnl import Rtnl
        rt = Rtnl()
        ctx.stash[RTNL_KEY] = rt
    return rt


def ensure_ip_forward(store: NetworkStore) -> None:
    """Turn ``net.ipv4.ip_forward`` on if it is off, remembering that this root did (reset restores it)."""
    _ensure_forward(store, "/proc/sys/net/ipv4/ip_forward", ".ip_forward-was-0")


IPV6_FORWARD = "/proc/sys/net/ipv6/conf/all/forwarding"
IPV6_MARKER = ".ipv6_forward-was-0"


def _ensure_forward(store: NetworkStore, path: str, marker: str) -> None:
    with open(path) as f:
        if f.read().strip() == "1":
            return
    os.makedirs(store.dir, exist_ok=True)
    with open(os.path.join(store.dir, marker), "w"):
        pass
    with open(path, "w") as f:
        f.write("1")


def ensure_network(rt: Any, store: NetworkStore, net: Network, fw: Firewall) -> None:
    """The bridge, its address, the firewall's per-network rules, forwarding: all idempotent."""
    from .netlink import ensure_bridge, link_mtus
    with store.lock():  # concurrent first starts: one creates the bridge and the chains, the others see them
        ensure_bridge(rt, net.bridge, net.gateway, net.prefixlen, link_mtus()[0], net.subnet6 and net.gateway6,
                      net.prefixlen6)
        fw.setup_network(net)
        ensure_ip_forward(store)
        if net.subnet6:  # as dockerd with ip6tables: the host routes IPv6 (reset turns it back off)
            _ensure_forward(store, IPV6_FORWARD, IPV6_MARKER)


ALIASES_KEY = StashKey[list]()                # the container's aliases on its network (plan.aliases)


def _names(lease: dict) -> str:
    """The names a lease is found by on its network: the container's name, then its aliases."""
    return " ".join(dict.fromkeys(n for n in [lease.get("name"), *(lease.get("aliases") or [])] if n))


def reserve(ctx: RunContext, store: NetworkStore, net: Network, fw: Firewall, specs: list[PortSpec],
            aliases: list[str] = (), fixed: Any = None) -> None:
    """[pre_clone] Bridge ready, an address leased, host ports reserved; /etc/hosts entries contributed.
    ``fixed`` (``fixed.Fixed``): the addresses and MAC asked for, the links' hosts lines."""
    ensure_network(_rtnl(ctx), store, net, fw)
    want, want6 = (fixed.ip, fixed.ip6) if fixed is not None else (None, None)
    ip = store.allocate(net, ctx.spec.id, ctx.spec.name, list(aliases), ip=want, fixed=want is not None)
    ctx.stash[LEASE_KEY] = (net, ip)
    ip6 = ""
    if net.subnet6:
        ip6 = store.allocate6(net, ctx.spec.id, ctx.spec.name, list(aliases), ip=want6, fixed=want6 is not None)
        ctx.stash[LEASE6_KEY] = ip6
    if fixed is not None:
        ctx.stash[FIXED_KEY] = fixed
    ctx.stash[ALIASES_KEY] = list(aliases)
    if specs:
        ctx.stash[PORTS_KEY] = store.reserve_ports(ctx.spec.id, net.name, specs, ip, fw.name, ip6)
    names = " ".join(dict.fromkeys(n for n in (ctx.hostname, ctx.spec.name, *aliases) if n))
    ctx.hosts.append((ip, names or ctx.spec.id[:12]))
    if ip6:
        ctx.hosts.append((ip6, names or ctx.spec.id[:12]))
    if fixed is not None:
        ctx.hosts.extend(fixed.hosts)  # legacy links
    if net.name != DEFAULT_NAME:  # user-defined networks resolve container names (Docker's embedded DNS)
        others = sorted(store.leases(net.name).items()) + sorted(store.leases6(net.name).items())
        for other_ip, lease in others:
            if lease.get("id") != ctx.spec.id and _names(lease):
                ctx.hosts.append((other_ip, _names(lease)))


def wire(ctx: RunContext, pid: int, fw: Firewall) -> None:
    """[post_start] veth into the child's netns, its address and route, the published ports."""
    from .netlink import add_veth, configure_inside, link_mtus, mac_for
    net, ip = ctx.stash[LEASE_KEY]
    ip6 = ctx.stash.get(LEASE6_KEY, "")
    host = veth_name(ctx.paths.tag, ctx.spec.id)
    fixed = ctx.stash.get(FIXED_KEY)
    mac = (fixed.mac if fixed is not None else None) or mac_for(ip)
    st = os.stat(f"/proc/{pid}/ns/net")
    ctx.stash[NETNS_KEY] = (st.st_dev, st.st_ino)
    link_mtu, route_mtu = link_mtus()
    add_veth(_rtnl(ctx), host, net.bridge, pid, mac, link_mtu, big_tcp=net.big_tcp)
    ctx.stash[VETH_KEY] = host
    configure_inside(pid, ip, net.prefixlen, None if net.internal else net.gateway, route_mtu,  # internal: no way out
                     ip6=ip6, prefixlen6=net.prefixlen6, gateway6=None if net.internal else net.gateway6)
    bindings = ctx.stash.get(PORTS_KEY) or []
    if bindings:
        fw.publish(bindings)
        ctx.stash[PUBLISHED_KEY] = bindings
    ctx.info["Ports"] = format_ports(bindings)
    ctx.info["NetworkSettings"] = {
        "IPAddress": ip, "IPPrefixLen": net.prefixlen, "Gateway": net.gateway, "MacAddress": mac,
        "Bridge": net.bridge, "Ports": docker_ports(bindings), "SandboxKey": f"/proc/{pid}/ns/net",
        "Networks": {net.name: endpoint_settings(net, ctx.spec.id, ip, ctx.stash.get(ALIASES_KEY, []),
                                                 fixed.ipam if fixed is not None else None, ip6=ip6, mac=mac)},
    }
    if ip6:
        ctx.info["NetworkSettings"].update({"GlobalIPv6Address": ip6, "GlobalIPv6PrefixLen": net.prefixlen6,
                                            "IPv6Gateway": net.gateway6})
    if net.name != DEFAULT_NAME and ctx.spec.name:
        ctx.stash[HOSTS_KEY] = announce(ctx.paths, net, ctx.spec.id, _hosts_line(ctx, ip))
    # The supervisor lives as long as the container: do not keep a netlink socket open for all that time;
    # teardown opens a fresh one (a few microseconds) if it needs one.
    if (rt := ctx.stash.pop(RTNL_KEY, None)) is not None:
        rt.close()


def endpoint_settings(net: Network, cid: str, ip: str, aliases: list[str], ipam: dict | None = None,
                      ip6: str = "", mac: str = "") -> dict:
    """One entry of inspect's ``NetworkSettings.Networks`` (Docker's shape; ``ip6`` on a dual-stack one;
    ``mac``: ``--mac-address``, else the one derived from ``ip``)."""
    from .netlink import mac_for
    return {"IPAMConfig": ipam, "Links": None,
            "Aliases": [*aliases, cid[:12]] if net.name != DEFAULT_NAME else None,
            "NetworkID": net.id, "EndpointID": cid, "IPAddress": ip,
            "Gateway": net.gateway, "IPPrefixLen": net.prefixlen, "MacAddress": mac or mac_for(ip),
            "IPv6Gateway": net.gateway6 if ip6 else "", "GlobalIPv6Address": ip6,
            "GlobalIPv6PrefixLen": net.prefixlen6 if ip6 else 0, "DriverOpts": None}


def announce(paths: Any, net: Network, cid: str, line: str) -> list[str]:
    """Append ``line`` (a container's ``IP\tnames``) to the /etc/hosts of the other containers on ``net``
    (bind-mounted files, written in place so their mounts see it); the files written."""
    done = []
    for lease in NetworkStore(paths).leases(net.name).values():
        other = lease.get("id")
        path = os.path.join(paths.container_dir(other), "hosts") if other and other != cid else None
        if path and os.path.exists(path):
            with contextlib.suppress(OSError), open(path, "a") as f:
                f.write(line)
                done.append(path)
    return done


def hosts_line(ip: str, name: str, aliases: list[str], ip6: str = "") -> str:
    """A container's ``/etc/hosts`` line on a network (two lines with a dual-stack network's ``ip6``)."""
    names = _names({'name': name, 'aliases': aliases})
    return f"{ip}\t{names}\n" + (f"{ip6}\t{names}\n" if ip6 else "")


def _hosts_line(ctx: RunContext, ip: str) -> str:
    return hosts_line(ip, ctx.spec.name, ctx.stash.get(ALIASES_KEY, []), ctx.stash.get(LEASE6_KEY, ""))


def unannounce(paths: list[str], line: str) -> None:
    """Remove ``line`` (each line of it) from each hosts file in ``paths`` (in place); what is gone already is
    not an error."""
    drop = set(line.splitlines(keepends=True))
    for path in paths:
        with contextlib.suppress(OSError), open(path, "r+") as f:
            lines = f.readlines()
            kept = [x for x in lines if x not in drop]
            if kept != lines:
                f.seek(0)
                f.write("".join(kept))
                f.truncate()


VETH_WAIT = 0.05  # seconds teardown waits for the kernel to delete a dead namespace's veth before doing it


def _gone(path: str, budget: float) -> bool:
    """Whether ``path`` disappears within ``budget`` seconds (polled every millisecond)."""
    deadline = time.monotonic() + budget
    while os.path.exists(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


def netns_in_use(netns: tuple[int, int]) -> bool:
    """Whether a process still lives in the network namespace ``netns`` (``(st_dev, st_ino)``).

    Called at teardown, once the container's processes are gone. Looks at every process's
    ``/proc/PID/ns/net``: a joiner that enters after this look finds the container dead (it checks again
    after ``setns``) and exits, taking the namespace down with it."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                st = os.stat(f"/proc/{pid}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == netns:
                return True
    return False


def undo(ctx: RunContext, store: NetworkStore, fw: Firewall | None) -> None:
    """[teardown] Reverse of reserve + wire, step by step from the stash; safe to call twice."""
    if (bindings := ctx.stash.pop(PUBLISHED_KEY, None)) and fw is not None:
        fw.unpublish(bindings)
    host = ctx.stash.pop(VETH_KEY, None)
    netns = ctx.stash.pop(NETNS_KEY, None)
    link = f"/sys/class/net/{host}"
    if host and os.path.exists(link) and (netns is None or netns_in_use(netns) or not _gone(link, VETH_WAIT)):
        from .netlink import remove_link
        remove_link(_rtnl(ctx), host)
    # Otherwise the container's last process is gone and so is its network namespace: the kernel deletes
    # the pair with it, in its own worker, in 5-15 ms here (deleting a veth ourselves blocks
    # ~15-30 ms, about a fifth of a whole bridge-mode start). We wait for that, briefly, so that nothing is
    # left when nsrun returns and no freed address is still configured; when the kernel is slower, or a
    # namespace something still holds (a ``--network container:`` joiner, an ``nsenter`` shell) keeps its
    # eth0, the pair is deleted here, as before.
    lease = ctx.stash.get(LEASE_KEY)
    if (hosts := ctx.stash.pop(HOSTS_KEY, None)) and lease:
        unannounce(hosts, _hosts_line(ctx, lease[1]))
    if (bindings := ctx.stash.pop(PORTS_KEY, None)) is not None:
        store.release_ports(ctx.spec.id, bindings)
    # A fixed address (``--ip``/``--ip6``) stays the container's lease while its record exists (Docker's):
    # its next start leases it again, ``gc`` keeps it, ``leases`` drops it once the record is gone (at
    # once with ``--rm``, ``spec.remove``: its record goes right after this teardown).
    fixed = ctx.stash.pop(FIXED_KEY, None)
    if ctx.spec.remove:  # --rm: the record goes now, and the claim with it
        fixed = None
    if (lease := ctx.stash.get(LEASE_KEY)) is not None and (ip6 := ctx.stash.pop(LEASE6_KEY, None)):
        if fixed is None or fixed.ip6 is None:
            store.release(lease[0].name, ip6, ctx.spec.id)
    if (lease := ctx.stash.pop(LEASE_KEY, None)) is not None:
        if fixed is None or fixed.ip is None:
            store.release(lease[0].name, lease[1], ctx.spec.id)
    if (rt := ctx.stash.pop(RTNL_KEY, None)) is not None:
        rt.close()
