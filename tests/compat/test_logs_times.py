"""Log times: each write's time kept in ``container.log`` (``TIME`` records), shown by ``logs --timestamps``
(Docker's RFC 3339 with nanoseconds, per line) and honoured by ``--since``/``--until``/``--tail``, through the
docker CLI, docker-py, ``nsrun logs`` and ``nsrun -H logs``; what is not supported is refused by name."""
from __future__ import annotations

import datetime
import re
import time

NONE = ("--network", "none")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z (.*)$")


def test_timestamps_since_until_tail(daemon, docker_client, nsrun):
    d = daemon
    d.docker("run", "-d", "--name", "dmnh-log", *NONE, "busybox", "sh", "-c",
             "echo one; echo err >&2; sleep 3; printf 'two\\nthree\\n'; sleep 60", check=True)
    try:
        deadline = time.monotonic() + 15
        while "three" not in d.docker("logs", "dmnh-log", check=True).stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        out = d.docker("logs", "-t", "dmnh-log", check=True)
        lines = out.stdout.splitlines()
        assert [STAMP.match(line).group(3) for line in lines] == ["one", "two", "three"]
        assert STAMP.match(out.stderr.strip()).group(3) == "err"
        first = datetime.datetime.fromisoformat(STAMP.match(lines[0]).group(1)).replace(tzinfo=datetime.timezone.utc)
        assert abs(first.timestamp() - time.time()) < 60
        assert STAMP.match(lines[1]).groups()[:2] == STAMP.match(lines[2]).groups()[:2]  # one write, one time
        assert d.docker("logs", "--since", "2s", "dmnh-log", check=True).stdout == "two\nthree\n"
        until = d.docker("logs", "--until", "2s", "dmnh-log", check=True)
        assert (until.stdout, until.stderr) == ("one\n", "err\n")
        assert d.docker("logs", "--tail", "1", "dmnh-log", check=True).stdout == "three\n"
        c = docker_client.containers.get("dmnh-log")
        since = int(time.time()) - 2
        assert b"one" not in c.logs(since=since) and b"three" in c.logs(since=since)
        assert re.match(rb"^\d{4}-.*Z one\n", c.logs(timestamps=True, stderr=False))
        assert nsrun("logs", "--since", "2s", "dmnh-log", check=True).stdout == "two\nthree\n"
        assert STAMP.match(nsrun("logs", "-t", "-n", "1", "dmnh-log", check=True).stdout.strip()).group(3) == "three"
        remote = nsrun("-H", d.unix_url, "logs", "-t", "--until", "2s", "dmnh-log", check=True)
        assert STAMP.match(remote.stdout.strip()).group(3) == "one"
        res = d.docker("logs", "--details", "dmnh-log")
        assert res.returncode == 1 and "details" in res.stderr
        res = nsrun("logs", "--since", "yesterday", "dmnh-log")
        assert res.returncode == 125 and "invalid value for --since" in res.stderr
    finally:
        d.docker("rm", "-f", "dmnh-log", check=True)
