"""nsrun-oci delete's collection: the plan resolved at create (``_collect.plan``) and carried out without a plugin
manager (``_collect.run``), and the pluggy-free ``@hookimpl`` that makes that possible."""
from __future__ import annotations

import sys
import types

import pluggy
import pytest

from nsrun import Paths, hookimpl, hookspecs
from nsrun import _collect
from nsrun._hookimpl import HookimplMarker
from nsrun._plugins import LoadedPlugins, register


@pytest.mark.parametrize("kwargs", [{}, {"tryfirst": True}, {"trylast": True, "specname": "gc"},
                                    {"wrapper": True}, {"hookwrapper": True, "optionalhook": True}])
def test_the_marker_sets_what_pluggys_sets(kwargs):
    ours, theirs = (lambda: None), (lambda: None)
    HookimplMarker("nsrun")(**kwargs)(ours)
    pluggy.HookimplMarker("nsrun")(**kwargs)(theirs)
    assert ours.nsrun_impl == theirs.nsrun_impl
    bare = HookimplMarker("nsrun")(lambda: None)  # without arguments, as @hookimpl
    assert bare.nsrun_impl == pluggy.HookimplMarker("nsrun")(lambda: None).nsrun_impl


def test_a_plugin_marked_by_it_registers_as_pluggy_s_marker_would():
    calls = []

    @hookimpl(tryfirst=True)
    def gc(paths, live):
        calls.append(sorted(live))
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(types.SimpleNamespace(gc=gc), name="p")
    pm.hook.gc(paths=None, live=frozenset({"b", "a"}), reset=False)
    assert calls == [["a", "b"]] and pm.hook.gc.get_hookimpls()[0].tryfirst


@pytest.fixture
def modules(monkeypatch):
    """Fake plugin modules, importable by name (as installed plugins are)."""
    calls: list = []

    def make(name: str, **hooks):
        mod = types.ModuleType(name)
        for hook, fn in hooks.items():
            fn.__module__, fn.__qualname__, fn.__name__ = name, hook, hook
            setattr(mod, hook, hookimpl(fn))
        monkeypatch.setitem(sys.modules, name, mod)
        return mod
    make.calls = calls
    return make


def _loaded(*named) -> LoadedPlugins:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    register(pm, list(named))
    return LoadedPlugins(pm, list(named))


def test_the_plan_names_each_collect_in_pipeline_order_gc_for_a_plugin_without_one(modules):
    a = modules("fake_a", collect=lambda cid, info: [f"a {cid}"])
    b = modules("fake_b", gc=lambda paths, live: None)
    c = modules("fake_c", collect=lambda paths, cid, info: None, gc=lambda paths, live: None)
    d = modules("fake_d", teardown=lambda ctx: None)
    plan = _collect.plan(_loaded(("a", a), ("b", b), ("c", c), ("d", d)))
    assert plan == [["a", "collect", "fake_a", "collect", ["cid", "info"]], ["b", "gc", "", "", []],
                    ["c", "collect", "fake_c", "collect", ["paths", "cid", "info"]]]


def test_run_calls_the_recorded_functions_with_pluggys_arguments_and_names_a_failure(modules, monkeypatch):
    seen = []

    def boom(cid):
        raise OSError(16, "busy")
    modules("fake_a", collect=lambda cid, info: seen.append((cid, info)) or ["a removed"])
    modules("fake_b", collect=boom)
    monkeypatch.setattr("nsrun._plugins.InstalledPlugins", None)  # no plugin manager may be needed
    steps = [["a", "collect", "fake_a", "collect", ["cid", "info"]], ["b", "collect", "fake_b", "collect", ["cid"]]]
    lines, failures = _collect.run(steps, Paths.from_root("/nonexistent"), "c1", {"k": 1},
                                   live=lambda: pytest.fail("no gc"))
    assert seen == [("c1", {"k": 1})]
    assert (lines, failures) == (["a removed"], ["b: collect failed: [Errno 16] busy"])


def test_what_the_plan_cannot_reach_goes_through_pluggy_and_gc_gets_the_live_set(modules, monkeypatch):
    calls = []

    class Installed:  # InstalledPlugins(only=..., hooks=...) as _collect asks for it
        broken = {"gone": "cannot be imported"}

        def __init__(self, only, hooks):
            calls.append(("installed", only, hooks))

        def each(self, hook, **kwargs):
            yield "moved", lambda: [f"moved {kwargs['cid']}"]
    monkeypatch.setattr("nsrun._plugins.InstalledPlugins", Installed)
    monkeypatch.setattr("nsrun._gc.plugin_gc", lambda paths, live, only, failures: calls.append(("gc", live, only)) or [])
    modules("fake_moved", collect=lambda cid: None)
    del sys.modules["fake_moved"].collect  # the plugin changed since the container was created
    steps = [["moved", "collect", "fake_moved", "collect", ["cid"]], ["gone", "collect", "no_such_module", "collect", []],
             ["old", "gc", "", "", []]]
    lines, failures = _collect.run(steps, Paths.from_root("/nonexistent"), "c1", {}, live=lambda: {"other"})
    assert calls == [("installed", ["moved", "gone"], ("collect",)), ("gc", {"other"}, ["old"])]
    assert (lines, failures) == (["moved c1"], ["gone: not collected: cannot be imported"])
