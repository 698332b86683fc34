"""The hook pipeline without root: order of hooks, teardown guarantees, error attribution (fake spawner)."""
from __future__ import annotations

import errno
import types

import pluggy
import pytest

from nsrun import ContainerSpec, Paths, PluginError, RunContext, SetupError, TeardownError, hookimpl
from nsrun import hookspecs
from nsrun._lifecycle import run_container
from nsrun._plugins import LoadedPlugins, blamed, register


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def names(self, hook: str) -> list[str]:
        return [name for h, name in self.calls if h == hook]

    def plugin(self, name: str, *, flags: int = 0, raises: dict[str, BaseException] | None = None):
        rec, raises = self, raises or {}

        def act(hook: str) -> None:
            rec.calls.append((hook, name))
            if hook in raises:
                raise raises[hook]

        @hookimpl
        def pre_clone(ctx):
            act("pre_clone")
            return flags

        @hookimpl
        def post_start(ctx, pid):
            act("post_start")

        @hookimpl
        def teardown(ctx, status):
            act("teardown")

        return types.SimpleNamespace(pre_clone=pre_clone, post_start=post_start, teardown=teardown)


def make_plugins(*named, specs=()) -> LoadedPlugins:
    """(name, plugin) in pipeline order, registered as the loader does (``register``)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for extra in specs:
        pm.add_hookspecs(extra)
    register(pm, list(named))
    pm.check_pending()
    return LoadedPlugins(pm, list(named))


class FakeChild:
    def __init__(self, status: int = 0, fail: BaseException | None = None) -> None:
        self.pid = 4242
        self.status, self.fail, self.killed = status, fail, False

    def release(self) -> None:
        if self.fail:
            raise self.fail

    def wait(self) -> int:
        return self.status

    def kill(self) -> None:
        self.killed = True


class FakeSpawner:
    def __init__(self, child: FakeChild) -> None:
        self.child, self.flags = child, None

    def __call__(self, ctx, plugins, flags):
        self.flags = flags
        return self.child


class FakeIO:

    def after_fork(self) -> None:
        pass

    def wait(self, child) -> int:
        return child.wait()


class FakeRecord:
    def __init__(self) -> None:
        self.updates: list[dict] = []

    def update(self, **fields) -> None:
        self.updates.append(fields)


def _ctx() -> RunContext:
    return RunContext(ContainerSpec(id="c" * 64, name="c1", argv=["true"]), Paths.from_root("/tmp/nsrun-unit"))


def test_hooks_run_in_pipeline_order_and_teardown_in_reverse():
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a", flags=1)), ("b", rec.plugin("b", flags=2)),
                           ("c", rec.plugin("c", flags=4)))
    spawner = FakeSpawner(FakeChild(status=3))
    record = FakeRecord()
    assert run_container(plugins, _ctx(), record, FakeIO(), spawn=spawner) == 3
    assert spawner.flags == 7
    assert rec.names("pre_clone") == ["a", "b", "c"]
    assert rec.names("post_start") == ["a", "b", "c"]
    assert rec.names("teardown") == ["c", "b", "a"]
    assert record.updates[0]["status"] == "running"
    assert record.updates[-1] == {**record.updates[-1], "status": "exited", "exit_code": 3}


def test_teardown_reaches_everyone_even_when_one_fails():
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")),
                           ("b", rec.plugin("b", raises={"teardown": OSError(errno.EBUSY, "busy")})),
                           ("c", rec.plugin("c")))
    with pytest.raises(TeardownError) as excinfo:
        run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=FakeSpawner(FakeChild()))
    assert rec.names("teardown") == ["c", "b", "a"]
    assert [name for name, _ in excinfo.value.failures] == ["b"]


def test_failed_pre_clone_still_tears_down_everyone_and_never_forks():
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")),
                           ("b", rec.plugin("b", raises={"pre_clone": SetupError("no lease", phase="pre_clone")})),
                           ("c", rec.plugin("c")))
    spawner = FakeSpawner(FakeChild())
    with pytest.raises(SetupError):
        run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=spawner)
    assert spawner.flags is None
    assert rec.names("pre_clone") == ["a", "b"]
    assert rec.names("teardown") == ["c", "b", "a"]


def test_failed_post_start_kills_the_child_and_names_the_plugin():
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")),
                           ("net", rec.plugin("net", raises={"post_start": OSError(errno.EEXIST, "File exists")})))
    child = FakeChild()
    with pytest.raises(SetupError) as excinfo:
        run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=FakeSpawner(child))
    assert child.killed
    assert excinfo.value.plugin == "net" and excinfo.value.errno == errno.EEXIST
    assert rec.names("teardown") == ["net", "a"]


def test_child_failure_is_reported_and_teardown_runs():
    from nsrun import ChildSetupError
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")))
    err = ChildSetupError('exec: "nope": executable file not found in $PATH', stage="exec", errno=errno.ENOENT)
    child = FakeChild(fail=err)
    record = FakeRecord()
    with pytest.raises(ChildSetupError) as excinfo:
        run_container(plugins, _ctx(), record, FakeIO(), spawn=FakeSpawner(child))
    assert excinfo.value.exit_code == 127
    assert rec.names("teardown") == ["a"]
    assert record.updates[-1]["exit_code"] == 127


def test_tryfirst_and_trylast_are_honoured_in_pipeline_order():
    order = []

    class Early:
        @hookimpl(trylast=True)
        def in_child(self, ctx):
            order.append("mnt")

    class Late:
        @hookimpl
        def in_child(self, ctx):
            order.append("uts")

    plugins = make_plugins(("mnt", Early()), ("uts", Late()))
    plugins.call("in_child", ctx=None)
    assert order == ["uts", "mnt"]


# -- one dispatcher: pluggy's own loop, in pipeline order ----------------------------------------------------

def _marker(name: str, order: list, hook: str = "pre_clone", **opts):
    """A plugin object whose ``hook`` implementation appends ``name`` to ``order`` (distinct classes, so
    every plugin's function is its own)."""
    def impl(self, ctx):
        order.append(name)
    impl.__name__ = hook
    return type(f"P{name}", (), {hook: hookimpl(**opts)(impl)})()


def test_pipeline_order_with_tryfirst_and_trylast_is_pluggys_meaning():
    order: list[str] = []
    plugins = make_plugins(("a", _marker("a", order)), ("b", _marker("b", order, trylast=True)),
                           ("c", _marker("c", order)), ("d", _marker("d", order, tryfirst=True)),
                           ("e", _marker("e", order)))
    plugins.call("pre_clone", ctx=None)
    assert order == ["d", "a", "c", "e", "b"]  # tryfirst, then the pipeline, then trylast


def test_a_hook_a_plugin_defines_runs_in_pipeline_order_not_pluggys_lifo():
    class Specs:
        @pluggy.HookspecMarker(hookspecs.PROJECT)
        def x_backend(self):
            """A hook some plugin defines for others (as the net plugin's HOOKSPECS do)."""

    def plugin(name):
        return type(f"X{name}", (), {"x_backend": hookimpl(lambda self: name)})()

    named = [("a", plugin("a")), ("b", plugin("b")), ("c", plugin("c"))]
    assert make_plugins(*named, specs=[Specs]).call("x_backend") == ["a", "b", "c"]
    plain = pluggy.PluginManager(hookspecs.PROJECT)  # what registering in pipeline order would give
    plain.add_hookspecs(Specs)
    for name, p in named:
        plain.register(p, name=name)
    assert plain.hook.x_backend() == ["c", "b", "a"]


def test_a_hook_wrapper_runs_around_the_pipeline_and_sees_every_result():
    seen = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def pre_clone(self, ctx):
            seen.append("before")
            results = yield
            seen.append(list(results))
            return results + [8]

    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a", flags=1)), ("w", Wrapper()), ("b", rec.plugin("b", flags=2)))
    spawner = FakeSpawner(FakeChild())
    run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=spawner)
    assert seen == ["before", [1, 2]]
    assert spawner.flags == 11  # the wrapper's answer is what the core ORs


