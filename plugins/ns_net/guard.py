"""FORWARD policy DROP in the *other* firewall: the one case where a backend's own accept is not enough.

Every base chain on a netfilter hook must accept a packet. iptables' legacy tables, iptables-nft's
``ip filter`` table and nsrun's own nft table are separate, so an accept in one never overrules the policy
DROP of another (Docker sets FORWARD to DROP in whichever iptables it uses). For each iptables variant whose
FORWARD policy is DROP and which is not the backend's own, nsrun adds its filter-only chain there
(``NSRUN{TAG}-FWD``, hooked once at the top of FORWARD): nobody else's rules are edited, and ``system reset``
removes it with the rest.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from nsrun import Paths

from .ipam import Network

__all__ = ["variant_of", "dropping_variants", "guard"]

VARIANTS = ("iptables-nft", "iptables-legacy")


def variant_of(tool: str) -> str:
    """``iptables`` -> the variant the system's alternative points to (``iptables-nft``/``iptables-legacy``)."""
    if tool in VARIANTS:
        return tool
    path = os.path.realpath(shutil.which(tool) or tool)
    return "iptables-legacy" if "legacy" in os.path.basename(path) else "iptables-nft"


def _nft_forward_drops(nft: Any | None) -> bool:
    if nft is None:
        from .nft import open_nft
        nft = open_nft()
    rc, out, _ = nft.json_cmd({"nftables": [{"list": {"chain": {"family": "ip", "table": "filter",
                                                                 "name": "FORWARD"}}}]})
    return rc == 0 and '"policy": "drop"' in json.dumps(out)


def _legacy_forward_drops() -> bool:
    try:
        with open("/proc/net/ip_tables_names") as f:
            if "filter" not in f.read().split():
                return False  # no legacy filter table: nothing can drop there (and we do not create one)
    except OSError:
        return False
    if shutil.which("iptables-legacy") is None:
        return False
    res = subprocess.run(["iptables-legacy", "-w", "-S", "FORWARD"], capture_output=True, text=True, timeout=30)
    return res.stdout.startswith("-P FORWARD DROP")


def dropping_variants(nft: Any | None = None) -> list[str]:
    """The iptables variants whose FORWARD policy is DROP right now."""
    out = []
    if _nft_forward_drops(nft):
        out.append("iptables-nft")
    if _legacy_forward_drops():
        out.append("iptables-legacy")
    return out


def guard(paths: Paths, net: Network, own: str | None = None, nft: Any | None = None) -> None:
    """Accept ``net``'s forwarding in every dropping variant but ``own`` (a backend's own iptables variant)."""
    from .iptables import IptablesFirewall
    for tool in dropping_variants(nft):
        if tool != own:
            IptablesFirewall(paths, tool).setup_network(net, filter_only=True)
