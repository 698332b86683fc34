"""The one interface every firewall backend implements (``nft``, ``iptables``), and the names they share.

Contract (each method is one transaction where the backend allows it, idempotent, and touches only objects
named for this root's tag):

``setup_network(net)``     masquerade of ``net.subnet`` leaving the host, forwarding accepted to, from and
                           within ``net.bridge`` (even under a FORWARD policy of DROP), isolation from every
                           other nsrun network, 127.0.0.1 and hairpin for published ports
``teardown_network(net)``  undo ``setup_network``
``publish(bindings)``      DNAT each host ``ip:port/proto`` to the container address (``Binding``)
``unpublish(bindings)``    undo ``publish``; what is already gone is not an error
``reset()``                remove every object of this root; returns lines saying what went
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nsrun import Paths

if TYPE_CHECKING:
    from .ipam import Network
    from .ports import Binding

__all__ = ["Firewall", "BACKENDS", "firewall_by_name"]


class Firewall(Protocol):
    name: str

    def setup_network(self, net: Network) -> None: ...

    def teardown_network(self, net: Network) -> None: ...

    def publish(self, bindings: list[Binding]) -> None: ...

    def unpublish(self, bindings: list[Binding]) -> None: ...

    def reset(self) -> list[str]: ...


BACKENDS = {"nft": "nsrun_ns_net.nft", "iptables": "nsrun_ns_net.iptables"}


def firewall_by_name(name: str, paths: Paths) -> Firewall:
    """A backend by plugin name, whether or not it is selected (``gc`` and ``network rm`` undo what any
    backend made)."""
    import importlib
    return importlib.import_module(BACKENDS[name]).backend(paths)
