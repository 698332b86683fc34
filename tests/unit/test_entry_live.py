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
    ["ps"], ["inspect", "web"], ["rm", "stats"], ["logs", "top"],
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
