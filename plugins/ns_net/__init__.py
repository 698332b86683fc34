"""Network namespace and network modes (plugin ``net``): ``--network bridge|none|host|container:NAME|NETWORK``
and ``-p`` publishing. Port publishing and masquerade are a firewall backend's work (plugins ``nft``, the
default, or ``iptables``, or a third party's), reached through the ``net_firewall_backend`` hook
(``nsrun_ns_net.hookspecs``).

Modes: ``none`` a new netns with only ``lo`` up; ``host`` no netns; ``ns:PATH`` joins the network namespace
at PATH (``/run/netns/NAME``, ``/proc/PID/ns/net``: what an engine that manages networking itself hands over, an
OCI ``network`` namespace entry with a ``path``; in the child, before pivot_root); ``container:NAME`` joins that running
container's netns (in the child, before pivot_root, through the host's /proc); ``bridge`` (default) or a
user-defined network: a veth pair on the network's bridge, an address from IPAM (``ipam``), the bridge as
gateway. Starts speak rtnetlink through the stdlib-only ``rtnl``; pyroute2 is imported only by ``gc``/``system
reset`` and ``network rm``.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False  # no typing import at run time (it imports re): nsrun-oci delete imports this
if TYPE_CHECKING:
    from typing import Any

from nsrun import (CLONE_NEWNET, ConfigError, Fields, NotFoundError, Option, Paths, RunContext, StashKey,
                   find_container, hookimpl, process_start_time)

DEFAULT_NAME = "bridge"  # the default network (ipam.DEFAULT_NAME); ipam and ports load only when used


def NetworkStore(paths: Paths) -> Any:  # noqa: N802 - a lazy alias of ipam.NetworkStore
    from .ipam import NetworkStore as store
    return store(paths)

DEFAULT = True
ORDER = 40
HOOKSPECS = "nsrun_ns_net.hookspecs"
COMMANDS = {"network": "nsrun_ns_net.cli:network", "port": "nsrun_ns_net.cli:port"}
OPTIONS = [
    Option(("--network", "--net"), "network", metavar="MODE",
           help="bridge (default), none, host, container:NAME, ns:PATH, or a network's name"),
    Option(("--network-alias",), "network_aliases", multiple=True, metavar="NAME",
           help="Add a name the container is found by on its user-defined network"),
    Option(("--ip",), "ip", metavar="IPV4", help="Give the container this address on its user-defined network"),
    Option(("--ip6",), "ip6", metavar="IPV6", help="Give the container this IPv6 address on its dual-stack network"),
    Option(("--mac-address",), "mac_address", metavar="MAC", help="Set the MAC address of the container's eth0"),
    Option(("--link",), "links", multiple=True, metavar="NAME[:ALIAS]",
           help="Add a running container's address to /etc/hosts under its name and ALIAS (legacy links)"),
    Option(("-p", "--publish"), "publish", multiple=True, metavar="[IP:]HOST:CTR[/PROTO]",
           help="Publish a container's port on the host"),
    Option(("--expose",), "expose", multiple=True, metavar="PORT[/PROTO]",
           help="Record a port the container listens on (shown by inspect; published only by -P)"),
    Option(("-P", "--publish-all"), "publish_all", is_flag=True,
           help="Publish every exposed port (the image's EXPOSE and --expose) to a free host port"),
    Option(("--add-host",), "add_hosts", multiple=True, metavar="NAME:IP",
           help="Add a line to /etc/hosts (IP may be host-gateway: the host's address on the bridge)"),
    Option(("--dns",), "dns", multiple=True, metavar="IP", help="Set a nameserver of /etc/resolv.conf"),
    Option(("--dns-search",), "dns_search", multiple=True, metavar="DOMAIN",
           help="Set a search domain of /etc/resolv.conf ('.': none)"),
    Option(("--dns-option",), "dns_options", multiple=True, metavar="OPT",
           help="Set an options entry of /etc/resolv.conf (ndots:2, ...)"),
    Option(("--sysctl",), "net_sysctls", multiple=True, keys=("net.*",), metavar="KEY=VALUE",
           help="Set a namespaced kernel parameter (net.*: the container's own network namespace)"),
]


class Plan(Fields):
    """What ``configure`` decided: the mode (none | host | container | bridge); for bridge mode the network's
    name and the ports (``ports.PortSpec``); for container mode the joined container's (pid, start time)."""

    __slots__ = ("mode", "network", "ports", "target", "aliases", "extra_hosts", "resolv_conf", "fixed", "extras")
    _defaults = {"network": "", "ports": list, "target": None, "aliases": list, "extra_hosts": list,
                 "resolv_conf": None, "fixed": None, "extras": list}
    mode: str
    network: str
    ports: list[Any]
    target: tuple[int, int] | None
    extra_hosts: list[tuple[str, str]]  # --add-host (NAME, IP or host-gateway)
    resolv_conf: str | None             # --dns, --dns-search, --dns-option: the file's text
    fixed: Any                          # bridge mode: fixed.Fixed (--ip, --ip6, --mac-address, --link)
    extras: list[Any]                   # bridge mode: (Network, aliases, ip) of the endpoints after the first