def test_a_failing_wrapper_is_blamed_on_its_plugin():
    class Wrapper:
        @hookimpl(wrapper=True)
        def post_start(self, ctx, pid):
            yield
            raise OSError(errno.EPERM, "no")

    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")), ("w", Wrapper()))
    with pytest.raises(SetupError) as excinfo:
        run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=FakeSpawner(FakeChild()))
    assert excinfo.value.plugin == "w" and rec.names("post_start") == ["a"]


@pytest.mark.parametrize("hook", ["teardown", "gc"])
@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_a_hook_wrapper_on_a_per_plugin_hook_is_refused_at_load(hook, style):
    Bad = type("Bad", (), {hook: hookimpl(**{style: True})(
        (lambda self, ctx, status: (yield)) if hook == "teardown" else (lambda self, paths: (yield)))})
    with pytest.raises(PluginError, match=f"plugin 'bad' wraps '{hook}'"):
        make_plugins(("a", Recorder().plugin("a")), ("bad", Bad()))


def test_a_pipeline_failure_names_the_plugin_that_raised():
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")), ("b", rec.plugin("b", raises={"pre_clone": ValueError("x")})),
                           ("c", rec.plugin("c")))
    with pytest.raises(ValueError) as excinfo:
        run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=FakeSpawner(FakeChild()))
    assert blamed(excinfo.value) == "b"
    assert rec.names("pre_clone") == ["a", "b"]


