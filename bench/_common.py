"""What every section shares: the bench context, a section's result, and targets."""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable

from _measure import Figure

__all__ = ["Bench", "Section", "Target", "NotRun"]


class NotRun(Exception):
    """A section (or part) cannot run here; the message says why and goes into the table."""


@dataclasses.dataclass
class Target:
    """A speed goal from the issues, and whether this run met it (None: could not be judged)."""

    name: str
    met: bool | None
    value: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Section:
    key: str
    title: str
    figures: list[Figure] = dataclasses.field(default_factory=list)
    not_run: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    targets: list[Target] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    ratios: bool = True             # show subject/anchor ratio columns

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "title": self.title}
        if self.not_run:
            out["not_run"] = self.not_run
        out.update(figures=[f.to_json() for f in self.figures], notes=self.notes,
                   targets=[t.to_json() for t in self.targets])
        if self.extra:
            out["extra"] = self.extra
        return out


@dataclasses.dataclass
class Bench:
    """Options and shared objects for one benchmark run."""

    nsrun: Any                       # _env.Nsrun
    anchors: Any                     # _anchors.Anchors
    workdir: str
    runs: int
    warmup: int
    quick: bool
    scale: int                       # containers in the scaling section
    iperf_seconds: int
    full: bool                       # compare with dockerd as well
    iperf_rounds: int = 0            # 0: 10 (3 with --quick)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)
    shared: dict[str, Any] = dataclasses.field(default_factory=dict)   # network, daemon, dockerd, ...
    cleanups: list[Callable[[], list[str] | None]] = dataclasses.field(default_factory=list)

    @property
    def rootfs(self) -> str:
        """The busybox image's (one) layer directory, from the store (built on first use)."""
        from nsrun import Paths
        from nsrun._images import Images
        return Images(Paths.from_root(self.nsrun.root)).rootfs("busybox")
