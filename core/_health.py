"""Health checks (``--health-cmd``..., ``Config.Healthcheck``, an image's ``HEALTHCHECK``), run by the
container's supervisor as dockerd runs them.

The config is Docker's: ``{"Test": ["CMD", ...] | ["CMD-SHELL", "cmd"] | ["NONE"], "Interval", "Timeout",
"StartPeriod" (ns; 0: the default), "Retries"}``; ``merge`` lays the user's fields over the image's.
``Monitor`` (a thread of the supervisor, started once the command runs) probes every ``Interval``: each
probe is ``python -m nsrun._healthprobe ROOT RUN ID ARGV...``, an ``nsrun exec`` of the test with its output
captured (``_healthprobe``); after ``Timeout`` it is told to stop (SIGTERM, which it passes to the test),
then killed. The result goes into the record's ``health`` (``State.Health``):
``starting`` until the first success (failures inside ``StartPeriod`` do not count), ``healthy``, or
``unhealthy`` after ``Retries`` failures in a row; the last five probes are kept in ``Log``.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from typing import Any

from .errors import ConfigError

__all__ = ["parse_duration", "merge", "from_options", "active", "Monitor", "DEFAULTS"]

DEFAULTS = {"Interval": 30_000_000_000, "Timeout": 30_000_000_000, "StartPeriod": 0, "Retries": 3}
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
            "h": 3_600_000_000_000}
_MIN = 1_000_000  # 1 ms: dockerd's lower bound for the intervals
_LOG = 5
_OUTPUT = 4096


def parse_duration(text: str, what: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``; a bare ``0``) -> ns."""
    text = str(text).strip()
    if text == "0":
        return 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"invalid {what} {text!r}: a duration such as 30s, 1m30s or 500ms")
    return int(sum(float(n) * _UNIT_NS[u] for n, u in parts))


def _check(config: dict[str, Any]) -> dict[str, Any]:
    for key in ("Interval", "Timeout", "StartPeriod"):
        value = config.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or 0 < value < _MIN:
            raise ConfigError(f"{key} in Healthcheck cannot be less than 1ms")
    retries = config.get("Retries") or 0
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigError("Retries in Healthcheck cannot be negative")
    test = config.get("Test")
    if test is not None:
        if not isinstance(test, list) or not test or not all(isinstance(t, str) for t in test) \
                or test[0] not in ("NONE", "CMD", "CMD-SHELL") or (test[0] != "NONE" and len(test) < 2):
            raise ConfigError('Healthcheck.Test: expected ["CMD", ARG...], ["CMD-SHELL", COMMAND] or ["NONE"]')
    unknown = set(config) - {"Test", "Interval", "Timeout", "StartPeriod", "Retries"}
    if unknown:
        raise ConfigError(f"field Healthcheck.{sorted(unknown)[0]} is not supported by nsrun")
    return config


def from_options(cmd: str | None, interval: str | None, timeout: str | None, retries: str | None,
                 start_period: str | None, none: bool) -> dict[str, Any] | None:
    """The ``--health-*`` options -> a (partial) config, or None when none was given."""
    if none and cmd:
        raise ConfigError("--no-healthcheck conflicts with --health-* options")
    out: dict[str, Any] = {}
    if none:
        out["Test"] = ["NONE"]
    elif cmd:
        out["Test"] = ["CMD-SHELL", cmd]
    for key, text, what in (("Interval", interval, "--health-interval"), ("Timeout", timeout, "--health-timeout"),
                            ("StartPeriod", start_period, "--health-start-period")):
        if text:
            out[key] = parse_duration(text, what)
    if retries:
        if not str(retries).isdigit():
            raise ConfigError(f"invalid --health-retries {retries!r}: a number >= 0")
        out["Retries"] = int(retries)
    return _check(out) if out else None


def merge(image: Any, user: dict[str, Any] | None) -> dict[str, Any] | None:
    """The user's fields over the image's (dockerd's rule: a zero field keeps the image's)."""
    base = dict(image) if isinstance(image, dict) else {}
    base = {k: v for k, v in base.items() if k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries")}
    for key, value in (user or {}).items():
        if value not in (None, 0, []):
            base[key] = value
    return _check(base) if base else None


def active(config: dict[str, Any] | None) -> bool:
    return bool(config) and bool(config.get("Test")) and config["Test"][0] != "NONE"


def _end(proc: Any) -> None:
    """End a probe and the test it runs in the container. The test is killed first and the probe reaps it:
    were the probe killed first, the test would be left to the supervisor (a subreaper that reaps only the
    container's init), and a zombie in the container's PID namespace keeps that namespace from ever ending."""
    import os
    import signal
    import subprocess
    try:
        for tid in os.listdir(f"/proc/{proc.pid}/task"):
            with open(f"/proc/{proc.pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    try:
                        os.kill(int(child), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
    except OSError:
        pass
    try:
        proc.communicate(timeout=3)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        proc.kill()
        try:
            proc.communicate(timeout=3)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass


def _now() -> str:
    t = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1_000_000_000)) + f".{t % 1_000_000_000:09d}Z"


class Monitor(threading.Thread):
    """Probes one running container until ``stop()``; writes ``health`` into its record."""

    def __init__(self, rec: Any, config: dict[str, Any]) -> None:
        super().__init__(daemon=True, name="nsrun-health")
        self.rec = rec
        self.config = {**DEFAULTS, **{k: v for k, v in config.items() if v}}
        self.stopped = threading.Event()
        self.health: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self.proc: Any = None

    def stop(self) -> None:
        """End the checks: a probe in flight is ended (``_end``), then the thread; call from the supervisor."""
        self.stopped.set()
        if self.proc is not None:
            _end(self.proc)
        self.join(5)

    def _probe(self) -> dict[str, Any]:
        import subprocess
        test = self.config["Test"]
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])
        paths = self.rec.store.paths
        start = _now()
        timeout = self.config["Timeout"] / 1e9
        try:
            proc = subprocess.Popen([sys.executable, "-m", "nsrun._healthprobe", paths.root, paths.run, self.rec.id,
                                     *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return {"Start": start, "End": _now(), "ExitCode": -1, "Output": f"cannot run the health check: {exc}"}
        self.proc = proc
        try:
            out, _ = proc.communicate(timeout=timeout)
            code, output = proc.returncode, out[-_OUTPUT:].decode(errors="replace")
        except subprocess.TimeoutExpired:
            _end(proc)
            code, output = -1, f"Health check exceeded timeout ({timeout:g}s)"
        finally:
            self.proc = None
        return {"Start": start, "End": _now(), "ExitCode": code, "Output": output}

    def run(self) -> None:
        began = time.monotonic()
        self._record()
        while not self.stopped.wait(self.config["Interval"] / 1e9):
            result = self._probe()
            if self.stopped.is_set():
                return
            health = self.health
            health["Log"] = (health["Log"] + [result])[-_LOG:]
            if result["ExitCode"] == 0:
                health.update(Status="healthy", FailingStreak=0)
            elif time.monotonic() - began >= self.config["StartPeriod"] / 1e9 or health["Status"] != "starting":
                health["FailingStreak"] += 1
                if health["FailingStreak"] >= (self.config["Retries"] or DEFAULTS["Retries"]):
                    health["Status"] = "unhealthy"
            self._record()

    def _record(self) -> None:
        try:
            self.rec.update(health=dict(self.health))
        except OSError:
            self.stopped.set()   # the record is gone (rm -f)