def test_a_child_hook_failure_names_its_plugin_and_a_nested_hook_names_the_inner_one():
    """What the child reports as {stage, plugin}: ``_init_main`` sends ``blamed(exc)``."""
    class Specs:
        @pluggy.HookspecMarker(hookspecs.PROJECT)
        def x_probe(self):
            """A plugin-defined hook."""

    class Outer:
        @hookimpl
        def in_child(self, ctx):
            plugins.call("x_probe")

    class Inner:
        @hookimpl
        def x_probe(self):
            raise OSError(errno.ENOENT, "gone")

    plugins = make_plugins(("outer", Outer()), ("inner", Inner()), specs=[Specs])
    with pytest.raises(OSError) as excinfo:
        plugins.call("in_child", ctx=None)
    assert blamed(excinfo.value) == "inner"


def test_teardown_runs_in_reverse_with_every_failure_collected_and_pluggys_argument_selection():
    rec = Recorder()

    class OnlyCtx:  # takes fewer arguments than the spec: pluggy passes only what it names
        @hookimpl
        def teardown(self, ctx):
            rec.calls.append(("teardown", "d"))

    plugins = make_plugins(("a", rec.plugin("a")),
                           ("b", rec.plugin("b", raises={"teardown": OSError(errno.EBUSY, "busy")})),
                           ("c", rec.plugin("c", raises={"teardown": RuntimeError("stuck")})),
                           ("d", OnlyCtx()))
    with pytest.raises(TeardownError) as excinfo:
        run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=FakeSpawner(FakeChild()))
    assert rec.names("teardown") == ["d", "c", "b", "a"]
    assert [name for name, _ in excinfo.value.failures] == ["c", "b"]


def test_gc_goes_through_pluggy_per_plugin_names_a_failure_and_goes_on(monkeypatch):
    from nsrun import _gc

    class Gc:
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        @hookimpl
        def gc(self, live, reset):  # no ``paths``: pluggy's argument selection
            if self.fail:
                raise OSError(errno.EIO, "disk on fire")
            return [f"{self.name} collected {sorted(live)} reset={reset}"]

    plugins = make_plugins(("a", Gc("a")), ("b", Gc("b", fail=True)), ("c", Gc("c")))
    plugins.broken = {"z": "plugin 'z' cannot be imported: No module named 'z'"}
    monkeypatch.setattr(_gc, "installed_manager", lambda: plugins)
    engine = types.SimpleNamespace(paths=Paths.from_root("/tmp/nsrun-unit"))
    assert _gc.plugin_gc(engine.paths, {"x"}, reset=True) == [
        "z: not collected: plugin 'z' cannot be imported: No module named 'z'",
        "a collected ['x'] reset=True", "b: gc failed: [Errno 5] disk on fire", "c collected ['x'] reset=True"]


def test_tracing_times_each_plugin_as_hook_colon_plugin(monkeypatch):
    from nsrun import _trace
    monkeypatch.setattr(_trace, "enabled", True)
    monkeypatch.setattr(_trace, "_marks", [])
    rec = Recorder()
    plugins = make_plugins(("a", rec.plugin("a")), ("b", rec.plugin("b")))
    run_container(plugins, _ctx(), FakeRecord(), FakeIO(), spawn=FakeSpawner(FakeChild()))
    names = [name for name, _ in _trace._marks if name.endswith((":a", ":b"))]  # not the core's own phases
    assert names == ["pre_clone:a", "pre_clone:b", "post_start:a", "post_start:b", "teardown:b", "teardown:a"]


@pytest.mark.parametrize("hook", ["in_child", "before_exec"])
def test_the_forked_child_reports_the_stage_and_the_plugin_that_raised(hook):
    """A real fork (no namespaces: flags 0): the child's {stage, plugin} report names the plugin."""
    from nsrun import ChildSetupError
    from nsrun._spawn import spawn

    def failing(name, fail):
        def impl(self, ctx):
            if fail:
                raise OSError(errno.EACCES, f"{name} refused")
        impl.__name__ = hook
        return type(f"F{name}", (), {hook: hookimpl(impl)})()

    plugins = make_plugins(("a", failing("a", False)), ("b", failing("b", True)), ("c", failing("c", False)))
    child = spawn(_ctx(), plugins, 0)
    with pytest.raises(ChildSetupError) as excinfo:
        child.release()
    assert (excinfo.value.stage, excinfo.value.plugin, excinfo.value.errno) == (hook, "b", errno.EACCES)
    assert "b refused" in str(excinfo.value)
