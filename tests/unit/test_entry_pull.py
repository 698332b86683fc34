"""``nsrun pull`` parsed without click must call the same body with the same options as click does, and leave
everything else (help, usage errors) to click."""
from __future__ import annotations

import pytest

from nsrun import _entry, _pullcli, cli


def _capture(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []

    def fake(engine, ref, **opts):
        calls.append((engine.paths.root, ref, opts))
        return 0
    monkeypatch.setattr(_pullcli, "pull_command", fake)
    return calls


@pytest.mark.parametrize("argv", [
    ["pull", "busybox"],
    ["--root", "/tmp/nsr-x", "pull", "-q", "127.0.0.1:5000/app:1.2"],
    ["--root=/tmp/nsr-x", "pull", "--platform", "linux/arm64", "--insecure-registry", "reg:5000",
     "--insecure-registry=other:443", "--ca-file", "/tmp/ca.pem", "reg:5000/app@sha256:" + "a" * 64],
    ["pull", "redis", "-q", "--platform=linux/amd64"],  # options after the reference, as click takes them
    ["pull", "--", "docker-archive:/tmp/x.tar"],
    ["--debug", "pull", "--quiet", "oci-archive:/tmp/x.tar:v1"],
])
def test_fast_pull_agrees_with_click(monkeypatch, argv):
    calls = _capture(monkeypatch)
    with pytest.raises(SystemExit):
        cli.main(list(argv))
    chosen = _entry.choose(list(argv), {})
    assert chosen is not None and chosen[0] == "_fast_pull"
    _entry._fast_pull(*chosen[1:])
    (root_c, ref_c, opts_c), (root_f, ref_f, opts_f) = calls
    assert (root_c, ref_c) == (root_f, ref_f)
    assert opts_c == opts_f


@pytest.mark.parametrize("argv", [
    ["pull"], ["pull", "a", "b"], ["pull", "--help"], ["pull", "--bogus", "x"], ["pull", "x", "--platform"],
    ["pull", "-qz", "x"], ["pull", "--quiet=yes", "x"],
])
def test_everything_else_of_pull_goes_to_click(argv):
    assert _entry.parse_pull(list(argv), _entry.schema()) is None


def test_through_a_daemon_pull_is_clicks():
    assert _entry.choose(["-H", "unix:///tmp/x.sock", "pull", "busybox"], {}) is None
    assert _entry.choose(["pull", "busybox"], {"NSRUN_HOST": "unix:///tmp/x.sock"}) is None


def test_click_and_the_fast_parser_have_the_same_pull_options():
    group = cli.build_cli()
    got = sorted((sorted([*p.opts, *p.secondary_opts]), p.name, not p.is_flag, p.multiple)
                 for p in group.commands["pull"].params if hasattr(p, "is_flag"))
    assert got == sorted((sorted(o["flags"]), o["dest"], o["value"], o["multiple"]) for o in _entry.schema()["pull"])
