"""Hooks the net plugin defines for the plugins that build on it (loaded through ``HOOKSPECS``).

A firewall backend (``nft``, ``iptables``) implements ``net_firewall`` and returns an object with the
``Firewall`` interface (``nsrun_ns_net.firewall``). The net plugin calls it through ``ctx.hook``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from nsrun import Paths

    from .firewall import Firewall

hookspec = pluggy.HookspecMarker("nsrun")


@hookspec(firstresult=True)
def net_firewall(paths: Paths) -> Firewall | None:
    """[parent] Return this backend's ``Firewall`` for the root ``paths`` (the first answer wins).

    Selection makes it unambiguous: both backends ``PROVIDE = "port-publish"``, so at most one is selected.
    Must be cheap: called on every bridge-mode start, before anything is created.
    """
