"""A plugin selection's call plan: pluggy's resolution of every hook, remembered, so that the next load of the
same selection calls the same implementations, in the same order, with the same arguments, without importing
pluggy (with ``inspect`` and ``typing``, which it imports, ~15 ms of every ``nsrun run`` and ``nsrun-oci create``
on this machine; registering the plugins was ~4 ms more).

pluggy stays the one authority on the order: a plan is only ever written from a plugin manager that has just
registered the selection (``keep``), and holds, per hook, what pluggy would call — the implementations in its
call order (plugin, module, function), whether the hook is ``firstresult`` — and what that resolution was made
from: each plugin module's marked functions (name and ``@hookimpl`` options: ``tryfirst``, ``trylast``,
``specname``...) and the hook specifications' files. ``replay`` uses a plan only when all of that is unchanged
and every function is still where the plan says with the arguments pluggy read (``argnames``); otherwise the
caller loads through pluggy and writes a new plan. A selection with a hook wrapper anywhere, or with an
implementation that is not a module-level function, gets no plan: it always goes through pluggy.

Calls through a plan are pluggy's calls (``_multicall`` without wrappers): each implementation with the
arguments it names, taken from the call's keyword arguments; the non-None results in a list, or the first one for
a ``firstresult`` hook. Each function is wrapped as pluggy's registration wraps it (``_plugins._attributed``:
a failure names its plugin, ``NSRUN_TRACE`` times it). Plans live beside the discovery cache (a directory per
installation, a small file per selection: a start reads its own only), with its trust and its
``NSRUN_NO_PLUGIN_CACHE`` switch.

This module imports neither pluggy nor ``typing`` nor ``json``.
"""
from __future__ import annotations

import os
import sys

from ._jsonlite import loads

