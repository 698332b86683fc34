"""The benchmark harness runs end to end with one iteration and leaves nothing behind (the leak check).

Not a benchmark: it proves that ``make bench`` works and that every section and anchor either measures or
says why it did not. The figures of one run mean nothing and are not checked.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "run.py")
SECTIONS = ["start", "exec", "network", "daemon", "scale", "iperf", "memory", "images", "build", "stats", "oci"]


@pytest.mark.privileged
def test_bench_harness_runs_once_and_reports_every_section(nsrun_root, tmp_path):
    out = tmp_path / "results.json"
    res = subprocess.run([sys.executable, BENCH, "--quick", "--runs", "1", "--warmup", "0", "--scale", "2",
                          "--iperf-seconds", "1", "--iperf-rounds", "1", "--root", nsrun_root, "--json", str(out)],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    data = json.loads(out.read_text())
    assert data["machine"]["cpus"] >= 1 and data["versions"]["nsrun"].startswith("nsrun")
    assert [s["key"] for s in data["sections"]] == SECTIONS
    for section in data["sections"]:
        assert section.get("not_run") or section["figures"], section
        for fig in section["figures"]:
            # every row has a figure or says why not; nothing is silently dropped
            assert "median" in fig or fig.get("not_run") or fig.get("failures"), fig
    start = data["sections"][0]
    nsrun_row = next(f for f in start["figures"] if f["role"] == "subject")
    assert "median" in nsrun_row, nsrun_row
    assert "targets (from the issues)" in res.stdout
    assert not data["cleanup_problems"]
