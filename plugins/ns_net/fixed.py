"""What a create fixes about a container's endpoint on its bridge network (pure checks, no kernel objects):
``--ip``/``--ip6`` (a fixed address, leased by ``ipam.NetworkStore.allocate(fixed=True)`` and kept across
stops), ``--mac-address`` (its eth0's MAC) and legacy ``--link NAME[:ALIAS]`` (``/etc/hosts`` lines for
running containers on the same network).

Docker's rules, each refused with one line before anything exists (``check_fixed`` in ``configure``, then
``Fixed.check_network`` once the network is known): a fixed address only on a user-defined network (and an
IPv6 one only on a dual-stack one), inside its subnet; a MAC only with a network of the container's own (not
host/container:/ns:), unicast, 6 octets; links not with a joined or the host's network, to an existing running
container on the same network (on the default ``bridge``; on a user-defined network a link is only an alias
of a container there, as Docker's embedded DNS treats it, and a container elsewhere adds nothing).
"""
from __future__ import annotations

from typing import Any

from nsrun import ConfigError, Fields, NotFoundError, RunContext, find_container

__all__ = ["Fixed", "check_fixed", "check_mac", "parse_link"]

USER_ONLY = "user specified IP address is supported on user defined networks only"


class Fixed(Fields):
    """``ip``/``ip6``: the addresses asked for (canonical text) or None; ``mac``: lower-case or None;
    ``links``: ``[(name, alias), ...]`` as given; ``hosts``: the ``(IP, names)`` lines the links add."""

    __slots__ = ("ip", "ip6", "mac", "links", "hosts")
    _defaults = {"ip": None, "ip6": None, "mac": None, "links": list, "hosts": list}
    ip: str | None
    ip6: str | None
    mac: str | None
    links: list[tuple[str, str]]
    hosts: list[tuple[str, str]]

    def check_network(self, net: Any) -> None:
        """``net``: the user-defined network joined (None: the default ``bridge``)."""
        import ipaddress
        if (self.ip or self.ip6) and net is None:
            raise ConfigError(USER_ONLY)
        if self.ip and ipaddress.IPv4Address(self.ip) not in ipaddress.IPv4Network(net.subnet):
            raise ConfigError(f"invalid --ip {self.ip}: no matching subnet of network {net.name} ({net.subnet})")
        if self.ip6 and not net.subnet6:
            raise ConfigError(f"invalid --ip6 {self.ip6}: network {net.name} has no IPv6 subnet (create it with "
                              f"--ipv6 --subnet)")
        if self.ip6 and ipaddress.IPv6Address(self.ip6) not in ipaddress.IPv6Network(net.subnet6):
            raise ConfigError(f"invalid --ip6 {self.ip6}: no matching subnet of network {net.name} ({net.subnet6})")

    @property
    def ipam(self) -> dict[str, str] | None:
        """Inspect's ``IPAMConfig`` of the endpoint (None without a fixed address)."""
        out = {**({"IPv4Address": self.ip} if self.ip else {}), **({"IPv6Address": self.ip6} if self.ip6 else {})}
        return out or None


def check_mac(mac: Any, where: str = "--mac-address") -> str:
    """``02:42:ac:11:00:02`` (or ``-`` separated) -> lower case with ``:``; anything else one line naming it."""
    parts = str(mac).replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise ConfigError(f"{where}: invalid MAC address {mac!r}: expected 6 octets like 02:42:0a:00:00:02")
    if int(parts[0], 16) & 1:
        raise ConfigError(f"{where}: invalid MAC address {mac!r}: a multicast address (the first octet's low bit "
                          f"is set); a container needs a unicast one")
    return ":".join(parts).lower()


def parse_link(text: Any, where: str = "--link") -> tuple[str, str]:
    """``NAME[:ALIAS]`` -> (name, alias); the API's ``/name:/me/alias`` gives the same."""
    name, _, alias = str(text).partition(":")
    name, alias = name.strip("/"), alias.rpartition("/")[2] or name.strip("/")
    if not name or not alias or ":" in alias:
        raise ConfigError(f"{where}: invalid link {text!r}: expected NAME[:ALIAS]")
    return name, alias


def _address(kind: str, text: Any) -> str:
    import ipaddress
    try:
        return str(ipaddress.IPv4Address(text) if kind == "--ip" else ipaddress.IPv6Address(text))
    except ValueError:
        raise ConfigError(f"invalid {kind} {text!r}: not an IPv{'4' if kind == '--ip' else '6'} address") \
            from None


def check_fixed(ctx: RunContext, mode: str, addresses: bool = True) -> Fixed:
    """The create's ``--ip``/``--ip6``/``--mac-address``/``--link``, checked against the network mode.
    ``addresses`` False: ``--ip``/``--ip6`` are left out (they were for the network the create named, which
    ``network disconnect`` has taken out of the container's config)."""
    opts = ctx.options if addresses else {k: v for k, v in ctx.options.items() if k not in ("ip", "ip6")}
    fixed = Fixed(ip=_address("--ip", opts["ip"]) if opts.get("ip") else None,
                  ip6=_address("--ip6", opts["ip6"]) if opts.get("ip6") else None,
                  mac=check_mac(opts["mac_address"]) if opts.get("mac_address") else None,
                  links=[parse_link(item) for item in opts.get("links") or ()])
    own = mode not in ("none", "host") and not mode.startswith(("container:", "ns:"))
    if (fixed.ip or fixed.ip6) and not own:
        raise ConfigError(USER_ONLY)
    if fixed.mac and not own:
        raise ConfigError(f"conflicting options: mac-address and the network mode ({mode})")
    if fixed.links and not own:
        raise ConfigError(f"conflicting options: links and the network mode ({mode})")
    me = ctx.spec.name or ctx.spec.id[:12]
    for name, alias in fixed.links:
        try:
            c = find_container(ctx.paths, name)
        except NotFoundError:
            raise ConfigError(f"could not get container for {name}") from None
        if c["pid"] is None:
            raise ConfigError(f"Cannot link to a non running container: /{c['name']} AS /{me}/{alias}")
        networks = ((c["info"].get("NetworkSettings") or {}).get("Networks") or {})
        ip = (networks.get(mode) or {}).get("IPAddress")
        if not ip and mode == "bridge":
            raise ConfigError(f"Cannot link to /{c['name']}, as it does not belong to the default network")
        if ip:
            fixed.hosts.append((ip, " ".join(dict.fromkeys((alias, c["name"])))))
    return fixed
