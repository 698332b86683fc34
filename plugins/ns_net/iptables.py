"""Firewall backend ``iptables``: ``iptables-restore --noflush`` batches on this root's own chains.

Works with either variant: ``iptables`` is whatever the system's alternative points to (nft or legacy);
``NSRUN_IPTABLES=iptables-legacy`` (or ``iptables-nft``) picks one. ``reset`` cleans both variants.
Dual-stack networks get their IPv6 rules through the matching ``ip6tables`` (``ip6tables-legacy``...), same
chain names.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import os
import shutil
import subprocess

from nsrun import Paths, SetupError, hookimpl

from . import ipt_rules as rules
from .guard import VARIANTS, dropping_variants, variant_of

ORDER = 45
PROVIDES = "port-publish"
REQUIRES = ("net",)

if TYPE_CHECKING:  # annotations only: IPAM (ipaddress, hashlib) loads when a bridge is used
    from .ipam import Network
    from .ports import Binding

__all__ = ["IptablesFirewall"]


def _tool() -> str:
    return os.environ.get("NSRUN_IPTABLES", "iptables")


class IptablesFirewall:
    name = "iptables"

    def __init__(self, paths: Paths, tool: str | None = None) -> None:
        self.paths = paths
        self.tag = paths.tag
        self.tool = tool or _tool()
        self.v6 = self.tool.startswith("ip6tables")

    def _six(self) -> IptablesFirewall:
        """The same backend on IPv6: ``ip6tables`` of the same variant."""
        return IptablesFirewall(self.paths, self.tool.replace("iptables", "ip6tables", 1))

    def _restore(self, text: str, check: bool = True, tool: str | None = None) -> bool:
        tool = tool or self.tool
        res = subprocess.run([f"{tool}-restore", "-w", "--noflush"], input=text, capture_output=True,
                             text=True, timeout=30)
        if res.returncode != 0 and check:
            raise SetupError(f"{tool}-restore failed: {res.stderr.strip().splitlines()[-1:] or res.returncode}",
                             plugin="iptables")
        return res.returncode == 0

    def _exists(self, table: str, spec: str) -> bool:
        return subprocess.run([self.tool, "-w", "-t", table, "-C", *spec.split()], capture_output=True,
                              timeout=30).returncode == 0

    def setup_network(self, net: Network, filter_only: bool = False) -> None:
        """``filter_only``: just the FORWARD part (the nft backend's help under a FORWARD policy of DROP)."""
        net_rules = rules.network_rules(self.tag, net, filter_only, v6=self.v6)
        if not filter_only and not self.v6:
            guard_other_variants(self.paths, net, own=variant_of(self.tool))  # the other may drop FORWARD
        if not self.v6 and not filter_only and net.subnet6:
            self._six().setup_network(net)
        self._setup(net_rules, filter_only)

    def _setup(self, net_rules: dict[str, list[str]], filter_only: bool) -> None:
        if self._exists("filter", net_rules["filter"][-1]):
            return  # this network's rules are in place (they are added in one batch)
        c = rules.chains(self.tag)
        have_base = subprocess.run([self.tool, "-w", "-t", "filter", "-S", c["fwd"]], capture_output=True,
                                   timeout=30).returncode == 0
        base = rules.base_batch(self.tag, filter_only) if not have_base else None
        if not self._restore(rules.batch("-A", net_rules, base),
                             check=False):
            self._restore(rules.batch("-A", net_rules))  # a concurrent start made the chains first

    def teardown_network(self, net: Network) -> None:
        """This variant's rules for ``net``, and the filter-only ones ``guard`` may have put in the other."""
        if net.subnet6:
            self._six()._delete(rules.network_rules(self.tag, net, v6=True))
        self._delete(rules.network_rules(self.tag, net))
        c = rules.chains(self.tag)
        for tool in VARIANTS:
            if tool != variant_of(self.tool) and shutil.which(tool) and subprocess.run(
                    [tool, "-w", "-t", "filter", "-S", c["fwd"]], capture_output=True, timeout=30).returncode == 0:
                IptablesFirewall(self.paths, tool)._delete(rules.network_rules(self.tag, net, filter_only=True))

    def publish(self, bindings: list[Binding]) -> None:
        if bindings:
            self._restore(rules.batch("-A", rules.port_rules(self.tag, bindings)))
            if v6 := rules.port_rules(self.tag, bindings, v6=True):
                try:
                    self._six()._restore(rules.batch("-A", v6))
                except BaseException:
                    self._delete(rules.port_rules(self.tag, bindings))
                    raise

    def unpublish(self, bindings: list[Binding]) -> None:
        if bindings:
            self._delete(rules.port_rules(self.tag, bindings))
            if v6 := rules.port_rules(self.tag, bindings, v6=True):
                self._six()._delete(v6)

    def _delete(self, specs: dict[str, list[str]]) -> None:
        """All in one batch; if some are already gone, each one on its own."""
        if not self._restore(rules.batch("-D", specs), check=False):
            for table, lines in specs.items():
                for spec in lines:
                    self._restore(rules.batch("-D", {table: [spec]}), check=False)

    def reset(self) -> list[str]:
        lines = []
        for tool in ("iptables-nft", "iptables-legacy", "ip6tables-nft", "ip6tables-legacy"):
            if shutil.which(f"{tool}-save") is None:
                continue
            saved = subprocess.run([f"{tool}-save"], capture_output=True, text=True, timeout=30).stdout
            text = rules.reset_batch(self.tag, saved)
            if text and self._restore(text, check=False, tool=tool):
                lines.append(f"removed {tool} chains {', '.join(sorted(set(rules.chains(self.tag).values())))}")
        return lines


@hookimpl
def net_firewall_backend() -> type[IptablesFirewall]:
    return IptablesFirewall


def guard_other_variants(paths: Paths, net: Network, own: str | None = None, nft: Any | None = None,
                         drops: list[str] | None = None) -> None:
    """Accept ``net``'s forwarding in every iptables variant whose FORWARD policy drops (``drops``, when the
    caller looked already), but ``own`` (a backend's own variant): nsrun's filter-only chain, hooked at the
    top of FORWARD (see ``guard``)."""
    for tool in drops if drops is not None else dropping_variants(nft):
        if tool != own and shutil.which(tool) is not None:
            IptablesFirewall(paths, tool).setup_network(net, filter_only=True)
