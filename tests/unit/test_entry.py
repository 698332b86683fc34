"""The click-free parser for `nsrun run` must agree with click on everything it accepts, and leave the rest
to click."""
from __future__ import annotations

import pytest

from nsrun import _entry, _runcli, cli


def _capture(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []

    def fake(engine, plugins, **opts):
        calls.append((engine.paths.root, plugins, opts))
        return 0
    monkeypatch.setattr(_runcli, "run_command", fake)
    return calls


SAMPLES = [
    ["run", "busybox"],
    ["run", "--rm", "busybox", "echo", "-n", "--rm", "x"],
    ["--root", "/tmp/nsr-x", "--plugins", "pid,mnt", "run", "-it", "--name", "web", "busybox", "sh"],
    ["--root=/tmp/nsr-x", "run", "-e", "A=1", "--env=B=2", "-w", "/tmp", "-u", "1:2", "-d", "busybox", "true"],
    ["run", "-h", "box", "-v", "/tmp:/x:ro", "-v", "/tmp:/y", "--init", "busybox", "true"],
    ["run", "--rootfs", "/", "ls", "-l"],
    ["--debug", "run", "-dit", "busybox"],
]


@pytest.mark.parametrize("argv", SAMPLES)
def test_fast_path_agrees_with_click(monkeypatch, argv):
    calls = _capture(monkeypatch)
    with pytest.raises(SystemExit):
        cli.main(list(argv))
    glob, opts = _entry.parse_run(list(argv), _entry.schema())
    _entry._fast_run(glob, opts)
    (root_c, plugins_c, opts_c), (root_f, plugins_f, opts_f) = calls
    assert (root_c, plugins_c) == (root_f, plugins_f)
    assert {k: (tuple(v) if isinstance(v, list) else v) for k, v in opts_c.items()} == opts_f


@pytest.mark.parametrize("argv", [
    ["run", "--help"], ["ps"], ["run", "--no-such", "busybox"], ["run", "-e"], ["--weird", "run", "busybox"],
    ["run", "--rm=yes", "busybox"], ["run", "-xyz", "busybox"],
])
def test_everything_else_goes_to_click(argv):
    assert _entry.parse_run(list(argv), _entry.schema()) is None


def test_click_and_the_fast_parser_have_the_same_options():
    group = cli.build_cli()
    def table(cmd):
        return sorted((sorted([*p.opts, *p.secondary_opts]), p.name, not p.is_flag, p.multiple)
                      for p in cmd.params if hasattr(p, "is_flag"))
    fast = _entry.schema()
    assert table(group) == sorted((sorted(o["flags"]), o["dest"], o["value"], o["multiple"]) for o in fast["globals"])
    assert table(group.commands["run"]) == sorted((sorted(o["flags"]), o["dest"], o["value"], o["multiple"])
                                                  for o in fast["run"])


def test_trace_phases_report_their_own_time_so_they_add_up(monkeypatch):
    import time
    from nsrun import _trace
    monkeypatch.setattr(_trace, "enabled", True)
    monkeypatch.setattr(_trace, "_marks", [])
    start = time.perf_counter()
    with _trace.phase("outer"):
        time.sleep(0.02)
        with _trace.phase("inner"):
            time.sleep(0.03)
    total = time.perf_counter() - start
    marks = dict(_trace._marks)
    assert marks["inner"] >= 0.03 and marks["outer"] >= 0.02
    assert marks["outer"] + marks["inner"] <= total  # the inner 30 ms are not counted twice
