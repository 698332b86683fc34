"""Finding, selecting and loading plugins. Every plugin, built-in or not, is an entry point in ``nsrun.plugins``.

A plugin is a module of ``@hookimpl`` functions plus optional data the loader reads:

``DEFAULT``   bool, selected when ``--plugins`` is not given (built-ins: Docker's default set)
``ORDER``     int, position in the pipeline (lower runs earlier; teardown runs in reverse). Default 50.
              Plugins are registered in reverse ORDER, so pluggy's own call order (last registered first,
              then ``tryfirst``/``trylast``) is the pipeline order, for core's hooks and HOOKSPECS' alike.
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

import sys

from . import _trace
from ._discovery import PluginRecord, discover
from ._options import Option
from .errors import PluginError

TYPE_CHECKING = False  # pluggy, inspect and typing load only when a selection goes through pluggy (``_plan``)
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Iterator

    import pluggy

__all__ = ["Option", "LoadedPlugins", "load_plugins", "installed_plugins", "default_selection", "InstalledPlugins",
           "installed_manager", "register", "blamed", "PER_PLUGIN"]


def installed_plugins() -> dict[str, PluginRecord]:
    """Every installed plugin by name (no plugin module is imported)."""
    return discover()


def default_selection(records: dict[str, PluginRecord] | None = None) -> list[str]:
    records = records if records is not None else discover()
    return [name for name, rec in records.items() if rec.default]


class LoadedPlugins:
    """The selected plugins, imported and registered so that pluggy's own call order IS the pipeline order.

    pluggy calls the implementations of a hook last-registered first (LIFO), ``tryfirst`` ones before and
    ``trylast`` ones after the rest, hook wrappers around them all. The plugins are registered in reverse
    pipeline order (highest ``ORDER`` first), so a plain ``pm.hook.<name>(...)`` runs them in pipeline order
    with ``tryfirst``/``trylast`` and wrappers meaning what pluggy says they mean. ``call`` is that call.

    Each implementation is registered wrapped (``_attributed``): an exception leaving it carries the plugin's
    name as ``exc.nsrun_plugin`` (see ``blamed``), so a failure in the pipeline names the plugin that raised.
    With tracing on (``NSRUN_TRACE``) the same wrapper times it as the phase ``<hook>:<plugin>``.

    A selection loaded from its plan (``_plan``: pluggy's resolution, remembered) has no plugin manager
    (``pm`` is None) and the same behaviour: ``hook`` is then the plan's relay.
    """

    def __init__(self, pm: pluggy.PluginManager | None, modules: list[tuple[str, ModuleType]],
                 broken: dict[str, str] | None = None, relay: Any = None) -> None:
        self.pm = pm
        self.hook = relay if relay is not None else pm.hook  # type: ignore[union-attr]  # <hook>(**kwargs)
        self.modules = modules  # pipeline order
        self.broken = broken or {}  # only for InstalledPlugins: plugins left out (name -> why)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.modules]

    def call(self, hook: str, **kwargs: Any) -> Any:
        """``pm.hook.<hook>(**kwargs)``: every implementation in pipeline order; results as pluggy gives them
        (a list without the Nones, or one value for a ``firstresult`` hook). The first exception propagates,
        naming its plugin (``blamed(exc)``)."""
        return getattr(self.hook, hook)(**kwargs)

    def context(self, spec: Any, paths: Any) -> Any:
        """The one way to make a ``RunContext`` for a run of these plugins (their hooks on ``ctx.hook``)."""
        from ._context import RunContext
        ctx = RunContext(spec, paths)
        ctx.hook = self.hook
        return ctx

    def impls(self, hook: str) -> list[tuple[str, Callable[..., Any], list[str]]]:
        """(plugin, function as registered, the arguments it is passed) per implementation of ``hook`` that
        is not a wrapper, in call order; the plugin's own function is the registered one's ``__wrapped__``."""
        if self.pm is None:
            return self.hook.impls(hook)
        impls = getattr(self.pm.hook, hook).get_hookimpls()  # walked from its end
        return [(i.plugin_name, i.function, list(i.argnames)) for i in reversed(impls)
                if not (i.wrapper or i.hookwrapper)]

    def each(self, hook: str, *, reverse: bool = False, **kwargs: Any) -> Iterator[tuple[str, Callable[[], Any]]]:
        """Yield (plugin name, thunk) per implementation of ``hook``, in pluggy's order (``reverse``: the exact
        opposite). Only for the hooks whose every implementation must run even when one fails, and whose
        failures must each name their plugin: ``teardown`` (reversed) and ``gc`` (``PER_PLUGIN``).

        The thunk calls that one implementation through pluggy (a subset hook caller: pluggy's argument
        selection), or as the plan does, and returns what it returned. Hook wrappers are refused on these hooks
        at load time.
        """
        if self.pm is None:
            yield from self.hook.each(hook, reverse, kwargs)
            return
        import functools
        impls = [impl for impl in getattr(self.pm.hook, hook).get_hookimpls()
                 if not (impl.wrapper or impl.hookwrapper)]
        # get_hookimpls() is the list pluggy walks from its end: the call order is its reverse.
        for impl in (impls if reverse else impls[::-1]):
            others = [other.plugin for other in impls if other is not impl]
            yield impl.plugin_name, functools.partial(_only, self.pm.subset_hook_caller(hook, others), kwargs)


_CO_GENERATOR = 0x20  # inspect.CO_GENERATOR: what inspect.isgeneratorfunction tests, without inspect
PER_PLUGIN = ("teardown", "gc", "collect")  # called implementation by implementation (``each``): no hook wrappers


def _only(caller: Any, kwargs: dict[str, Any]) -> Any:
    results = caller(**kwargs)
    return results[0] if results else None


def blamed(exc: BaseException) -> str:
    """The plugin whose hook implementation raised ``exc`` ("" when none did)."""
    return getattr(exc, "nsrun_plugin", "")


def _blame(exc: BaseException, plugin: str) -> None:
    if not hasattr(exc, "nsrun_plugin"):  # the innermost plugin is the one that raised
        try:
            exc.nsrun_plugin = plugin  # type: ignore[attr-defined]
        except AttributeError:
            pass


def _attributed(fn: Callable[..., Any], plugin: str, label: str, timed: bool) -> Callable[..., Any]:
    """``fn`` as it is registered: the same arguments for pluggy (``__wrapped__``), the same marker; an
    exception leaving it names ``plugin``; timed as ``label`` when tracing."""
    if getattr(getattr(fn, "__code__", None), "co_flags", 0) & _CO_GENERATOR:  # a hook wrapper (a generator):
        # pluggy drives it with next/send/throw
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return (yield from fn(*args, **kwargs))
            except BaseException as exc:
                _blame(exc, plugin)
                raise
        out = wrapper
    elif timed:
        def traced(*args: Any, **kwargs: Any) -> Any:
            try:
                with _trace.phase(label):
                    return fn(*args, **kwargs)
            except BaseException as exc:
                _blame(exc, plugin)
                raise
        out = traced
    else:
        def impl(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                _blame(exc, plugin)
                raise
        out = impl
    out.__wrapped__ = fn  # type: ignore[attr-defined]  # pluggy reads the arguments through it
    out.__name__ = out.__qualname__ = getattr(fn, "__name__", label)
    out.nsrun_impl = getattr(fn, "nsrun_impl")  # type: ignore[attr-defined]
    return out


class _Registered:
    """What is registered with pluggy for one plugin: its hook implementations, each ``_attributed``."""

    def __init__(self, name: str, plugin: Any) -> None:
        self._name = name
        timed = _trace.enabled
        for attr in dir(plugin):
            fn = getattr(plugin, attr, None)
            opts = getattr(fn, "nsrun_impl", None)
            if isinstance(opts, dict) and callable(fn):
                label = f"{opts.get('specname') or attr}:{name}"
                setattr(self, attr, _attributed(fn, name, label, timed))

    def __dir__(self) -> list[str]:  # what pluggy scans: only the implementations (not object's dunders)
        return [attr for attr in vars(self) if attr != "_name"]

    def __repr__(self) -> str:
        return f"<nsrun plugin {self._name}>"


def register(pm: pluggy.PluginManager, named: list[tuple[str, Any]]) -> None:
    """Register ``named`` ((name, module or object) in pipeline order) so that pluggy calls them in that
    order: the last one first, since pluggy calls the last registered first. Raises PluginError naming the
    plugin for an invalid implementation or a hook wrapper on a ``PER_PLUGIN`` hook."""
    import pluggy
    for name, plugin in reversed(named):
        try:
            pm.register(_Registered(name, plugin), name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
    for hook in PER_PLUGIN:
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                raise PluginError(f"plugin {impl.plugin_name!r} wraps {hook!r}: hook wrappers are not supported "
                                  f"there ({hook} calls each plugin on its own, so nothing could be wrapped)")


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


def _manager(modules: list[tuple[str, ModuleType]]) -> pluggy.PluginManager:
    """A PluginManager with core's hooks and every ``HOOKSPECS`` of ``modules`` (before any registration, so
    each implementation is checked against its spec as its plugin registers)."""
    import importlib

    import pluggy

    from . import hookspecs
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for _name, module in modules:
        extra = getattr(module, "HOOKSPECS", None)
        if extra is not None:
            try:
                pm.add_hookspecs(importlib.import_module(extra) if isinstance(extra, str) else extra)
            except ValueError:
                pass  # another plugin declares the same hooks (an installed copy, an alternative)
    return pm


def _import(name: str, rec: PluginRecord) -> ModuleType:
    try:
        __import__(rec.module)
        return sys.modules[rec.module]
    except ImportError as exc:
        raise PluginError(f"plugin {name!r} cannot be imported: {exc}") from exc


def load_plugins(selected: list[str] | None = None, only_hooks: tuple[str, ...] = ()) -> LoadedPlugins:
    """Import and register ``selected`` (default: the DEFAULT set) after checking requires/conflicts.

    ``only_hooks``: of the selection, load only the plugins implementing one of these hooks (``nsrun exec``
    runs three hooks: importing every plugin of the container would be most of its cost)."""
    records = discover()
    names = list(dict.fromkeys(selected if selected is not None else default_selection(records)))
    _check_selection(names, records)
    if only_hooks:
        names = [n for n in names if set(records[n].hooks) & set(only_hooks)]
    names.sort(key=lambda n: (records[n].order, n))
    modules = [(name, _import(name, records[name])) for name in names]
    from . import _plan
    key = ",".join(names) + "|" + ",".join(only_hooks)
    relay = _plan.replay(key, modules, _attributed)
    if relay is not None:
        return LoadedPlugins(None, modules, relay=relay)
    import pluggy
    pm = _manager(modules)
    register(pm, modules)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {pm.get_name(exc.plugin)!r} implements an unknown hook: {exc}") from exc
    loaded = LoadedPlugins(pm, modules)
    _plan.keep(key, loaded, _spec_files(modules))
    return loaded


def _spec_files(modules: list[tuple[str, ModuleType]]) -> list[str]:
    """The files of the selection's ``HOOKSPECS`` modules (imported by ``_manager``): part of what a plan of
    it was made from."""
    out = []
    for _name, module in modules:
        extra = getattr(module, "HOOKSPECS", None)
        spec = sys.modules.get(extra) if isinstance(extra, str) else extra
        path = getattr(spec, "__file__", None)
        if path and path not in out:
            out.append(path)
    return out


class InstalledPlugins(LoadedPlugins):
    """Every installed plugin, registered as a run's are (pipeline order, failures named) but without selection
    checks (conflicting plugins too): for the hooks that concern the whole root, not one run — the front ends'
    field mapping (``docker_create``), the daemon's routes, ``gc``, and undoing what any plugin made (``network
    rm`` asks every firewall backend). A plugin that cannot be imported or registered is left out and named
    in ``broken`` with the reason. ``only``: just the plugins named there (those installed); ``hooks``: just
    the plugins implementing one of these hooks (by their discovery records, so the others are not even
    imported)."""

    def __init__(self, only: list[str] | None = None, hooks: tuple[str, ...] = ()) -> None:
        records = discover()
        modules, broken = [], {}
        names = [n for n, r in records.items()
                 if (only is None or n in only) and (not hooks or set(r.hooks) & set(hooks))]
        for name in sorted(names, key=lambda n: (records[n].order, n)):
            try:
                modules.append((name, _import(name, records[name])))
            except PluginError as exc:
                broken[name] = str(exc)
        pm = _manager(modules)
        for name, module in reversed(modules):  # one by one: a bad plugin is left out, the others registered
            try:
                register(pm, [(name, module)])
            except PluginError as exc:
                if pm.has_plugin(name):
                    pm.unregister(name=name)
                broken[name] = str(exc)
        super().__init__(pm, [(n, m) for n, m in modules if n not in broken], broken)

    def subset(self, hook: str, names: list[str]) -> Any:
        """``hook`` called for the plugins in ``names`` only (a container's own plugins)."""
        others = [self.pm.get_plugin(n) for n in self.names if n not in names]
        return self.pm.subset_hook_caller(hook, remove_plugins=[p for p in others if p is not None])


_installed: dict[tuple[str, ...], InstalledPlugins] = {}


def installed_manager(only_hooks: tuple[str, ...] = ()) -> InstalledPlugins:
    """The process's ``InstalledPlugins`` (made once per ``only_hooks``: the daemon and gc ask repeatedly)."""
    found = _installed.get(only_hooks)
    if found is None:
        found = _installed[only_hooks] = InstalledPlugins(hooks=only_hooks)
    return found