PLAN_KEY = StashKey[Plan]()


FIREWALL_KEY: StashKey[Any] = StashKey()


def _firewall(ctx: RunContext) -> Any:
    """The selected backend's Firewall, one per run (a libnftables context costs ~3 ms to make and free)."""
    fw = ctx.stash.get(FIREWALL_KEY)
    if fw is None:
        from .firewall import installed_firewalls, selected_firewall  # bridge mode only
        fw = selected_firewall(ctx.hook, ctx.paths)
        if fw is None:
            names = ", ".join(backend.name for backend in installed_firewalls(ctx.paths))
            raise ConfigError(f"bridge networking needs a firewall backend: add one of {names} to --plugins")
        ctx.stash[FIREWALL_KEY] = fw
    return fw


def _exposed(items: Any) -> list[str]:
    """``--expose 80``, ``80/udp``, ``8000-8002`` -> ``["80/tcp", ...]`` (validated, Docker's forms)."""
    out = []
    for item in items or ():
        port, _, proto = str(item).partition("/")
        first, _, last = port.partition("-")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp", "sctp") or not first.isdigit() or (last and not last.isdigit()) \
                or not 0 < int(first) <= int(last or first) <= 65535:
            raise ConfigError(f"invalid --expose {item!r}: expected PORT[-PORT][/PROTO]")
        out.extend(f"{p}/{proto}" for p in range(int(first), int(last or first) + 1))
    return out


def _publish_all(exposed: list[str], specs: list[Any]) -> list[Any]:
    """``-P``: a free host port on 0.0.0.0 for each exposed ``PORT/PROTO`` that no ``-p`` publishes already
    (Docker's); protocols ``-p`` cannot publish (sctp) are left exposed only."""
    from .ports import PROTOCOLS, PortSpec
    taken = {(s.ctr_port, s.proto) for s in specs}
    out = []
    for item in exposed:
        port, _, proto = item.partition("/")
        key = (int(port), proto or "tcp")
        if key[1] in PROTOCOLS and key not in taken:
            taken.add(key)
            out.append(PortSpec(key[1], "0.0.0.0", 0, key[0]))
    return out


@hookimpl
def configure(ctx: RunContext) -> None:
    _configure(ctx)
    _names(ctx, ctx.stash[PLAN_KEY])


def _names(ctx: RunContext, plan: Plan) -> None:
    """``--add-host`` and the DNS options: checked and kept in the plan; refused where Docker does (a joined
    container's network: its files are that container's)."""
    if not any(ctx.options.get(k) for k in ("add_hosts", "dns", "dns_search", "dns_options")):
        plan.extra_hosts = []  # what the checks give for none (without importing ipaddress and re: ~4 ms)
        return
    from . import names
    hosts = names.extra_hosts(ctx.options.get("add_hosts"))
    dns = names.check_dns(ctx.options.get("dns"))
    search = names.check_search(ctx.options.get("dns_search"))
    options = names.check_options(ctx.options.get("dns_options"))
    if plan.mode == "container":
        if hosts:
            raise ConfigError("conflicting options: custom host-to-IP mapping and the network mode")
        if dns or search or options:
            raise ConfigError("conflicting options: dns and the network mode")
    plan.extra_hosts = hosts
    if dns or search or options:
        try:
            with open("/etc/resolv.conf") as f:
                host_text = f.read()
        except OSError:
            host_text = ""
        plan.resolv_conf = names.resolv_conf(host_text, dns, search, options)


