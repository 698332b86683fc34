"""nftables rulesets as libnftables JSON commands (pure: data in, lists of commands out).

One table per root, ``ip nsrun{tag}``. Its rules never change after creation; networks and published ports
are elements of sets and maps, so adding the 1000th port costs what adding the first did::

    set bridges   ifname                 nsrun's bridges           set samebr ifname . ifname (br . br)
    set subnets   ipv4_addr (interval)   their subnets (masqueraded; an internal network's is not in it)
    set internal  ifname                 the bridges of ``--internal`` networks: nothing forwarded out of them
    map any_addr  proto . port           : ctr_ip    and any_port : ctr_port   (-p PORT:CTR, every address)
    map ip_addr   host_ip . proto . port : ctr_ip    and ip_port  : ctr_port   (-p IP:PORT:CTR)

A dual-stack network's IPv6 side lives in a second table, ``ip6 nsrun{tag}``, made with the first such network:
the same chains, sets and rules with IPv6 addresses (``skeleton(table, FAMILY6)``), but only the ``any_*`` maps
(a port published on every address is DNAT'd to the container's IPv6 address; ``-p IP:...`` takes IPv4 only)
and no loopback rules (no ``route_localnet`` on IPv6: the kernel drops ``::1`` arriving on any device but lo).

Chain ``input`` keeps containers away from the host's loopback services: the bridges have ``route_localnet=1``
(so that ports published on 127.0.0.1 work), which would also deliver a frame a container addresses to its
gateway's MAC with destination 127.0.0.1 to whatever listens there. Such a packet is dropped unless conntrack
knows it as a reply or a DNAT (CVE-2020-8558's fix in kube-proxy), and a loopback source from a bridge always.
"""
from __future__ import annotations

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:  # annotations only: IPAM (ipaddress, hashlib) loads when a bridge is used
    from typing import Any

    from .ipam import Network
    from .ports import Binding

    Cmd = dict[str, Any]

__all__ = ["table_name", "skeleton", "network_elements", "port_elements", "element_cmds", "delete_table"]

FAMILY = "ip"
FAMILY6 = "ip6"


