"""Find installed plugins (entry-point group ``nsrun.plugins``) and remember what they declare.

Scanning every distribution's metadata and importing every plugin module costs milliseconds on each start,
so the result is cached in a JSON file keyed by the interpreter's ``sys.path`` directories (their mtimes
change when anything is installed or removed) and by each plugin module's own mtime.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any

from ._fields import Fields
from ._jsonlite import dumps, loads  # not json: it imports re (~3 ms on every command that lists plugins)

__all__ = ["PluginRecord", "discover", "GROUP", "plugin_options"]

GROUP = "nsrun.plugins"
_CACHE_VERSION = 6
_memo: dict[str, "PluginRecord"] | None = None


class PluginRecord(Fields):
    """What ``nsrun plugins`` shows and the loader checks, without importing the module."""

    __slots__ = ("name", "module", "dist", "file", "mtime", "default", "order", "requires", "provides",
                 "conflicts", "options", "hooks", "commands", "doc")
    _defaults = {"default": False, "order": 50, "requires": (), "provides": None, "conflicts": (),
                 "options": (), "hooks": (), "commands": dict, "doc": ""}


def _cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = _installation().strip("/").replace("/", "_")  # one cache per installation (virtualenv)
    return os.path.join(base, "nsrun", f"plugins-{key}.json")


def _installation() -> str:
    """The installation this nsrun runs from: the virtualenv holding its site-packages (``sys.prefix`` is
    ``/usr`` under ``python -S``, as the launchers start it, whatever the virtualenv: one shared cache file
    that every installation's start rewrote for the next)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../lib/pythonX.Y/site-packages
    parts = here.split(os.sep)
    return os.sep.join(parts[:-3]) if len(parts) > 3 and parts[-3] == "lib" else sys.prefix


def _fingerprint() -> list[list[Any]]:
    """The mtimes of the directories distributions are installed into (any install or removal touches
    them). Other sys.path entries (a test runner's, the current directory) do not count."""
    out = []
    for entry in sys.path:
        if not entry.endswith(("site-packages", "dist-packages")):
            continue
        try:
            out.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            out.append([entry, 0])
    return out


def _record(ep: Any) -> PluginRecord:
    import importlib
    module = importlib.import_module(ep.value.split(":")[0])
    file = getattr(module, "__file__", "") or ""
    # Every @hookimpl, core's hooks and those a plugin's HOOKSPECS define (the backends' net_firewall_backend).
    hooks = tuple(sorted(name for name in dir(module) if hasattr(getattr(module, name), "nsrun_impl")))
    options = tuple(o.to_dict() for o in getattr(module, "OPTIONS", ()))
    return PluginRecord(
        name=ep.name, module=module.__name__, dist=ep.dist.name if ep.dist else "?", file=file,
        mtime=os.stat(file).st_mtime_ns if file else 0,
        default=bool(getattr(module, "DEFAULT", False)), order=int(getattr(module, "ORDER", 50)),
        requires=tuple(getattr(module, "REQUIRES", ())), provides=getattr(module, "PROVIDES", None),
        conflicts=tuple(getattr(module, "CONFLICTS", ())), options=options, hooks=hooks,
        commands=dict(getattr(module, "COMMANDS", {})),
        doc=((module.__doc__ or "").strip().splitlines() or [""])[0],
    )


def _scan() -> dict[str, PluginRecord]:
    from importlib.metadata import entry_points

    records: dict[str, PluginRecord] = {}
    for ep in entry_points(group=GROUP):
        if ep.name not in records:
            records[ep.name] = _record(ep)
    return records


def _load_cache(path: str) -> dict[str, PluginRecord] | None:
    try:
        with open(path) as f:
            data = loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return None
    if data.get("fingerprint") != _fingerprint():
        return None
    records = {}
    for raw in data["plugins"]:
        rec = PluginRecord(**{k: tuple(v) if isinstance(v, list) and k != "options" else
                              tuple(v) if k == "options" else v for k, v in raw.items()})
        try:
            if rec.file and os.stat(rec.file).st_mtime_ns != rec.mtime:
                return None
        except OSError:
            return None
        records[rec.name] = rec
    return records


def write_cache(path: str, data: Any) -> None:
    """Atomically replace a JSON cache file; a read-only home only costs speed, so errors are ignored."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def _save_cache(path: str, records: dict[str, PluginRecord]) -> None:
    write_cache(path, {"version": _CACHE_VERSION, "fingerprint": _fingerprint(),
                       "plugins": [r.to_dict() for r in records.values()]})


def discover(*, use_cache: bool = True) -> dict[str, PluginRecord]:
    """All installed plugins by entry-point name."""
    global _memo
    if _memo is not None and use_cache:
        return _memo
    path = _cache_path()
    records = _load_cache(path) if use_cache and not os.environ.get("NSRUN_NO_PLUGIN_CACHE") else None
    if records is None:
        records = _scan()
        _save_cache(path, records)
    _memo = records
    return records


def plugin_options() -> list[dict[str, Any]]:
    """Every installed plugin's ``OPTIONS`` (as dicts, with ``plugin``: its name); the first plugin to declare
    a dest owns it. Options with ``keys`` (a flag several plugins share) are all listed."""
    seen, out = set(), []
    for rec in discover().values():
        for opt in rec.options:
            if opt.get("keys") or opt["dest"] not in seen:
                seen.add(opt["dest"])
                out.append({**opt, "plugin": rec.name})
    return out
