"""The benchmark harness's pure parts: pairing, stats, plugin selection, address finding. No root needed."""
from __future__ import annotations

import ipaddress
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))

from _env import Nsrun  # noqa: E402
from _iperf import _find_ip  # noqa: E402
from _measure import Case, Figure, measure, paired_ratio, spawn_timed  # noqa: E402


def test_paired_ratio_is_the_median_of_per_round_ratios_and_skips_failed_rounds():
    subject = Figure("s", "subject", rounds=[10.0, 30.0, math.nan, 40.0], samples=[10.0, 30.0, 40.0])
    anchor = Figure("a", rounds=[5.0, 10.0, 1.0, 10.0], samples=[5.0, 10.0, 1.0, 10.0])
    assert paired_ratio(subject, anchor) == 3.0          # median of 2, 3, 4
    assert paired_ratio(Figure("x"), anchor) is None


def test_measure_reports_a_case_that_fails_in_warmup_as_not_run_and_keeps_the_others():
    cases = [Case("ok", ["true"]), Case("broken", ["false"]), Case("absent", ["/nonexistent/tool"]),
             Case("skipped", ["true"], not_run="missing binary")]
    ok, broken, absent, skipped = measure(cases, runs=3, warmup=1)
    assert len(ok.samples) == 3 and not ok.not_run
    assert broken.not_run.startswith("failed in warm-up: exit 1")
    assert "cannot start" in absent.not_run
    assert skipped.not_run == "missing binary" and not skipped.samples


def test_a_failing_callable_is_a_failed_run_not_a_crash():
    def boom() -> float:
        raise ConnectionResetError("daemon went away")
    (fig,) = measure([Case("api", fn=boom)], runs=2, warmup=0)
    assert fig.failures == 2 and "ConnectionResetError" in fig.last_error and len(fig.rounds) == 2


def test_spawn_timed_returns_milliseconds():
    assert 0 < spawn_timed(["true"]) < 5000


def test_plugin_args_add_net_and_pick_exactly_one_backend():
    ns = Nsrun.__new__(Nsrun)
    ns.plugins = {"pid": True, "mnt": True, "net": False, "nft": False, "iptables": False}
    assert ns.plugin_args() == []
    assert ns.plugin_args("net") == ["--plugins", "pid,mnt,net"]
    assert ns.plugin_args("net", backend="iptables") == ["--plugins", "pid,mnt,net,iptables"]
    ns.plugins = {"pid": True, "net": True, "nft": True, "iptables": False}
    assert ns.plugin_args("net") == []
    assert ns.plugin_args("net", backend="iptables") == ["--plugins", "pid,net,iptables"]


def test_section_one_leaves_out_networking_only_when_it_is_on_by_default():
    ns = Nsrun.__new__(Nsrun)
    ns.plugins = {"pid": True, "mnt": True, "net": False}
    assert ns.no_net_args() == []
    ns.plugins = {"pid": True, "mnt": True, "net": True, "nft": True, "iptables": False}
    assert ns.no_net_args() == ["--plugins", "pid,mnt"]


def test_find_ip_takes_a_container_address_in_the_bench_subnet_only():
    subnet = ipaddress.ip_network("10.123.7.0/24")
    info = {"NetworkSettings": {"Gateway": "10.123.7.1", "Networks": {"n": {"IPAddress": "10.123.7.5"}}},
            "Other": "192.0.2.1"}
    assert _find_ip(info, subnet) == "10.123.7.5"
    assert _find_ip({"IPAddress": "192.0.2.9"}, subnet) is None
