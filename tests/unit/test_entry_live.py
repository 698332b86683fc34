"""The click-free parsers for `nsrun stats`, `top` and `version` agree with click on everything they accept
(the same engine calls, the same output) and leave the rest to click; which path runs is ``_entry.choose``."""
from __future__ import annotations

import pytest

from nsrun import _engine, _entry, cli

_FRAME = [{"id": "c" * 64, "name": "/web", "cpu_stats": {"cpu_usage": {"total_usage": 2}, "system_cpu_usage": 10,
                                                       "online_cpus": 2},
           "precpu_stats": {"cpu_usage": {"total_usage": 1}, "system_cpu_usage": 5},
           "memory_stats": {"usage": 4096, "limit": 1 << 30, "stats": {}}, "pids_stats": {"current": 3},
           "networks": {"eth0": {"rx_bytes": 1200, "tx_bytes": 648}}, "blkio_stats": {}}]


def _capture(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []

    def stats(self, refs, stream=False):
        calls.append(("stats", self.paths.root, list(refs), stream))
        return iter([_FRAME])

    def top(self, ref, ps_args=None):
        calls.append(("top", self.paths.root, ref, ps_args))
        return {"Titles": ["PID", "CMD"], "Processes": [["7", "sleep 300"]]}
    monkeypatch.setattr(_engine.Engine, "stats", stats)
    monkeypatch.setattr(_engine.Engine, "top", top)
    return calls


SAMPLES = [
    ["stats", "--no-stream"],
    ["stats", "--no-stream", "web", "db"],
    ["--root", "/tmp/nsr-x", "stats", "web", "--no-stream", "db"],
    ["--root=/tmp/nsr-x", "--debug", "stats", "--", "--no-stream"],
    ["--plugins", "pid", "stats", "-", "web"],
    ["top", "web"],
    ["--root", "/tmp/nsr-x", "top", "web", "-o", "pid,comm"],
    ["top", "web", "--help", "--", "x"],
    ["top", "web", "aux"],
    ["version"],
    ["--debug", "version"],
]


@pytest.mark.parametrize("argv", SAMPLES)
def test_fast_path_agrees_with_click(monkeypatch, capsys, argv):
    monkeypatch.delenv("NSRUN_ROOT", raising=False)
    calls = _capture(monkeypatch)
    with pytest.raises(SystemExit) as done:
        cli.main(list(argv))
    assert done.value.code == 0
    by_click = capsys.readouterr()
    chosen = _entry.choose(list(argv), {})
    assert chosen is not None
    fast, glob, opts = chosen
    assert getattr(_entry, fast)(glob, opts) == 0
    by_fast = capsys.readouterr()
    assert (by_fast.out, by_fast.err) == (by_click.out, by_click.err) and by_fast.out
    assert calls[:1] == calls[1:]


def test_the_output_is_the_table_and_the_version_line(monkeypatch, capsys):
    _capture(monkeypatch)
    for argv in (["stats", "--no-stream"], ["version"]):
        fast, glob, opts = _entry.choose(argv, {})
        getattr(_entry, fast)(glob, opts)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("   ")[:3] == ["CONTAINER ID", "NAME", "CPU %"]
    assert out[1].split() == ["cccccccccccc", "web", "40.00%", "4KiB", "/", "1GiB", "0.00%", "1.2kB", "/", "648B",
                              "0B", "/", "0B", "3"]
    assert out[2].startswith("nsrun ") and "(python " in out[2]


@pytest.mark.parametrize("argv", [
    ["stats", "--help"], ["stats", "--bogus"], ["stats", "--no-stream=1"], ["stats", "-a"],
    ["top"], ["top", "--help"], ["top", "-x", "web"], ["top", "--", "web"],
    ["version", "x"], ["version", "--help"], ["--bogus", "version"], ["--root"], [],
    ["rm", "stats"], ["logs", "top"],
    ["-H", "unix:///tmp/x.sock", "stats"], ["--host=tcp://127.0.0.1:41500", "version"],
])
def test_everything_else_goes_to_click(argv):
    assert _entry.choose(list(argv), {}) is None


@pytest.mark.parametrize("env", [{"NSRUN_HOST": "unix:///tmp/x.sock"}, {"NSRUN_NO_FASTPATH": "1"}])
def test_a_daemon_or_the_switch_sends_everything_to_click(env):
    for argv in (["stats"], ["top", "web"], ["version"], ["run", "busybox"], ["exec", "web", "true"]):
        assert _entry.choose(argv, env) is None


def test_run_and_exec_are_still_chosen():
    assert _entry.choose(["--root", "/tmp/x", "run", "--rm", "busybox", "true"], {})[0] == "_fast_run"
    assert _entry.choose(["exec", "-i", "web", "sh"], {})[0] == "_fast_exec"
    assert _entry.choose(["--root", "run", "run", "busybox"], {})[1] == {"root": "run"}


def test_split_command_finds_the_word_after_the_global_options():
    table = _entry.schema(())
    assert _entry.split_command(["--root", "/r", "--debug", "stats", "x"], table) == ({"root": "/r", "debug": True},
                                                                                       3)
    assert _entry.split_command(["--root=/r", "-H", "tcp://h:1", "ps"], table) == ({"root": "/r",
                                                                                     "host": "tcp://h:1"}, 3)
    assert _entry.split_command(["--debug"], table) is None
    assert _entry.split_command(["--debug=1", "ps"], table) is None


def test_click_and_the_fast_parser_have_the_same_stats_options():
    group = cli.build_cli()
    click_opts = sorted((sorted(p.opts), p.name, not p.is_flag, p.multiple)
                        for p in group.commands["stats"].params if hasattr(p, "is_flag"))
    fast = sorted((sorted(o["flags"]), o["dest"], o["value"], o["multiple"]) for o in _entry.schema()["stats"])
    assert click_opts == fast
    assert [p.name for p in group.commands["top"].params] == ["name", "ps_args"]
    assert group.commands["version"].params == []


# -- ps and inspect: the same bodies (_pscli) on real records in a temporary root ---------------------------

@pytest.fixture
def records(tmp_path, monkeypatch):
    """A root with two created containers (records on disk, nothing started), made two hours ago."""
    import time
    from nsrun._context import ContainerSpec, Paths
    from nsrun._state import Store, new_id
    monkeypatch.delenv("NSRUN_ROOT", raising=False)
    store = Store(Paths.from_root(str(tmp_path)))
    for name, argv in (("web", ["sleep", "300"]), ("db", ["sh", "-c", "echo é and a longer command line"])):
        rec = store.create(ContainerSpec(new_id(), name=name, argv=argv, image="busybox"))
        rec.update(created=time.time() - 7200)
    return str(tmp_path)


PS_SAMPLES = [
    ["ps"], ["ps", "-a"], ["ps", "-aq"], ["ps", "--all", "--quiet"], ["ps", "-a", "--format", "json"],
    ["ps", "--format=table", "-a"], ["ps", "-a", "-f", "name=web"], ["ps", "--filter=status=created", "-q"],
    ["inspect", "web"], ["inspect", "db", "web"], ["inspect", "web", "nope"], ["inspect", "nope"],
]


@pytest.mark.parametrize("argv", PS_SAMPLES)
def test_ps_and_inspect_print_the_same_both_ways(records, capsys, argv):
    argv = ["--root", records, *argv]
    with pytest.raises(SystemExit) as done:
        cli.main(list(argv))
    by_click = capsys.readouterr()
    chosen = _entry.choose(list(argv), {})
    assert chosen is not None
    fast, glob, opts = chosen
    code = getattr(_entry, fast)(glob, opts)
    by_fast = capsys.readouterr()
    assert (code, by_fast.out, by_fast.err) == (done.value.code, by_click.out, by_click.err)
    assert by_fast.out


def test_ps_shows_docker_columns_and_inspect_fails_by_name(records, capsys):
    import json
    for argv in (["ps", "-a"], ["ps", "-a", "--format", "json"], ["inspect", "db", "nope"]):
        fast, glob, opts = _entry.choose(["--root", records, *argv], {})
        code = getattr(_entry, fast)(glob, opts)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split("   ")[0] == "CONTAINER ID" and "2 hours ago" in lines[1] and "2 hours ago" in lines[2]
    assert '"sh -c echo é and a …"' in out                         # json.dumps(ensure_ascii=False), cut at 20
    rows = {row["Names"]: row for row in map(json.loads, lines[3:5])}
    assert rows["db"]["State"] == "created" and rows["web"]["Status"] == "Created"
    assert rows["db"]["Command"] == '"sh -c echo é and a …"'
    assert json.loads("\n".join(lines[5:]))[0]["Name"] == "db" and code == 1
    assert err == "nsrun: No such container: nope\n"


@pytest.mark.parametrize("argv", [
    ["ps", "x"], ["ps", "--format", "yaml"], ["ps", "--format"], ["ps", "--", "-a"], ["ps", "-f"], ["ps", "--help"],
    ["ps", "-a=1"], ["ps", "--all=yes"], ["ps", "-af", "x"], ["inspect"], ["inspect", "-x", "web"],
    ["inspect", "--help"], ["inspect", "web", "--help"], ["-H", "tcp://127.0.0.1:41501", "ps"],
])
def test_ps_and_inspect_leave_the_rest_to_click(argv):
    assert _entry.choose(list(argv), {}) is None


def test_click_and_the_fast_parser_have_the_same_ps_options():
    import click
    group = cli.build_cli()
    click_opts = sorted((sorted(p.opts), p.name, not p.is_flag, p.multiple,
                         list(p.type.choices) if isinstance(p.type, click.Choice) else [])
                        for p in group.commands["ps"].params if hasattr(p, "is_flag"))
    fast = sorted((sorted(o["flags"]), o["dest"], o["value"], o["multiple"], o["choices"])
                  for o in _entry.schema()["ps"])
    assert click_opts == fast
