"""``nsrun network create|ls|rm|inspect``: user-defined bridge networks (imported only when invoked)."""
from __future__ import annotations

import json

import click

from nsrun import ConfigError, Paths, format_table

from .ipam import DEFAULT_NAME, NetworkStore

__all__ = ["network", "port"]


def _store(ctx: click.Context) -> NetworkStore:
    root = ctx.find_root().obj.root if ctx.find_root().obj is not None else None
    return NetworkStore(Paths.from_root(root))


@click.group()
def network() -> None:
    """Manage networks (user-defined bridges)."""


@network.command()
@click.option("--subnet", "subnets", multiple=True, metavar="CIDR",
              help="Subnet, e.g. 10.101.0.0/24 (default: a free one); with --ipv6 also an IPv6 one, e.g. fd00:1::/64")
@click.option("--gateway", "gateways", multiple=True, metavar="IP",
              help="The bridge's address in a subnet (default: the first of the subnet)")
@click.option("--ipv6", is_flag=True, help="Dual-stack: IPv6 addresses from the IPv6 --subnet (required)")
@click.option("-d", "--driver", default="bridge", help="Only 'bridge'")
@click.option("-o", "--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="Driver option: nsrun.bridge.big_tcp=true|false (see `nsrun network --help`)")
@click.option("--internal", is_flag=True, help="No access from the network to the outside (no masquerade, no "
                                               "forwarding out of its bridge, no default route; ports not published)")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Set metadata on the network")
@click.argument("name")
@click.pass_context
def create(ctx: click.Context, subnets: tuple[str, ...], gateways: tuple[str, ...], ipv6: bool, driver: str,
           opts: tuple[str, ...], internal: bool, labels: tuple[str, ...], name: str) -> None:
    """Create a network. Its bridge appears with the first container that joins it.

    Option nsrun.bridge.big_tcp (default false): true makes containers on it send IPv4 BIG TCP
    super-packets, so TCP from them to the host and to each other runs ~2.5x faster at the host's MTU, but
    what they send out of the host through an uplink without BIG TCP (most NICs) is cut to the MTU in
    software, at about half the speed."""
    if driver != "bridge":
        raise ConfigError(f"plugin {driver!r} not found: only the bridge driver exists")
    from .ipam import split_families
    if gateways and not subnets:
        raise ConfigError("--gateway needs --subnet")
    ipam = split_families([(s, None) for s in subnets] + [(None, g) for g in gateways])
    options = {}
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq or not key:
            raise ConfigError(f"invalid option {opt!r}: expected KEY=VALUE")
        options[key] = value
    label_map = {}
    for item in labels:
        key, _, value = item.partition("=")
        if not key:
            raise ConfigError(f"invalid label {item!r}: expected KEY[=VALUE]")
        label_map[key] = value
    net = _store(ctx).create(name, ipam["subnet"], ipam["gateway"], options=options, labels=label_map,
                             internal=internal, ipv6=ipv6, subnet6=ipam["subnet6"], gateway6=ipam["gateway6"])
    click.echo(net.id)


@network.command(name="ls")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
def ls(ctx: click.Context, quiet: bool) -> None:
    """List networks."""
    store = _store(ctx)
    nets = store.list()
    if not any(n.name == DEFAULT_NAME for n in nets):
        nets.insert(0, store.resolve(DEFAULT_NAME))
    rows = [("NETWORK ID", "NAME", "DRIVER", "SUBNET", "BRIDGE")]
    rows += [(n.id[:12], n.name, "bridge", ",".join(filter(None, (n.subnet, n.subnet6))), n.bridge) for n in nets]
    if quiet:
        rows = [(r[0],) for r in rows[1:]]
    if rows:
        click.echo(format_table(rows))


@network.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Remove networks (refused while a container uses one, and for the pre-defined ones)."""
    from .daemon_api import network_remove
    store = _store(ctx)
    for name in names:
        network_remove(store.paths, name)
        click.echo(name)


@network.command()
@click.option("-f", "--force", is_flag=True, help="Do not ask (the default)")
@click.option("--filter", "filters", multiple=True, metavar="until=TIME|label=K[=V]|label!=K[=V]")
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove every user-defined network no container uses."""
    from nsrun import filter_items

    from .daemon_api import PRUNE_FILTERS, network_prune
    removed = network_prune(_store(ctx).paths, filter_items(filters, PRUNE_FILTERS))
    if removed:
        click.echo("Deleted Networks:\n" + "\n".join(removed))


@network.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Show networks as JSON (Docker's shape: Name, Id, Driver, IPAM, Containers)."""
    from .daemon_api import network_inspect
    store = _store(ctx)
    click.echo(json.dumps([network_inspect(store.paths, name) for name in names], indent=4))


@network.command()
@click.option("--ip", metavar="IPV4", help="The container's address on the network (user-defined networks)")
@click.option("--alias", "aliases", multiple=True, metavar="NAME", help="A name it is found by on the network")
@click.argument("name")
@click.argument("container")
@click.pass_context
def connect(ctx: click.Context, ip: str | None, aliases: tuple[str, ...], name: str, container: str) -> None:
    """Connect a container to a network: a running one now (a new interface, eth1...), a created or stopped
    one at its next start."""
    from .endpoints import check_aliases, connect as do_connect
    do_connect(_store(ctx).paths, name, container, check_aliases(list(aliases), "--alias"), ip)


@network.command()
@click.option("-f", "--force", is_flag=True, help="Also drop a network removed meanwhile from a stopped container")
@click.argument("name")
@click.argument("container")
@click.pass_context
def disconnect(ctx: click.Context, force: bool, name: str, container: str) -> None:
    """Disconnect a container from a network (a running one at once: its interface and routes go)."""
    from .endpoints import disconnect as do_disconnect
    do_disconnect(_store(ctx).paths, name, container, force=force)


@click.command()
@click.argument("container")
@click.argument("private_port", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
@click.pass_context
def port(ctx: click.Context, container: str, private_port: str | None) -> None:
    """List a container's published ports (Docker's `port`): `80/tcp -> 0.0.0.0:32768`."""
    state = ctx.find_root().obj
    info = state.engine.inspect(container).get("Info") or {}
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if private_port is not None:
        number, _, proto = private_port.partition("/")
        key = f"{number}/{proto or 'tcp'}"
        if key not in ports:
            raise ConfigError(f"No public port '{key}' published for {container}")
        for binding in ports[key]:
            click.echo(f"{binding['HostIp']}:{binding['HostPort']}")
        return
    for key, bindings in ports.items():
        for binding in bindings:
            click.echo(f"{key} -> {binding['HostIp']}:{binding['HostPort']}")
