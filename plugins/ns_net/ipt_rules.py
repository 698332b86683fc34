"""iptables rules as ``iptables-restore --noflush`` batches (pure: data in, text out).

Own chains per root, hooked once from the built-in ones (a jump inserted at the top, removed by reset)::

    nat     PREROUTING/OUTPUT -m addrtype --dst-type LOCAL -j NSRUN{TAG}-DNAT   one DNAT rule per port
            POSTROUTING -j NSRUN{TAG}-POST                                       masquerade, hairpin, 127/8
    filter  FORWARD -j NSRUN{TAG}-FWD -> NSRUN{TAG}-NETIN (to/within networks), NSRUN{TAG}-NETOUT (from them)
            INPUT -j NSRUN{TAG}-INPUT                                            the host's 127/8 services

NETIN holds, per network, accept established / intra-bridge / DNAT'd and drop the rest, before any NETOUT
accept, so one network never reaches another. An ``--internal`` network has a NETOUT drop instead of the
accept, and no masquerade. Under FORWARD policy DROP our ACCEPTs end the traversal.
A dual-stack network's IPv6 side gets the same chains from ``ip6tables-restore`` (same names, same hooks) with
its IPv6 subnet, no loopback rules (``v6=True``), and DNAT rules to the container's IPv6 address for ports
published on every address.
INPUT drops, per network, what a container sends from 127/8 or to 127/8 unless conntrack knows it as a reply
or a DNAT (the bridges have ``route_localnet=1``; see ``nft_rules``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:  # annotations only: IPAM (ipaddress, hashlib) loads when a bridge is used
    from .ipam import Network
    from .ports import Binding

__all__ = ["chains", "base_batch", "network_rules", "port_rules", "batch", "hooks", "reset_batch"]


def chains(tag: str) -> dict[str, str]:
    p = f"NSRUN{tag.upper()}"
    return {"dnat": f"{p}-DNAT", "post": f"{p}-POST", "fwd": f"{p}-FWD", "in": f"{p}-NETIN", "out": f"{p}-NETOUT",
            "input": f"{p}-INPUT"}


_NAT, _FILTER = ("dnat", "post"), ("fwd", "in", "out", "input")


def hooks(tag: str) -> list[tuple[str, str]]:
    """(table, rule spec) of the jumps from built-in chains (``-I`` to add, ``-D`` to remove)."""
    c = chains(tag)
    return [("nat", f"PREROUTING -m addrtype --dst-type LOCAL -j {c['dnat']}"),
            ("nat", f"OUTPUT -m addrtype --dst-type LOCAL -j {c['dnat']}"),
            ("nat", f"POSTROUTING -j {c['post']}"),
            ("filter", f"FORWARD -j {c['fwd']}"),
            ("filter", f"INPUT -j {c['input']}")]


def base_batch(tag: str, filter_only: bool = False) -> dict[str, list[str]]:
    """Chains and hooks, for when they do not exist yet (a ``:CHAIN`` line would flush an existing one).
    The nat chains and INPUT are left out with ``filter_only`` (FORWARD acceptance alone)."""
    c = chains(tag)
    out: dict[str, list[str]] = {"nat": [f":{c[k]} - [0:0]" for k in _NAT],
                                 "filter": [f":{c[k]} - [0:0]" for k in _FILTER]}
    for table, spec in hooks(tag):
        out[table].append(f"-I {spec}")
    out["filter"] += [f"-A {c['fwd']} -j {c['in']}", f"-A {c['fwd']} -j {c['out']}"]
    if filter_only:
        del out["nat"]
        out["filter"] = [line for line in out["filter"] if c["input"] not in line]
    return out


def network_rules(tag: str, net: Network, filter_only: bool = False, v6: bool = False) -> dict[str, list[str]]:
    """Rule specs (without -A/-D) for one network; the last one marks them all present (they are added in one
    batch). ``filter_only``: the FORWARD acceptance alone (what ``base_batch(filter_only=True)`` has room for).
    ``v6``: the ip6tables rules of a dual-stack network (its IPv6 subnet; no 127/8 rules)."""
    c, br, sub = chains(tag), net.bridge, (net.subnet6 if v6 else net.subnet)
    forward = [f"{c['in']} -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
               f"{c['in']} -i {br} -o {br} -j ACCEPT",
               f"{c['in']} -o {br} -m conntrack --ctstate DNAT -j ACCEPT",
               f"{c['in']} -o {br} -j DROP",
               f"{c['out']} -i {br} -j {'DROP' if getattr(net, 'internal', False) else 'ACCEPT'}"]
    if filter_only:
        return {"filter": forward}
    # the host's loopback services (route_localnet=1 on the bridge): a container never sends from 127/8, and to
    # 127/8 only replies (the host reached a published port over 127.0.0.1) and what a DNAT sent there
    loopback = [f"{c['input']} -s 127.0.0.0/8 -i {br} -j DROP",
                f"{c['input']} -d 127.0.0.0/8 -i {br} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"]
    outbound = [] if getattr(net, "internal", False) else [f"{c['post']} -s {sub} ! -o {br} -j MASQUERADE"]
    if v6:
        return {"nat": [*outbound, f"{c['post']} -s {sub} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE"],
                "filter": forward}
    return {"nat": [*outbound,
                    f"{c['post']} -s {sub} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE",
                    f"{c['post']} -s 127.0.0.0/8 -o {br} -j MASQUERADE"],
            "filter": loopback + forward}


def port_rules(tag: str, bindings: list[Binding], v6: bool = False) -> dict[str, list[str]]:
    """DNAT rules; ``v6``: the ip6tables ones (bindings on every address of a dual-stack network), else {}."""
    c = chains(tag)
    if v6:
        rules = [f"{c['dnat']} -p {b.proto} --dport {b.host_port} -j DNAT --to-destination [{b.ctr_ip6}]:{b.ctr_port}"
                 for b in bindings if b.v6]
        return {"nat": rules} if rules else {}
    return {"nat": [f"{c['dnat']} -p {b.proto}{'' if b.host_ip == '0.0.0.0' else ' -d ' + b.host_ip}"
                    f" --dport {b.host_port} -j DNAT --to-destination {b.ctr_ip}:{b.ctr_port}" for b in bindings]}


def batch(verb: str, rules: dict[str, list[str]], head: dict[str, list[str]] | None = None) -> str:
    """An iptables-restore input: ``head`` lines first (chain creation), then each rule with ``verb``."""
    text = []
    for table in ("nat", "filter"):
        lines = list((head or {}).get(table, [])) + [f"{verb} {r}" for r in rules.get(table, [])]
        if lines:
            text += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(text) + "\n"


def reset_batch(tag: str, saved: str) -> str:
    """Remove the hooks and chains of this root that ``saved`` (iptables-save output) shows."""
    c = chains(tag)
    mine = set(c.values())
    present = {line.split()[0][1:] for line in saved.splitlines() if line.startswith(":")} & mine
    hooks_present = {line[3:].strip() for line in saved.splitlines() if line.startswith("-A ")}
    out: dict[str, list[str]] = {"nat": [], "filter": []}
    for table, spec in hooks(tag):
        if spec in hooks_present:
            out[table].append(f"-D {spec}")
    for verb in ("-F", "-X"):
        for key in (*_NAT, *_FILTER):
            if c[key] in present:
                out["nat" if key in _NAT else "filter"].append(f"{verb} {c[key]}")
    return batch("", {}, out) if any(out.values()) else ""
