"""The hook pipeline without root: order of hooks, teardown guarantees, error attribution (fake spawner)."""
from __future__ import annotations

import errno
import types

import pluggy
import pytest

from nsrun import ContainerSpec, Paths, RunContext, SetupError, TeardownError, hookimpl
from nsrun import hookspecs
from nsrun._lifecycle import run_container
from nsrun._plugins import LoadedPlugins, register


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
