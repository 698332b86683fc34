"""Hooks the net plugin defines for the plugins that build on it (loaded through ``HOOKSPECS``).

A firewall backend (``nft``, ``iptables``, or a third party's) implements ``net_firewall_backend``. That one
hook is how the net plugin finds the selected backend for a run (``ctx.hook``), and how ``gc``, ``system
reset`` and ``network rm`` reach every installed backend (``nsrun.installed_hooks()``) to undo what any of
them made: a third-party backend is selected, listed and collected exactly like the built-in ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from nsrun import Paths

    from .firewall import Firewall

hookspec = pluggy.HookspecMarker("nsrun")


@hookspec
def net_firewall_backend() -> Callable[[Paths], Firewall]:
    """[parent] Return this backend's factory: called with a root's ``Paths``, it gives a ``Firewall``
    (``nsrun_ns_net.firewall``) for that root, whose ``name`` is this plugin's name (a port lease records it,
    so ``gc`` finds the backend that published the port).

    Among a run's plugins at most one backend answers (every backend ``PROVIDES = "port-publish"``).
    Return the factory only (a class does): import nothing heavy, open nothing, never raise. The factory
    must be cheap too (every bridge-mode start calls it): open what you need when first used.
    """
