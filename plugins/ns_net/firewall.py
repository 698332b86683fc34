"""The one interface every firewall backend implements (``nft``, ``iptables``, a third party's), and how the
net plugin finds backends: the ``net_firewall_backend`` hook (``hookspecs``).

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

from typing import TYPE_CHECKING, Any, Protocol

from nsrun import Paths, installed_hooks

if TYPE_CHECKING:
    from .ipam import Network
    from .ports import Binding

__all__ = ["Firewall", "selected_firewall", "installed_firewalls"]


class Firewall(Protocol):
    name: str

    def setup_network(self, net: Network) -> None: ...

    def teardown_network(self, net: Network) -> None: ...

    def publish(self, bindings: list[Binding]) -> None: ...

    def unpublish(self, bindings: list[Binding]) -> None: ...

    def reset(self) -> list[str]: ...


def selected_firewall(hook: Any, paths: Paths) -> Firewall | None:
    """The run's backend (``hook`` is ``ctx.hook``: the selected plugins), or None when none is selected."""
    factories = hook.net_firewall_backend() if hook is not None else []
    return factories[0](paths) if factories else None


def installed_firewalls(paths: Paths) -> list[Firewall]:
    """Every installed backend's Firewall for ``paths``, selected or not, in pipeline order: what any of
    them made is undone by ``gc``, ``system reset`` and ``network rm``."""
    return [factory(paths) for factory in installed_hooks().net_firewall_backend()]
