"""A selection's call plan (``_plan``): pluggy's resolution remembered and replayed without pluggy — the same
implementations in the same order with the same arguments and results, thrown away whenever what it was made from
changes, never made for what it could not replay exactly."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import pluggy
import pytest

from nsrun import _plan, hookimpl, hookspecs
from nsrun._plugins import LoadedPlugins, _attributed, blamed, load_plugins, register


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A private cache directory (plans live beside the discovery cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NSRUN_NO_PLUGIN_CACHE", raising=False)
    return tmp_path / "cache"


def _unwrapped(loaded: LoadedPlugins, hook: str) -> list:
    return [(p, getattr(fn, "__wrapped__", fn), names) for p, fn, names in loaded.impls(hook)]


def test_the_second_load_of_a_selection_replays_pluggys_resolution_of_every_hook():
    selection = ["sec", "mnt", "pid", "uts", "ipc", "net", "nft", "cgroup", "seccomp", "rlimit"]
    first = load_plugins(selection)
    second = load_plugins(selection)
    assert first.pm is not None and second.pm is None
    assert second.names == first.names
    hooks = list(vars(first.pm.hook))
    assert "in_child" in hooks and "net_firewall_backend" in hooks  # core's hooks and a plugin's HOOKSPECS
    for hook in hooks:
        assert _unwrapped(second, hook) == _unwrapped(first, hook), hook
    assert [p for p, _, _ in second.impls("in_child")][-1] == "mnt"  # trylast, as pluggy ordered it
    assert second.hook.container_freeze.firstresult and not second.hook.pre_clone.firstresult


def test_a_planned_start_imports_neither_pluggy_nor_typing_nor_json(cache):
    code = textwrap.dedent("""
        import sys
        from nsrun._plugins import default_selection, load_plugins
        loaded = load_plugins(default_selection())
        print(loaded.pm is None, sorted(m for m in ("pluggy", "typing", "inspect", "json", "re") if m in sys.modules))
    """)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    outs = [subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({_site()!r})\n" + code],
                           capture_output=True, text=True, env=env, check=True).stdout.strip() for _ in range(2)]
    assert outs[0].startswith("False")  # the first load goes through pluggy and keeps the plan
    assert outs[1] == "True []"


def _site() -> str:
    import nsrun
    return os.path.dirname(os.path.dirname(nsrun.__file__))


@pytest.fixture
def fake(monkeypatch):
    """make(name, **hooks): a plugin module importable by name, its functions marked ``@hookimpl``."""
    def make(name: str, marks: dict | None = None, **hooks):
        mod = types.ModuleType(name)
        for hook, fn in hooks.items():
            fn.__module__, fn.__qualname__, fn.__name__ = name, hook, hook
            setattr(mod, hook, hookimpl(**(marks or {}).get(hook, {}))(fn))
        monkeypatch.setitem(sys.modules, name, mod)
        return mod
    return make


def _pluggy(named) -> LoadedPlugins:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    register(pm, list(named))
    return LoadedPlugins(pm, list(named))


def _replayed(named, spec_files=()):
    loaded = _pluggy(named)
    _plan.keep("k", loaded, list(spec_files))
    return loaded, _plan.replay("k", list(named), _attributed)


def test_calls_through_a_plan_are_pluggys_calls(fake):
    a = fake("plan_fake_a", pre_clone=lambda ctx: 1, container_freeze=lambda paths, cid, frozen: None,
             post_start=lambda pid: None)
    b = fake("plan_fake_b", pre_clone=lambda: None, container_freeze=lambda cid: f"b:{cid}")
    c = fake("plan_fake_c", pre_clone=lambda ctx: 3, marks={"pre_clone": {"tryfirst": True}})
    named = [("a", a), ("b", b), ("c", c)]
    loaded, relay = _replayed(named)
    assert relay is not None
    for call in (dict(hook="pre_clone", ctx=None),
                 dict(hook="container_freeze", paths=None, cid="x", frozen=True),
                 dict(hook="post_start", ctx=None, pid=7), dict(hook="teardown", ctx=None, status=0)):
        hook = call.pop("hook")
        assert getattr(relay, hook)(**call) == getattr(loaded.pm.hook, hook)(**call), hook
    assert relay.pre_clone(ctx=None) == [3, 1]  # tryfirst first, None left out
    assert relay.container_freeze(paths=None, cid="x", frozen=True) == "b:x"  # firstresult
    with pytest.raises(AttributeError):
        relay.no_such_hook  # noqa: B018 - as pluggy's relay


def test_a_failure_through_a_plan_names_its_plugin(fake):
    def post_start(ctx, pid):
        raise OSError(5, "boom")
    named = [("a", fake("plan_fake_fail", post_start=post_start))]
    _loaded, relay = _replayed(named)
    planned = LoadedPlugins(None, named, relay=relay)
    with pytest.raises(OSError) as excinfo:
        planned.call("post_start", ctx=None, pid=1)
    assert blamed(excinfo.value) == "a"
    assert [name for name, _ in planned.each("teardown", reverse=True, ctx=None, status=0)] == []


def test_a_changed_plugin_or_spec_file_throws_the_plan_away(fake, tmp_path):
    spec = tmp_path / "specs.py"
    spec.write_text("# hook specifications\n")
    a = fake("plan_fake_changed", pre_clone=lambda ctx: 1)
    named = [("a", a)]
    assert _replayed(named, [str(spec)])[1] is not None
    a.post_start = hookimpl(lambda ctx, pid: None)  # a new implementation
    assert _plan.replay("k", named, _attributed) is None
    del a.post_start
    assert _plan.replay("k", named, _attributed) is not None
    a.pre_clone = hookimpl(tryfirst=True)(a.pre_clone)  # other options: pluggy would order it elsewhere
    assert _plan.replay("k", named, _attributed) is None
    _replayed(named, [str(spec)])
    a.pre_clone = hookimpl(tryfirst=True)(lambda: 2)  # other arguments (pluggy checks them at load)
    assert _plan.replay("k", named, _attributed) is None
    _replayed(named, [str(spec)])
    spec.write_text("# hook specifications, changed\n")
    assert _plan.replay("k", named, _attributed) is None


def test_a_selection_a_plan_cannot_replay_exactly_gets_none(fake, monkeypatch):
    def wrapper(ctx):
        return (yield)
    assert _replayed([("w", fake("plan_fake_wrap", pre_clone=wrapper, marks={"pre_clone": {"wrapper": True}}))])[1] is None

    class Plugin:
        @hookimpl
        def pre_clone(self, ctx):
            return 1
    assert _replayed([("m", Plugin())])[1] is None  # a method: not a module-level function
    monkeypatch.setenv("NSRUN_NO_PLUGIN_CACHE", "1")
    assert _replayed([("a", fake("plan_fake_off", pre_clone=lambda ctx: 1))])[1] is None


def test_every_selection_keeps_its_own_plan():
    selections = [["pid", "mnt"], ["uts", "pid", "mnt"], ["ipc", "pid", "mnt", "sec"], ["net", "nft", "mnt"],
                  ["net", "iptables", "mnt"]] * 4
    first_round = [load_plugins(s).pm is None for s in selections[:5]]
    later = [load_plugins(s).pm is None for s in selections[5:]]
    assert first_round == [False] * 5 and all(later)  # none pushed another out