def _configure(ctx: RunContext) -> None:
    exposed = list(ctx.spec.config.get("ExposedPorts") or ())  # the image's EXPOSE (the core's record)
    if ctx.options.get("expose"):
        ctx.spec.options["expose"] = _exposed(ctx.options["expose"])
        exposed += [p for p in ctx.spec.options["expose"] if p not in exposed]
        ctx.spec.config["ExposedPorts"] = {port: {} for port in exposed}  # inspect shows them together
    from .endpoints import check_aliases, endpoint_of
    mode, aliases = endpoint_of(ctx.options, ctx.container_dir)
    aliases = check_aliases(aliases, "--network-alias")
    if aliases and (mode in ("none", "host", DEFAULT_NAME) or mode.startswith(("container:", "ns:"))):
        raise ConfigError("network-scoped alias is supported only for containers in user defined networks")
    if ctx.options.get("net_sysctls"):
        _sysctls(ctx)
        if mode == "host" or mode.startswith("container:"):
            raise ConfigError(f"--sysctl net.*: not allowed with --network {mode}: that network namespace is "
                              f"not the container's own")
    specs = []
    if ctx.options.get("publish"):
        from .ports import parse_publish
        specs = [parse_publish(p) for p in ctx.options["publish"]]
    if ctx.options.get("publish_all"):
        specs += _publish_all(exposed, specs)
    fixed = None
    if any(ctx.options.get(k) for k in ("ip", "ip6", "mac_address", "links")):
        from .fixed import check_fixed  # refused off a bridge network by name, before anything exists
        fixed = check_fixed(ctx, mode, addresses=mode == (ctx.options.get("network") or "bridge"))
    if mode in ("none", "host"):
        if specs:
            ctx.warnings.append(f"Published ports are discarded when using {mode} network mode")
        ctx.stash[PLAN_KEY] = Plan(mode)
        return
    if mode.startswith("ns:"):
        path = mode[3:]
        if specs:
            raise ConfigError("conflicting options: port publishing and a joined network namespace (ns:PATH)")
        if not os.path.isabs(path) or not os.path.exists(path):
            raise ConfigError(f"network namespace {path}: no such file or directory")
        ctx.stash[PLAN_KEY] = Plan("path", network=path)
        return
    if mode.startswith("container:"):
        ref = mode.partition(":")[2]
        if specs:
            raise ConfigError("conflicting options: port publishing and the container type network mode")
        try:
            target = find_container(ctx.paths, ref) if ref else None
        except NotFoundError:
            target = None
        if target is None or target["pid"] is None:
            raise ConfigError(f"cannot join network of container {ref!r}: "
                              f"{'it is not running' if target else 'no such container'}")
        ctx.stash[PLAN_KEY] = Plan("container", target=(target["pid"], target["pid_start"]))
        return
    store = NetworkStore(ctx.paths)
    net = store.get(mode) if mode != DEFAULT_NAME else None
    if mode != DEFAULT_NAME and net is None:
        raise ConfigError(f"network {mode} not found")
    if net is not None and net.internal and specs:  # dockerd accepts them and publishes nothing: say so
        ctx.warnings.append(f"Published ports are discarded when using the internal network {mode}")
        specs = []
    _firewall(ctx)  # bridge mode cannot work without a backend: say so before anything exists
    seen: set[tuple[str, int]] = set()
    for spec in specs:
        if spec.host_port:
            key = (spec.proto, spec.host_port)
            if key in seen:
                raise ConfigError(f"host port {spec.host_port}/{spec.proto} is published twice")
            seen.add(key)
            if (why := store.port_conflict(spec.proto, spec.host_ip, spec.host_port)) is not None:
                raise ConfigError(why)
    if fixed is not None:
        fixed.check_network(net)
    ctx.stash[PLAN_KEY] = Plan("bridge", mode, specs, aliases=aliases, fixed=fixed,
                               extras=_extras(ctx, store, mode))


