"""Collecting one container that is gone for good (``nsrun-oci delete``): its own plugins' ``collect`` hook
(``gc`` for a plugin without one), called from a plan its record keeps, without a plugin manager on the way.

``plan(loaded)`` runs when the container is created, where its plugins are loaded: for each of them, in
pipeline order, the ``collect`` implementation pluggy registered — its module, its name, the arguments
pluggy passes it (``HookImpl.argnames``) — or ``gc`` for a plugin that implements ``gc`` and not
``collect``; the others are left out (they made nothing to collect). ``run(plan, ...)`` at delete imports
each function from its module (a plugin module is importable without pluggy: ``_hookimpl``) and calls it as
pluggy would, each on its own, a failure one line naming its plugin (as ``LoadedPlugins.each``). What the
plan cannot reach directly goes through pluggy, as before: a function that is not there any more (the
plugin changed since), one that is not a module-level function, and every ``gc`` (``_gc.plugin_gc``, this
container not live). nsrun-oci ``delete`` thus costs the interpreter, the record and the plugins' own
work: pluggy, ``inspect`` and ``typing``'s share were 20 ms of it.

Nothing here imports pluggy at module level (nor ``typing``, ``json``): ``_plugins``/``_gc`` load only for a
fallback.
"""
from __future__ import annotations

from ._plan import resolve, where

__all__ = ["plan", "plan_of", "run"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from ._context import Paths
    from ._plugins import LoadedPlugins


def plan(loaded: LoadedPlugins) -> list[list]:
    """``[[plugin, "collect", module, function, [argnames]] | [plugin, "gc", "", "", []], ...]`` for the
    loaded plugins, in pipeline order (JSON: it is kept in the record). ``module``/``function`` are "" when
    the implementation is not a module-level function (then ``run`` calls it through pluggy)."""
    collectors = {plugin: (fn, names) for plugin, fn, names in loaded.impls("collect")}
    gcs = {plugin for plugin, _fn, _names in loaded.impls("gc")}
    out: list[list] = []
    for name in loaded.names:
        impl = collectors.get(name)
        if impl is not None:
            fn = getattr(impl[0], "__wrapped__", impl[0])  # _plugins._attributed's
            module, qual = where(fn) or ("", "")
            out.append([name, "collect", module, qual, impl[1]])
        elif name in gcs:
            out.append([name, "gc", "", "", []])
    return out


def plan_of(plugins: list[str]) -> list[list]:
    """The plan for a record that has none (its creation was cut short before it was written, or an older
    nsrun made it): resolved now, from the installed plugins among ``plugins`` (pluggy is loaded)."""
    from ._plugins import InstalledPlugins
    return plan(InstalledPlugins(only=plugins, hooks=("collect", "gc")))


def _function(module: str, qual: str) -> Callable[..., Any] | None:
    """The hook implementation ``module.qual`` (a function marked ``collect``), or None."""
    fn = resolve(module, qual)
    opts = getattr(fn, "nsrun_impl", None)
    if not callable(fn) or not isinstance(opts, dict) or (opts.get("specname") or qual) != "collect":
        return None
    return fn


def run(steps: list[list], paths: Paths, cid: str, info: dict, live: Callable[[], set]
        ) -> tuple[list[str], list[str]]:
    """Carry out a ``plan`` for the container ``cid`` (``info``: its recorded ``ctx.info``); ``live()``: the
    ids a fallback ``gc`` must leave alone (called only when the plan has a ``gc``). The lines the plugins
    returned (what they removed), and one line per failure naming its plugin."""
    kwargs = {"paths": paths, "cid": cid, "info": info}
    calls: list[tuple[str, Callable[[], Any]]] = []
    through_pluggy: list[str] = []
    gc_names: list[str] = []
    for name, hook, module, qual, argnames in steps:
        if hook == "gc":
            gc_names.append(name)
            continue
        fn = _function(module, qual)
        if fn is None:
            through_pluggy.append(name)
            continue
        args = [kwargs[a] for a in argnames]  # pluggy's call: the arguments by name
        calls.append((name, lambda fn=fn, args=args: fn(*args)))
    failures: list[str] = []
    if through_pluggy:
        from ._plugins import InstalledPlugins
        loaded = InstalledPlugins(only=through_pluggy, hooks=("collect",))
        failures.extend(f"{name}: not collected: {why}" for name, why in loaded.broken.items())
        calls.extend(loaded.each("collect", **kwargs))
    lines: list[str] = []
    for name, call in calls:
        try:
            lines.extend(call() or [])
        except Exception as exc:  # noqa: BLE001 - one plugin's failure must not stop the others
            failures.append(f"{name}: collect failed: {exc}")
    if gc_names:
        from ._gc import plugin_gc
        lines.extend(plugin_gc(paths, live(), only=gc_names, failures=failures))
    return lines, failures
