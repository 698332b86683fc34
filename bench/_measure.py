"""Timing: commands as cases, run in interleaved rounds so that a noisy shared machine shifts every case alike.

A case is one command line (or a Python callable). Each round runs every case once, in an order that rotates
from round to round; warm-up rounds come first and are thrown away. A case that fails in warm-up is "not run"
with the reason (the tail of its output); failures later are counted and shown. Ratios are *paired*: the
median over rounds of subject/anchor measured in the same round.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import signal
import statistics
import tempfile
import time
from typing import Any, Callable

__all__ = ["Case", "Figure", "measure", "spawn_timed", "CmdFailed", "paired_ratio", "stats"]

CLONE_NEWNS = 0x00020000
_libc = ctypes.CDLL(None, use_errno=True)


class CmdFailed(Exception):
    """A timed command exited non-zero, timed out or could not start; ``str()`` is a one-line reason."""


@dataclasses.dataclass
class Case:
    """One thing to time. ``argv`` is run directly (no shell); ``fn`` is called instead when given (it returns
    the seconds to count, or None to count its whole duration). ``mntns`` is a mount-namespace fd the command
    starts in (crun here). ``role`` is "subject" (nsrun) or "anchor"."""

    name: str
    argv: list[str] | None = None
    fn: Callable[[], float | None] | None = None
    role: str = "anchor"
    env: dict[str, str] | None = None
    mntns: int | None = None
    timeout: float = 60.0
    not_run: str | None = None          # set up front when the case cannot run here


@dataclasses.dataclass
class Figure:
    """A measured figure: the samples (in ``unit``) and what went wrong, if anything."""

    name: str
    role: str = "anchor"
    unit: str = "ms"
    samples: list[float] = dataclasses.field(default_factory=list)
    not_run: str | None = None
    failures: int = 0
    last_error: str = ""
    cmd: str = ""
    note: str = ""
    rounds: list[float] = dataclasses.field(default_factory=list)   # per round, NaN where the run failed

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "role": self.role, "unit": self.unit, "cmd": self.cmd}
        if self.not_run:
            out["not_run"] = self.not_run
        if self.samples:
            out.update(stats(self.samples), samples=[round(s, 3) for s in self.samples])
        if self.failures:
            out.update(failures=self.failures, last_error=self.last_error)
        if self.note:
            out["note"] = self.note
        return out


def stats(samples: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3), "n": len(samples)}


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Timeout()


@contextlib.contextmanager
def _in_mntns(fd: int | None):
    """Enter mount namespace ``fd`` for the duration (the harness is single-threaded); come back after."""
    if fd is None:
        yield
        return
    cwd = os.getcwd()
    own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise CmdFailed(f"setns(mnt): {os.strerror(err)}")
        yield
    finally:
        if _libc.setns(own, CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "cannot return to the harness's mount namespace")
        os.close(own)
        os.chdir(cwd)


def spawn_timed(argv: list[str], *, env: dict[str, str] | None = None, mntns: int | None = None,
                timeout: float = 60.0) -> float:
    """Run ``argv`` (stdout+stderr to a scratch file), return its wall time in ms; CmdFailed if not exit 0.

    posix_spawn (vfork+exec) keeps the harness's own cost per run well under a millisecond and the same for
    every case."""
    out = tempfile.TemporaryFile(prefix="nsrbench-out-")
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)]
    path = argv[0]
    if not os.path.isabs(path):
        from shutil import which
        path = which(path) or path
    environ = {**os.environ, **(env or {})}
    old = signal.signal(signal.SIGALRM, _alarm)
    pid = None
    try:
        with _in_mntns(mntns):
            t0 = time.perf_counter()
            pid = os.posix_spawn(path, argv, environ, file_actions=actions)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            _, status = os.waitpid(pid, 0)
        except _Timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise CmdFailed(f"timed out after {timeout:.0f} s") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = (time.perf_counter() - t0) * 1000
    except OSError as exc:
        raise CmdFailed(f"cannot start {argv[0]}: {exc.strerror}") from None
    finally:
        signal.signal(signal.SIGALRM, old)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        out.seek(0)
        tail = out.read().decode(errors="replace").strip().splitlines()[-3:]
        out.close()
        raise CmdFailed(f"exit {code}: {' | '.join(tail) or '(no output)'}")
    out.close()
    return elapsed


def _run_once(case: Case) -> float:
    if case.fn is not None:
        t0 = time.perf_counter()
        try:
            counted = case.fn()
        except CmdFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - a client-side error is this case's failure, not the harness's
            raise CmdFailed(f"{type(exc).__name__}: {exc}") from None
        return counted * 1000 if counted is not None else (time.perf_counter() - t0) * 1000
    return spawn_timed(case.argv or [], env=case.env, mntns=case.mntns, timeout=case.timeout)


def measure(cases: list[Case], runs: int, warmup: int, log: Callable[[str], None] = lambda _m: None
            ) -> list[Figure]:
    """Warm up, then ``runs`` interleaved rounds. Returns one Figure per case, in the order given."""
    figs = {c.name: Figure(c.name, c.role, cmd=" ".join(c.argv) if c.argv else "", not_run=c.not_run)
            for c in cases}
    live = [c for c in cases if c.not_run is None]
    for _ in range(warmup):
        for case in list(live):
            try:
                _run_once(case)
            except CmdFailed as exc:
                figs[case.name].not_run = f"failed in warm-up: {exc}"
                live.remove(case)
                log(f"  {case.name}: not run ({exc})")
    for rnd in range(runs):
        shift = rnd % len(live) if live else 0
        for case in live[shift:] + live[:shift]:
            fig = figs[case.name]
            try:
                value = _run_once(case)
                fig.samples.append(value)
                fig.rounds.append(value)
            except CmdFailed as exc:
                fig.failures += 1
                fig.last_error = str(exc)
                fig.rounds.append(float("nan"))   # a gap keeps the rounds aligned for pairing
                log(f"  {case.name}: run failed ({exc})")
    return list(figs.values())


def paired_difference(subject: Figure, anchor: Figure) -> float | None:
    """Median over rounds of subject - anchor (both measured in the same round); None if not comparable."""
    if not subject.samples or not anchor.samples or len(subject.rounds) != len(anchor.rounds):
        return None
    pairs = [s - a for s, a in zip(subject.rounds, anchor.rounds) if s == s and a == a]
    return statistics.median(pairs) if pairs else None


def paired_ratio(subject: Figure, anchor: Figure) -> float | None:
    """Median over rounds of subject/anchor (both measured in the same round); None if not comparable."""
    if not subject.samples or not anchor.samples:
        return None
    if len(subject.rounds) != len(anchor.rounds) or not subject.rounds:   # not measured side by side
        return statistics.median(subject.samples) / statistics.median(anchor.samples)
    pairs = [s / a for s, a in zip(subject.rounds, anchor.rounds) if s == s and a == a and a > 0]
    return statistics.median(pairs) if pairs else None