def _extras(ctx: RunContext, store: Any, mode: str) -> list[Any]:
    """The networks ``network connect`` added to the container's config, each checked to exist (a removed
    one fails the start by name, as dockerd's does, before anything exists)."""
    from .endpoints import extra_endpoints
    out = []
    for name, aliases, ip in extra_endpoints(ctx.options, ctx.container_dir):
        net = store.resolve(name) if name == DEFAULT_NAME else store.get(name)
        if net is None or net.name == mode:
            raise ConfigError(f"network {name} not found")
        out.append((net, aliases, ip))
    return out


@hookimpl
def pre_clone(ctx: RunContext) -> int:
    plan = ctx.stash[PLAN_KEY]
    if ctx.container_dir:  # what `network connect` added to an earlier run, left by a kill -9 (gc released it)
        try:
            os.unlink(os.path.join(ctx.container_dir, "net-live.json"))
        except FileNotFoundError:
            pass
    if ctx.container_dir and os.path.exists(os.path.join(ctx.container_dir, "net-endpoints.json")):
        from .endpoints import endpoints_of  # keep what connect chose (inspect shows it while stopped)
        ctx.info["NetworkEndpoints"] = endpoints_of(ctx.options, ctx.container_dir)
    if plan.resolv_conf is not None:
        ctx.resolv_conf = plan.resolv_conf
    at = len(ctx.hosts)  # the extra hosts go after localhost and before the container's own address (Docker's)
    net = None
    if plan.mode == "bridge":
        from . import bridge
        store = NetworkStore(ctx.paths)
        net = store.resolve(plan.network)
        bridge.reserve(ctx, store, net, _firewall(ctx), plan.ports, plan.aliases, plan.fixed)
        if plan.extras:
            from . import extra
            extra.reserve(ctx, store, _firewall(ctx), plan.extras)
    if plan.extra_hosts:
        ctx.hosts[at:at] = [(_host_gateway(ctx, net) if ip == "host-gateway" else ip, name)
                            for name, ip in plan.extra_hosts]
    return CLONE_NEWNET if plan.mode in ("none", "bridge") else 0


def _host_gateway(ctx: RunContext, net: Any) -> str:
    """``host-gateway``: the host's address on the container's bridge; off a bridge, on the default one (as
    Docker's is docker0's address whatever the network mode)."""
    return (net or NetworkStore(ctx.paths).resolve(DEFAULT_NAME)).gateway


@hookimpl
def post_start(ctx: RunContext, pid: int) -> None:
    plan = ctx.stash[PLAN_KEY]
    if plan.mode == "bridge":
        from . import bridge
        bridge.wire(ctx, pid, _firewall(ctx))
        if plan.extras:
            from . import extra
            extra.wire(ctx, pid)
    elif plan.mode in ("container", "path"):
        ctx.info["NetworkSettings"] = {"NetworkMode": ctx.options.get("network")}
    else:
        ctx.info["NetworkSettings"] = {"NetworkMode": plan.mode}


