"""`nsrun stats`, `top`, `ps`, `inspect` and `version` answer alike through the console entry's click-free path
and through the click CLI (``NSRUN_NO_FASTPATH=1``) for the same real containers: the same output, errors and
exit codes; and the click-free path really leaves click unimported."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from conftest import NSRUN

CLICK = {"NSRUN_NO_FASTPATH": "1"}


def _same(nsrun, *args: str) -> subprocess.CompletedProcess:
    fast, slow = nsrun(*args), nsrun(*args, env=CLICK)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr), args
    return fast


def _rows(out: str) -> list[list[str]]:
    """The stats table without what may move between two samples of a sleeping container (its memory usage,
    the bytes its network namespace sends and receives on its own: neighbour and router discovery)."""
    rows = [re.split(r"\s{3,}", line.strip()) for line in out.splitlines() if line.strip()]
    for row in rows[1:]:
        if len(row) == 8 and row[7] != "--":                        # a running one
            assert row[5].count(" / ") == 1
            row[3], row[4], row[5] = row[3].split(" / ")[1], "", ""
    return rows


def test_fast_and_click_paths_print_the_same(nsrun, unique):
    sleeper, limited, stopped = f"stf{unique}a", f"stf{unique}b", f"stf{unique}c"
    nsrun("run", "-d", "--name", sleeper, "busybox", "sh", "-c", "sleep 300 & sleep 301", check=True)
    nsrun("run", "-d", "--name", limited, "-m", "64m", "busybox", "sleep", "302", check=True)
    nsrun("run", "--name", stopped, "busybox", "true", check=True)
    try:
        time.sleep(0.3)
        assert _same(nsrun, "version").stdout.startswith("nsrun ")
        assert "sleep 301" in _same(nsrun, "top", sleeper).stdout
        assert _same(nsrun, "top", sleeper, "-o", "pid,comm").stdout.split()[:2] == ["PID", "COMMAND"]
        for args in (("top", sleeper, "--bogus"), ("top", stopped), ("top", f"stf{unique}nope"), ("top",),
                     ("top", "--help"), ("stats", "--no-stream", f"stf{unique}nope"), ("stats", "--bogus"),
                     ("stats", "--no-stream=1"), ("version", "extra")):
            res = _same(nsrun, *args)
            assert res.returncode != 0 or args == ("top", "--help"), args
            if res.stderr.startswith("nsrun: "):                   # nsrun's own errors: one line
                assert res.stderr.count("\n") == 1, args
        for args in (("ps", "-q"), ("ps", "-aq"), ("ps", "-a", "-q", "--filter", f"name={limited}"),
                     ("inspect", sleeper, stopped), ("inspect", limited, f"stf{unique}nope"), ("ps", "--format", "x")):
            _same(nsrun, *args)
        assert len(_same(nsrun, "ps", "-aq").stdout.split()) == 3
        for names in ((sleeper, limited, stopped), ()):
            fast = nsrun("stats", "--no-stream", *names, check=True)
            slow = nsrun("stats", "--no-stream", *names, env=CLICK, check=True)
            assert fast.stderr == slow.stderr == ""
            assert _rows(fast.stdout) == _rows(slow.stdout)
        rows = {row[1]: row for row in _rows(fast.stdout)[1:]}
        assert set(rows) == {sleeper, limited}                       # without names: the running ones
        assert rows[sleeper][7] == "2" and rows[limited][3] == "64MiB"
    finally:
        nsrun("rm", "-f", sleeper, limited, stopped)


def test_the_fast_path_does_not_import_click(nsrun_root):
    def imports(*args: str, env: dict[str, str] | None = None) -> str:
        res = subprocess.run([sys.executable, "-S", "-X", "importtime", NSRUN, "--root", nsrun_root, *args],
                             capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
        assert res.returncode == (1 if args[0] == "inspect" else 0), res.stderr[-500:]
        return res.stderr
    for args in (("version",), ("stats", "--no-stream"), ("ps", "-a"), ("inspect", "nope")):
        assert not re.search(r"\|\s+click$", imports(*args), re.M), args
        assert re.search(r"\|\s+click$", imports(*args, env=CLICK), re.M), args