__all__ = ["Relay", "keep", "replay", "argnames", "resolve", "where"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Iterator

    from ._plugins import LoadedPlugins

_VERSION = 2
_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


def argnames(fn: Any) -> list[str] | None:
    """The arguments pluggy passes a plain function (its positional parameters without a default), read off its
    code; None for anything else (pluggy's ``inspect.signature`` would be needed to agree)."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__wrapped__", None) is not None or hasattr(fn, "__signature__"):
        return None
    names = list(code.co_varnames[:code.co_argcount])
    defaults = len(getattr(fn, "__defaults__", None) or ())
    return names[:len(names) - defaults] if defaults else names


def _scan(module: ModuleType) -> list[list]:
    """The marked functions pluggy would register from ``module`` (``_plugins._Registered``'s view)."""
    out = []
    for attr in dir(module):
        fn = getattr(module, attr, None)
        opts = getattr(fn, "nsrun_impl", None)
        if isinstance(opts, dict) and callable(fn):
            out.append([attr, opts, argnames(fn)])  # pluggy checks the arguments against the spec at load
    return out


def _stat(path: str) -> list:
    try:
        st = os.stat(path)
        return [path, st.st_mtime_ns, st.st_size]
    except OSError:
        return [path, 0, 0]


def _stamp(spec_files: list[str]) -> list[list]:
    return [_stat(p) for p in [os.path.join(os.path.dirname(__file__), "hookspecs.py"), *spec_files]]


def _path(key: str) -> str:
    """One small file per selection (a start reads only its own), in a directory per installation."""
    from ._discovery import _cache_path
    try:  # the builtin module: hashlib loads OpenSSL first (~2.5 ms)
        from _sha256 import sha256
    except ImportError:  # a Python built without it (3.12 names it _sha2)
        from hashlib import sha256
    base = _cache_path()
    folder = os.path.basename(base).replace("plugins-", "plans-", 1).removesuffix(".json")
    return os.path.join(os.path.dirname(base), folder, sha256(key.encode()).hexdigest()[:32] + ".json")


def _read(key: str) -> dict | None:
    try:
        with open(_path(key), "rb") as f:
            data = loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _VERSION or data.get("key") != key:
        return None
    return data


def _enabled() -> bool:
    return not os.environ.get("NSRUN_NO_PLUGIN_CACHE")


def resolve(module: str, qual: str) -> Any:
    """``module.qual`` (the module imported if need be), or None."""
    if not module or not qual:
        return None
    mod = sys.modules.get(module)
    if mod is None:
        try:
            __import__(module)
        except ImportError:
            return None
        mod = sys.modules.get(module)
    return getattr(mod, qual, None)


def where(fn: Any) -> tuple[str, str] | None:
    """(module, name) by which ``resolve`` finds ``fn`` again, for a module-level function; None otherwise."""
    module, qual = getattr(fn, "__module__", None) or "", getattr(fn, "__qualname__", None) or ""
    return (module, qual) if qual.isidentifier() and resolve(module, qual) is fn else None


def keep(key: str, loaded: LoadedPlugins, spec_files: list[str]) -> None:
    """Write the plan of ``loaded`` (a selection pluggy just registered) under ``key``; nothing when the
    selection cannot be planned (a hook wrapper, an implementation that is not a plain module-level function)."""
    if not _enabled():
        return
    hooks: dict[str, list] = {}
    for name, caller in vars(loaded.pm.hook).items():
        impls = caller.get_hookimpls()
        rows = []
        for impl in reversed(impls):  # pluggy walks the list from its end
            if impl.wrapper or impl.hookwrapper:
                return
            fn = getattr(impl.function, "__wrapped__", impl.function)  # _plugins._attributed's
            found = where(fn)
            if found is None or argnames(fn) != list(impl.argnames):
                return
            rows.append([impl.plugin_name, *found])
        spec = caller.spec
        hooks[name] = [bool(spec is not None and spec.opts.get("firstresult")), rows]
    from ._discovery import write_cache
    write_cache(_path(key), {"version": _VERSION, "key": key, "stamp": _stamp(spec_files),
                             "scan": [_scan(m) for _, m in loaded.modules], "hooks": hooks})


def replay(key: str, modules: list[tuple[str, ModuleType]], wrap: Callable[..., Any]) -> Relay | None:
    """The hooks of the selection ``modules`` (imported, in pipeline order) as its plan calls them, or None
    when there is no plan for ``key`` or anything it was made from has changed (then load through pluggy).
    ``wrap(fn, plugin, label, timed)`` is what registration wraps each function in (``_plugins._attributed``)."""
    if not _enabled():
        return None
    entry = _read(key)
    if entry is None:
        return None
    try:
        if entry["scan"] != [_scan(m) for _, m in modules]:
            return None
        if entry["stamp"] != _stamp([row[0] for row in entry["stamp"][1:]]):
            return None
        from . import _trace
        timed = _trace.enabled
        hooks: dict[str, tuple[bool, list]] = {}
        for name, (firstresult, rows) in entry["hooks"].items():
            impls = []
            for plugin, module, qual in rows:
                fn = resolve(module, qual)
                names = argnames(fn)
                if names is None or not isinstance(getattr(fn, "nsrun_impl", None), dict):
                    return None
                impls.append((plugin, wrap(fn, plugin, f"{name}:{plugin}", timed), names))
            hooks[name] = (bool(firstresult), impls)
    except (KeyError, TypeError, ValueError):
        return None
    return Relay(hooks)


class _Caller:
    """One hook, called as pluggy calls it (no wrappers: a plan has none)."""

    __slots__ = ("name", "firstresult", "impls")

    def __init__(self, name: str, firstresult: bool, impls: list) -> None:
        self.name, self.firstresult, self.impls = name, firstresult, impls

    def __call__(self, **kwargs: Any) -> Any:
        results = []
        for _plugin, fn, names in self.impls:
            res = fn(*_arguments(kwargs, names))
            if res is not None:
                if self.firstresult:
                    return res
                results.append(res)
        return None if self.firstresult else results

    def __repr__(self) -> str:
        return f"<planned hook {self.name!r}>"


class Relay:
    """``ctx.hook`` for a planned selection: ``relay.<hook>(**kwargs)`` as on pluggy's ``pm.hook``; an unknown
    hook is an AttributeError, as there."""

    def __init__(self, hooks: dict[str, tuple[bool, list]]) -> None:
        for name, (firstresult, impls) in hooks.items():
            setattr(self, name, _Caller(name, firstresult, impls))

    def impls(self, hook: str) -> list[tuple[str, Callable[..., Any], list[str]]]:
        """(plugin, registered function, argnames) per implementation of ``hook``, in call order."""
        return list(getattr(self, hook).impls)

    def each(self, hook: str, reverse: bool, kwargs: dict) -> Iterator[tuple[str, Callable[[], Any]]]:
        """``LoadedPlugins.each`` for a plan: (plugin, thunk) per implementation."""
        impls = self.impls(hook)
        for plugin, fn, names in (impls[::-1] if reverse else impls):
            yield plugin, (lambda fn=fn, names=names: fn(*_arguments(kwargs, names)))


def _arguments(kwargs: dict, names: list[str]) -> list:
    """pluggy's argument selection: the call's keyword arguments an implementation names, in its order."""
    try:
        return [kwargs[a] for a in names]
    except KeyError as exc:
        raise TypeError(f"hook call must provide argument {exc.args[0]!r}") from None  # pluggy's words