@hookimpl
def in_child(ctx: RunContext) -> None:
    """[child] ``none``: bring ``lo`` up; ``container:``: join the target's netns (host /proc still mounted)."""
    plan = ctx.stash[PLAN_KEY]
    if plan.mode in ("none", "bridge"):
        from nsrun import syscalls
        for key, value in _sysctls(ctx):
            syscalls.write_sysctl(key, value)
    if plan.mode == "none":
        _lo_up()
    elif plan.mode == "path":
        from nsrun import syscalls
        fd = os.open(plan.network, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
        for key, value in _sysctls(ctx):  # the engine's namespace for this container: its sysctls are ours
            syscalls.write_sysctl(key, value)
    elif plan.mode == "container" and plan.target is not None:
        from nsrun import syscalls
        pid, start = plan.target
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if process_start_time(pid) != start:
                raise ConfigError("the container whose network was to be joined has exited")
            syscalls.setns(fd, CLONE_NEWNET)
            # Again after joining: had it exited in between, its teardown may have left its veth to the
            # kernel (bridge.netns_in_use saw no one here yet); failing now lets the namespace go.
            if process_start_time(pid) != start:
                raise ConfigError("the container whose network was to be joined has exited")
        finally:
            os.close(fd)


def _sysctls(ctx: RunContext) -> list[tuple[str, str]]:
    """``--sysctl net.*`` items (``HostConfig.Sysctls``), written by the child in its own network namespace."""
    from nsrun import syscalls
    try:
        return [syscalls.parse_sysctl(item) for item in ctx.options.get("net_sysctls") or ()]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _lo_up() -> None:
    import _socket  # the C module: socket.py's enum set-up would be paid in the child
    import fcntl
    import struct
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS |= IFF_UP
    finally:
        s.close()


@hookimpl
def teardown(ctx: RunContext) -> None:
    plan = ctx.stash.get(PLAN_KEY)
    if plan is not None and plan.mode == "bridge":
        from . import bridge
        from .firewall import selected_firewall
        fw = ctx.stash.get(FIREWALL_KEY) or selected_firewall(ctx.hook, ctx.paths)
        bridge.undo(ctx, NetworkStore(ctx.paths), fw)
        if ctx.container_dir and os.path.exists(os.path.join(ctx.container_dir, "net-live.json")):
            from .attach import undo_all  # endpoints `network connect` added while it ran
            undo_all(ctx.paths, ctx.spec.id, ctx.spec.name)


@hookimpl
def docker_create(fields: Any) -> dict[str, Any]:
    from .docker_fields import from_docker
    return from_docker(fields)


@hookimpl
def docker_view(options: dict[str, Any], info: dict[str, Any], view: dict[str, Any]) -> None:
    from .docker_fields import into_view
    into_view(options, info, view)


@hookimpl
def docker_info(info: dict[str, Any]) -> None:
    info["Plugins"]["Network"].extend(["bridge", "host", "null"])


@hookimpl
def event_objects(paths: Paths) -> list[dict[str, Any]]:
    """Networks for ``/events``: created/destroyed, connected to (members: the containers holding a lease)."""
    store = NetworkStore(paths)
    return [{"Type": "network", "ID": net.id, "Attributes": {"name": net.name, "type": "bridge",
                                                            **dict(net.labels or {})},
             "members": {lease["id"]: {} for lease in store.leases(net.name).values() if lease.get("id")},
             "join": "connect", "leave": "disconnect"} for net in store.list()]


@hookimpl
def daemon_routes() -> list[Any]:
    from .docker_fields import routes
    return routes()


@hookimpl
def preload() -> None:
    from .netlink import preload as netlink_preload
    netlink_preload()


@hookimpl
def gc(paths: Paths, live: set[str], reset: bool) -> list[str]:
    from .reconcile import collect
    return collect(paths, live, reset)


_NOTHING_ON_THE_HOST = ("host", "none")  # and ns:PATH, container:NAME: someone else's namespace


@hookimpl
def collect(paths: Paths, cid: str, info: dict[str, Any]) -> list[str] | None:
    """Only a bridged container leaves something on the host (its lease, ports, a veth end); one whose record
    says it had the host's network, none, or someone else's namespace made nothing. Otherwise (bridged, or a
    creation cut short before it recorded its mode) ``gc`` of what is this container's alone."""
    mode = str(((info.get("NetworkSettings") or {}).get("NetworkMode")) or "")
    if mode in _NOTHING_ON_THE_HOST or mode.startswith(("ns:", "container:")):
        return None
    from nsrun import list_containers
    from .reconcile import collect as reconcile
    return reconcile(paths, frozenset(c["id"] for c in list_containers(paths) if c["id"] != cid), False)


@hookimpl
def oci_config(fields: Any) -> dict[str, Any] | None:
    """A ``network`` namespace without a path is an empty one: nsrun's ``none`` mode; with a ``path`` (an
    engine that manages networking itself) it is joined: ``ns:PATH``. ``linux.sysctl`` ``net.*`` too."""
    namespaces = fields.take_items("linux.namespaces", "network", by="type")
    paths = [ns["path"] for ns in namespaces if ns.get("path")]
    out: dict[str, Any] = {"network": f"ns:{paths[0]}" if paths else "none"} if namespaces else {"network": "host"}
    entries = fields.take_entries("linux.sysctl", lambda key: key.startswith("net."))
    if any(not isinstance(v, str) for v in entries.values()):
        raise ConfigError("config.json: linux.sysctl: values must be strings")
    if entries:
        out["net_sysctls"] = [f"{k}={v}" for k, v in entries.items()]
    return out
