"""``docker top``: ``ps`` on the host, with the user's options, filtered to the container's processes.

As dockerd does it: ``ps ARGS -q PID,PID...`` (default ARGS ``-ef``: UID PID PPID C STIME TTY TIME CMD), once
more without ``-q`` when ps refuses the pair (``f``, forest listings); the header gives the titles and the
``PID`` column, and every line whose PID is one of the container's becomes a row (the last column keeps its
spaces: the command line). The container's processes are those of its pid namespace (``procfs``).
"""
from __future__ import annotations

import subprocess
from typing import Any

from ..errors import ConfigError, ConflictError
from .procfs import container_pids

__all__ = ["top", "parse_ps"]


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    """``{"Titles": [...], "Processes": [[...], ...]}`` from ps's output, keeping the rows of ``pids``."""
    lines = output.splitlines()
    if not lines:
        raise ConfigError("ps printed nothing")
    titles = lines[0].split()
    if "PID" not in titles:
        raise ConfigError("Couldn't find PID field in ps output")
    at = titles.index("PID")
    processes = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= at:
            continue
        try:
            pid = int(fields[at])
        except ValueError:
            continue
        if pid in pids:
            processes.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return {"Titles": titles, "Processes": processes}


def _ps(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["ps", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ConfigError("ps is not installed (Debian: procps)", errno=exc.errno) from exc


def top(rec: Any, ps_args: str | None = None) -> dict[str, Any]:
    """The processes of the running container ``rec`` as ``ps ps_args`` shows them."""
    if not rec.pid:
        raise ConflictError(f"Container {rec.id} is not running")
    pids = container_pids({rec.id: rec.pid})[rec.id]
    if not pids:
        raise ConflictError(f"Container {rec.id} is not running")
    args = (ps_args or "-ef").split()
    res = _ps([*args, "-q", ",".join(map(str, pids))])
    if res.returncode != 0:
        res = _ps(args)
    if res.returncode != 0:
        detail = (res.stderr.strip().splitlines() or ["exit status %d" % res.returncode])[0]
        raise ConfigError(f"ps {' '.join(args)}: {detail}")
    return parse_ps(res.stdout, set(pids))
