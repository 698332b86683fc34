"""A third-party firewall backend (plugin ``nftx``): the nft backend's rules in a table of its own.

All a backend needs: REQUIRE the net plugin, PROVIDE ``port-publish`` (so it is selected instead of ``nft``
or ``iptables``: ``--plugins ...,net,nftx,...``), and answer the net plugin's ``net_firewall_backend`` hook
with a factory of ``Firewall`` objects (``nsrun_ns_net.firewall``: setup/teardown a network, publish and
unpublish ports, reset). Nothing else is registered anywhere: ``nsrun plugins`` lists it, and ``gc``,
``system reset`` and ``network rm`` undo what it made because they ask every installed backend through
that same hook.

Its table is ``ip nsrx<tag>`` (``<tag>`` names the nsrun root, as every nsrun object's name does), so
it can be told apart from the built-in backend's ``ip nsrun<tag>``.
"""
from __future__ import annotations

from typing import Any

from nsrun import Paths, hookimpl
from nsrun_ns_net.nft import NftFirewall

ORDER = 45
PROVIDES = "port-publish"
REQUIRES = ("net",)

__all__ = ["NftxFirewall", "table_name"]


def table_name(tag: str) -> str:
    return f"nsrx{tag}"


class NftxFirewall(NftFirewall):
    """The nft backend, in the table ``table_name(paths.tag)``."""

    name = "nftx"  # the plugin's name: port leases record it, so gc finds who published a port

    def __init__(self, paths: Paths, nft: Any = None) -> None:
        super().__init__(paths, nft)
        self.table = table_name(paths.tag)


@hookimpl
def net_firewall_backend() -> type[NftxFirewall]:
    return NftxFirewall
