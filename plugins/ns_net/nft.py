"""Firewall backend ``nft`` (the default): libnftables through its Python binding, JSON commands.

Each operation is one transaction on this root's own table ``ip nsrun{tag}`` (see ``nft_rules``); networks
and ports are set/map elements, so publishing costs the same however many ports are published. Dual-stack
networks put their IPv6 side in ``ip6 nsrun{tag}`` (made with the first of them), one more transaction.
"""
from __future__ import annotations

import errno
import os

from nsrun import Paths, SetupError, defer_close, hookimpl

from . import nft_rules as rules
from .libnft import open_nft

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

DEFAULT = True
ORDER = 45
PROVIDES = "port-publish"
REQUIRES = ("net",)

if TYPE_CHECKING:  # annotations only: IPAM (ipaddress, hashlib) loads when a bridge is used
    from .ipam import Network
    from .ports import Binding

__all__ = ["NftFirewall", "open_nft"]


class NftFirewall:
    name = "nft"

    def __init__(self, paths: Paths, nft: Any = None) -> None:
        self.paths = paths
        self.table = rules.table_name(paths.tag)
        self._nft = nft

    @property
    def nft(self) -> Any:
        if self._nft is None:
            self._nft = open_nft()
        return self._nft

    def _run(self, cmds: list[dict]) -> tuple[int, str]:
        rc, _out, err = self.nft.json_cmd({"nftables": cmds})
        return rc, (err or "").strip()

    def _apply(self, cmds: list[dict], what: str) -> None:
        rc, err = self._run(cmds)
        if rc != 0:
            raise SetupError(f"nftables rejected {what}: {err.splitlines()[0] if err else rc}", plugin="nft",
                             errno=errno.EINVAL)

    def _add(self, elements: list, what: str, family: str = rules.FAMILY) -> None:
        """Add elements; on the first use of this root, create the table with them in the same transaction."""
        cmds = rules.element_cmds("add", self.table, elements, family)
        rc, _ = self._run(cmds)
        if rc == 0:
            return
        rc, err = self._run(rules.skeleton(self.table, family) + cmds)
        if rc != 0:  # a concurrent start created the table first: now the elements go in
            self._apply(cmds, what)

    def _add_both(self, v4: list, v6: list, what: str) -> None:
        """``_add`` to the ``ip`` and (when ``v6``) the ``ip6`` table in ONE transaction when both tables
        exist (a dual-stack start pays no second round trip); else each on its own, making its table."""
        if not v6:
            self._add(v4, what)
            return
        cmds = rules.element_cmds("add", self.table, v4) + rules.element_cmds("add", self.table, v6, rules.FAMILY6)
        if self._run(cmds)[0] == 0:
            return
        self._add(v4, what)
        self._add(v6, f"{what} (IPv6)", rules.FAMILY6)

    def _delete(self, elements: list, family: str = rules.FAMILY) -> None:
        """Delete elements, ignoring those already gone (one transaction when all are present)."""
        if not elements:
            return
        rc, _ = self._run(rules.element_cmds("delete", self.table, elements, family))
        if rc != 0:
            for name, elems in elements:
                for elem in elems:
                    self._run(rules.element_cmds("delete", self.table, [(name, [elem])], family))
        # The kernel frees deleted elements after an RCU grace period, and releasing an nf_tables socket
        # before that waits for it (~10 ms): the exit right after a teardown would. nsrun closes it later.
        for fd in nfnetlink_fds():
            defer_close(fd)

    def setup_network(self, net: Network) -> None:
        try:
            self._add_both(rules.network_elements(net),
                           rules.network_elements(net, v6=True) if net.subnet6 else [], f"network {net.name}")
        except SetupError as exc:
            if net.internal and self._run([{"list": {"set": {"family": rules.FAMILY, "table": self.table,
                                                             "name": "internal"}}}])[0] != 0:
                raise SetupError(f"the nftables table ip {self.table} was made before nsrun had internal "
                                 f"networks: run `nsrun system reset` to remake it", plugin="nft",
                                 errno=errno.EINVAL) from exc
            raise
        from .guard import dropping_variants  # an nft accept cannot overrule iptables' FORWARD DROP
        if drops := dropping_variants(self.nft):
            from .iptables import guard_other_variants  # subprocess and all: only when some FORWARD drops
            guard_other_variants(self.paths, net, drops=drops)

    def teardown_network(self, net: Network) -> None:
        self._delete(rules.network_elements(net))
        if net.subnet6:
            self._delete(rules.network_elements(net, v6=True), rules.FAMILY6)

    def publish(self, bindings: list[Binding]) -> None:
        if bindings:
            try:
                self._add_both(rules.port_elements(bindings), rules.port_elements(bindings, v6=True),
                               "the published ports")
            except BaseException:  # the IPv4 half may be in: none of it stays
                self.unpublish(bindings)
                raise

    def unpublish(self, bindings: list[Binding]) -> None:
        if bindings:
            self._delete(rules.port_elements(bindings))
            self._delete(rules.port_elements(bindings, v6=True), rules.FAMILY6)

    def reset(self) -> list[str]:
        lines = []
        for family in (rules.FAMILY, rules.FAMILY6):
            rc, _ = self._run(rules.delete_table(self.table, family))
            if rc == 0:
                lines.append(f"removed nftables table {family} {self.table}")
        return lines


def nfnetlink_fds() -> list[int]:
    """This process's NETLINK_NETFILTER sockets (libnftables does not expose its own): their inodes from
    /proc/net/netlink, matched against /proc/self/fd."""
    try:
        with open("/proc/net/netlink") as f:
            rows = [line.split() for line in f.readlines()[1:]]
        inodes = {f"socket:[{r[9]}]" for r in rows if len(r) > 9 and r[1] == "12"}  # Eth 12: NETLINK_NETFILTER
        out = []
        for name in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{name}") in inodes:
                    out.append(int(name))
            except OSError:
                continue
        return out
    except OSError:
        return []


@hookimpl
def net_firewall_backend() -> type[NftFirewall]:
    return NftFirewall
