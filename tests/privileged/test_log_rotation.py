"""The json-file driver's rotation on the embedded engine (``--log-opt max-size/max-file``): the supervisor
rotates ``container.log``, ``logs`` (with --tail/--since/--follow) reads across the files, inspect shows the
options as given, and bad options are one line, exit 125, with nothing made."""
from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.privileged

NONE = ("--network", "none")
# 60 numbered lines of ~100 bytes, a write each (one record each), a little apart
WRITER = "i=0; while [ $i -lt 60 ]; do printf 'line %03d %090d\\n' $i 0; i=$((i+1)); usleep 20000; done"


def _numbers(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("line ")]


def _logs_dir(root: str, cid: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, "containers", cid, "container.log*")))


def test_rotation_keeps_max_file_and_logs_reads_across(nsrun, nsrun_root):
    cid = nsrun("run", "-d", "--name", "lga-rot1", *NONE, "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
                "busybox", "sh", "-c", WRITER, check=True).stdout.strip()
    try:
        follow = nsrun.popen("logs", "-f", "lga-rot1", stdout=subprocess.PIPE, text=True)
        assert nsrun("wait", "lga-rot1", check=True).stdout.strip() == "0"
        out, _ = follow.communicate(timeout=30)
        assert _numbers(out) == list(range(60))            # --follow survived every rotation, missed nothing
        files = [os.path.basename(p) for p in _logs_dir(nsrun_root, cid)]
        assert files == ["container.log", "container.log.1", "container.log.2"]
        assert all(os.path.getsize(p) < 1200 for p in _logs_dir(nsrun_root, cid))
        kept = _numbers(nsrun("logs", "lga-rot1", check=True).stdout)
        assert kept == list(range(kept[0], 60)) and 0 < kept[0] < 50   # the oldest went, the rest in order
        assert _numbers(nsrun("logs", "--tail", "12", "lga-rot1", check=True).stdout) == list(range(48, 60))
        stamped = nsrun("logs", "-t", "lga-rot1", check=True).stdout.splitlines()
        since = stamped[len(stamped) // 2].split()[0]
        assert _numbers(nsrun("logs", "--since", since, "lga-rot1", check=True).stdout)[0] == kept[len(kept) // 2]
        view = json.loads(nsrun("inspect", "lga-rot1", check=True).stdout)
        view = view[0] if isinstance(view, list) else view
        assert view["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}}
    finally:
        nsrun("rm", "-f", "lga-rot1")


def test_max_file_1_keeps_one_file_and_no_options_never_rotates(nsrun, nsrun_root):
    one = nsrun("run", "-d", "--name", "lga-rot2", *NONE, "--log-opt", "max-size=1k", "busybox", "sh", "-c",
                WRITER, check=True).stdout.strip()
    plain = nsrun("run", "-d", "--name", "lga-rot3", *NONE, "busybox", "sh", "-c",
                  WRITER.replace("usleep 20000", "true"), check=True).stdout.strip()
    try:
        nsrun("wait", "lga-rot2", "lga-rot3", check=True)
        assert [os.path.basename(p) for p in _logs_dir(nsrun_root, one)] == ["container.log"]
        assert os.path.getsize(_logs_dir(nsrun_root, one)[0]) < 1200   # emptied at each rotation
        assert _numbers(nsrun("logs", "lga-rot2", check=True).stdout)[-1] == 59
        assert _numbers(nsrun("logs", "lga-rot3", check=True).stdout) == list(range(60))
        assert [os.path.basename(p) for p in _logs_dir(nsrun_root, plain)] == ["container.log"]
    finally:
        nsrun("rm", "-f", "lga-rot2", "lga-rot3")


@pytest.mark.parametrize("opts, words", [
    (("max-file=3",), "max-file can only be used together with max-size"),
    (("max-size=1k", "compress=true"), "unknown log opt 'compress' for json-file log driver"),
    (("max-size=-1",), "max-size"), (("max-size=1k", "max-file=0"), "max-file cannot be less than 1"),
    (("max-size",), "expected KEY=VALUE")])
def test_bad_log_opts_are_one_line(nsrun, opts, words):
    args = [a for o in opts for a in ("--log-opt", o)]
    res = nsrun("run", "-d", "--name", "lga-bad", *NONE, *args, "busybox", "true")
    assert res.returncode == 125 and words in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    assert nsrun("ps", "-aq").stdout == ""