def table_name(tag: str) -> str:
    return f"nsrun{tag}"


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _match(left: Any, right: Any, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _prefix(cidr: str) -> dict:
    addr, _, length = cidr.partition("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


def skeleton(table: str, family: str = FAMILY) -> list[Cmd]:
    """The whole table in one transaction; ``create`` makes it fail (EEXIST) when it is already there.
    ``family`` ``ip6``: the IPv6 table of dual-stack networks (see the module's docstring)."""
    v6 = family == FAMILY6
    t = {"family": family, "table": table}
    addr_type, proto = ("ipv6_addr", "ip6") if v6 else ("ipv4_addr", "ip")
    local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
    bridges_out, bridges_in = _match(_meta("oifname"), "@bridges"), _match(_meta("iifname"), "@bridges")
    dnat = _match({"ct": {"key": "status"}}, "dnat", "in")
    loopback = _prefix("127.0.0.0/8")

    def chain(name: str, **hook: Any) -> Cmd:
        return {"add": {"chain": {**t, "name": name, **hook}}}

    def rule(chain_name: str, *expr: dict) -> Cmd:
        return {"add": {"rule": {**t, "chain": chain_name, "expr": list(expr)}}}

    def dnat_map(key: list[dict], name: str) -> dict:
        # two maps (address, port) with one key: libnftables 1.0.6 JSON cannot declare concatenated data
        return {"dnat": {"family": proto, "addr": {"map": {"key": {"concat": key}, "data": f"@{name}_addr"}},
                         "port": {"map": {"key": {"concat": key}, "data": f"@{name}_port"}}}}
    l4 = [_meta("l4proto"), {"payload": {"protocol": "th", "field": "dport"}}]
    saddr = {"payload": {"protocol": proto, "field": "saddr"}}
    cmds = [
        {"create": {"table": {"family": family, "name": table}}},
        {"add": {"set": {**t, "name": "bridges", "type": "ifname"}}},
        {"add": {"set": {**t, "name": "subnets", "type": addr_type, "flags": ["interval"]}}},
        {"add": {"set": {**t, "name": "samebr", "type": ["ifname", "ifname"]}}},
        {"add": {"set": {**t, "name": "internal", "type": "ifname"}}},
        *[{"add": {"map": {**t, "name": f"{name}_{part}", "type": key, "map": data}}}
          for name, key in (("any", ["inet_proto", "inet_service"]),
                            *(() if v6 else (("ip", ["ipv4_addr", "inet_proto", "inet_service"]),)))
          for part, data in (("addr", addr_type), ("port", "inet_service"))],
        chain("publish"),
        chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept"),
        chain("output", type="nat", hook="output", prio=-100, policy="accept"),
        chain("postrouting", type="nat", hook="postrouting", prio=100, policy="accept"),
        chain("forward", type="filter", hook="forward", prio=0, policy="accept"),
        chain("input", type="filter", hook="input", prio=0, policy="accept"),
        rule("publish", _match(_meta("l4proto"), {"set": ["tcp", "udp"]}, "!="), {"return": None}),
        *(() if v6 else (rule("publish", dnat_map([{"payload": {"protocol": "ip", "field": "daddr"}}, *l4], "ip")),)),
        rule("publish", dnat_map(l4, "any")),
        rule("prerouting", local, {"jump": {"target": "publish"}}),
        rule("output", local, {"jump": {"target": "publish"}}),
        # outbound: the host's address replaces the container's (never towards another nsrun bridge)
        rule("postrouting", _match(saddr, "@subnets"),
             _match(_meta("oifname"), "@bridges", "!="), {"masquerade": None}),
        # hairpin (a container reaching a published port) and 127.0.0.1: replies must come back through us
        rule("postrouting", bridges_out, dnat, _match(saddr, "@subnets"), {"masquerade": None}),
        *(() if v6 else (rule("postrouting", bridges_out, _match(saddr, loopback), {"masquerade": None}),)),
        rule("forward", bridges_out, _match({"ct": {"key": "state"}}, ["established", "related"], "in"),
             {"accept": None}),
        rule("forward", _match({"concat": [_meta("iifname"), _meta("oifname")]}, "@samebr"), {"accept": None}),
        rule("forward", bridges_out, dnat, {"accept": None}),
        rule("forward", bridges_out, {"drop": None}),       # isolation: other networks, unpublished ports
        rule("forward", _match(_meta("iifname"), "@internal"), {"drop": None}),   # --internal: no way out
        rule("forward", bridges_in, {"accept": None}),
    ]
    if v6:
        return cmds
    return cmds + [
        # the host's loopback services: nothing from a container reaches them (the address test comes first,
        # so the host's other input costs one compare). A container never sends from 127/8 (spoofed: drop);
        # to 127/8 it may send only replies (the host reached a published port over 127.0.0.1; de-NATed in
        # prerouting, so the destination is 127.0.0.1 here) and what someone's DNAT sent there on purpose.
        rule("input", _match({"payload": {"protocol": "ip", "field": "saddr"}}, loopback), bridges_in,
             {"drop": None}),
        rule("input", _match({"payload": {"protocol": "ip", "field": "daddr"}}, loopback), bridges_in,
             _match({"ct": {"key": "state"}}, ["established", "related"], "!"),
             _match({"ct": {"key": "status"}}, "dnat", "!"), {"drop": None}),
    ]


def network_elements(net: Network, v6: bool = False) -> list[tuple[str, list[Any]]]:
    """An ordinary network: its bridge, masqueraded subnet, intra-bridge pair; an internal one: its bridge in
    ``internal`` instead of its subnet in ``subnets``. ``v6``: the elements of the ``ip6`` table (IPv6 subnet)."""
    subnet = net.subnet6 if v6 else net.subnet
    own = ("internal", [net.bridge]) if getattr(net, "internal", False) else ("subnets", [_prefix(subnet)])
    return [("bridges", [net.bridge]), own, ("samebr", [{"concat": [net.bridge, net.bridge]}])]


def port_elements(bindings: list[Binding], v6: bool = False) -> list[tuple[str, list[Any]]]:
    """The map elements publishing ``bindings``; ``v6``: those of the ``ip6`` table (bindings on every address
    of a dual-stack network, DNAT'd to the container's IPv6 address)."""
    out: dict[str, list[Any]] = {}
    for b in bindings:
        if v6:
            if b.v6:
                out.setdefault("any_addr", []).append([{"concat": [b.proto, b.host_port]}, b.ctr_ip6])
                out.setdefault("any_port", []).append([{"concat": [b.proto, b.host_port]}, b.ctr_port])
            continue
        if b.host_ip == "0.0.0.0":
            name, key = "any", {"concat": [b.proto, b.host_port]}
        else:
            name, key = "ip", {"concat": [b.host_ip, b.proto, b.host_port]}
        out.setdefault(f"{name}_addr", []).append([key, b.ctr_ip])
        out.setdefault(f"{name}_port", []).append([key, b.ctr_port])
    return sorted(out.items())


def element_cmds(verb: str, table: str, elements: list[tuple[str, list[Any]]], family: str = FAMILY) -> list[Cmd]:
    """``add`` or ``delete`` the elements; for a delete, map elements are named by their key alone."""
    out = []
    for name, elems in elements:
        if verb == "delete":
            elems = [e[0] if isinstance(e, list) else e for e in elems]
        out.append({verb: {"element": {"family": family, "table": table, "name": name, "elem": elems}}})
    return out


def delete_table(table: str, family: str = FAMILY) -> list[Cmd]:
    return [{"delete": {"table": {"family": family, "name": table}}}]
