"""Finding, selecting and loading plugins. Every plugin, built-in or not, is an entry point in ``nsrun.plugins``.

A plugin is a module of ``@hookimpl`` functions plus optional data the loader reads:

``DEFAULT``   bool, selected when ``--plugins`` is not given (built-ins: Docker's default set)
``ORDER``     int, position in the pipeline (lower runs earlier; teardown runs in reverse). Default 50.
``REQUIRES``  names (or ``PROVIDES`` capabilities) that must also be selected
``PROVIDES``  a capability; two selected plugins providing the same one conflict
``CONFLICTS`` names that must not be selected together with this one
``OPTIONS``   ``Option`` records: ``run`` options this plugin contributes (values land in ``ctx.options``)
``COMMANDS``  ``{"name": "module:attr"}``: click commands/groups added to the ``nsrun`` CLI, imported only
              when invoked (e.g. the net plugin's ``nsrun network ...``)
``HOOKSPECS`` a module of extra ``@hookspec`` functions this plugin defines for plugins that build on it
              (e.g. the net plugin's firewall-backend hooks); call them through ``ctx.hook``

Discovery is cached (see ``_discovery``) so a start does not scan every installed distribution.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, Iterator

import pluggy

from . import hookspecs
from ._discovery import PluginRecord, discover
from ._options import Option
from .errors import PluginError

__all__ = ["Option", "LoadedPlugins", "load_plugins", "installed_plugins", "default_selection", "InstalledPlugins",
           "installed_manager"]


def installed_plugins() -> dict[str, PluginRecord]:
    """Every installed plugin by name (no plugin module is imported)."""
    return discover()


def default_selection(records: dict[str, PluginRecord] | None = None) -> list[str]:
    records = records if records is not None else discover()
    return [name for name, rec in records.items() if rec.default]


class LoadedPlugins:
    """The selected plugins, imported and registered, in pipeline order."""

    def __init__(self, pm: pluggy.PluginManager, modules: list[tuple[str, ModuleType]]) -> None:
        self.pm = pm
        self.modules = modules  # pipeline order

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.modules]

    def context(self, spec: Any, paths: Any) -> Any:
        """The one way to make a ``RunContext`` for a run of these plugins (their hooks on ``ctx.hook``)."""
        from ._context import RunContext
        ctx = RunContext(spec, paths)
        ctx.hook = self.pm.hook
        return ctx

    def each(self, hook: str, *, reverse: bool = False, **kwargs: Any) -> Iterator[tuple[str, Callable[[], Any]]]:
        """Yield (plugin name, thunk) for each implementation of ``hook``, in pipeline (or reverse) order.

        Calling the thunk calls the implementation with the arguments it names (pluggy's pruning), so the
        caller can attribute a failure to a plugin and decide whether to go on.
        """
        impls = {impl.plugin_name: impl for impl in getattr(self.pm.hook, hook).get_hookimpls()}
        order = self.names[::-1] if reverse else self.names
        tryfirst = [n for n in order if n in impls and impls[n].tryfirst]
        trylast = [n for n in order if n in impls and impls[n].trylast]
        middle = [n for n in order if n in impls and n not in tryfirst and n not in trylast]
        for name in (tryfirst + middle + trylast):
            impl = impls[name]
            args = [kwargs[a] for a in impl.argnames]
            yield name, (lambda f=impl.function, a=args: f(*a))

    def call(self, hook: str, *, reverse: bool = False, **kwargs: Any) -> list[Any]:
        """Call every implementation in order; the first exception propagates (after naming the plugin)."""
        results = []
        for name, thunk in self.each(hook, reverse=reverse, **kwargs):
            try:
                results.append(thunk())
            except BaseException as exc:
                if not hasattr(exc, "nsrun_plugin"):
                    try:
                        exc.nsrun_plugin = name  # type: ignore[attr-defined]
                    except AttributeError:
                        pass
                raise
        return results


def _check_selection(selected: list[str], records: dict[str, PluginRecord]) -> None:
    unknown = [n for n in selected if n not in records]
    if unknown:
        raise PluginError(f"unknown plugin {', '.join(repr(n) for n in unknown)}; "
                          f"installed: {', '.join(sorted(records))}")
    chosen = set(selected)
    provided: dict[str, str] = {}
    for name in selected:
        rec = records[name]
        if rec.provides:
            other = provided.get(rec.provides)
            if other:
                raise PluginError(f"plugins {other!r} and {name!r} both provide {rec.provides!r}; select one")
            provided[rec.provides] = name
        for bad in rec.conflicts:
            if bad in chosen:
                raise PluginError(f"plugin {name!r} conflicts with {bad!r}; select one")
    for name in selected:
        for need in records[name].requires:
            if need not in chosen and need not in provided:
                raise PluginError(f"plugin {name!r} requires {need!r}; add it to --plugins")


def load_plugins(selected: list[str] | None = None) -> LoadedPlugins:
    """Import and register ``selected`` (default: the DEFAULT set) after checking requires/conflicts."""
    records = discover()
    names = list(dict.fromkeys(selected if selected is not None else default_selection(records)))
    _check_selection(names, records)
    names.sort(key=lambda n: (records[n].order, n))
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    modules = []
    for name in names:
        try:
            module = importlib.import_module(records[name].module)
        except ImportError as exc:
            raise PluginError(f"plugin {name!r} cannot be imported: {exc}") from exc
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
        modules.append((name, module))
    for name, module in modules:
        extra = getattr(module, "HOOKSPECS", None)
        if extra is not None:
            pm.add_hookspecs(importlib.import_module(extra) if isinstance(extra, str) else extra)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    return LoadedPlugins(pm, modules)


class InstalledPlugins:
    """Every installed plugin registered on one PluginManager, without selection checks (conflicting plugins
    too): for the hooks that concern the whole root, not one run — the front ends' field mapping
    (``docker_create``), the daemon's routes, ``gc``. Plugins that cannot be imported are left out and listed
    in ``broken``."""

    def __init__(self) -> None:
        records = discover()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.broken: dict[str, str] = {}
        names = sorted(records, key=lambda n: (records[n].order, n))
        for name in reversed(names):  # pluggy calls the last registered first: this makes it pipeline order
            try:
                module = importlib.import_module(records[name].module)
                self.pm.register(module, name=name)
            except (ImportError, pluggy.PluginValidationError, ValueError) as exc:
                self.broken[name] = str(exc)
                continue
            extra = getattr(module, "HOOKSPECS", None)
            if extra is not None:
                try:
                    self.pm.add_hookspecs(importlib.import_module(extra) if isinstance(extra, str) else extra)
                except ValueError:
                    pass  # another installed plugin declares the same hooks (a copy, an alternative)
        self.names = [n for n in names if n not in self.broken]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def subset(self, hook: str, names: list[str]) -> Any:
        """``hook`` called for the plugins in ``names`` only (a container's own plugins)."""
        others = [self.pm.get_plugin(n) for n in self.names if n not in names]
        return self.pm.subset_hook_caller(hook, remove_plugins=[p for p in others if p is not None])


_installed: InstalledPlugins | None = None


def installed_manager() -> InstalledPlugins:
    """The process's ``InstalledPlugins`` (made once: the daemon and gc ask for it repeatedly)."""
    global _installed
    if _installed is None:
        _installed = InstalledPlugins()
    return _installed
