"""The frames ``nsrun stats`` shows from a local root: every container sampled together, twice, ``INTERVAL``
apart (so CPU % has two samples, as the first line of ``docker stats --no-stream`` has: dockerd primes its
collector with one sample and answers with the next), then once more each interval while streaming.

The interval runs from the start of one sample to the start of the next: the time a sample takes is part of
the interval, not added to it (CPU % is computed from the figures' own deltas, so it does not depend on it).

Without names: the running containers, listed afresh at every frame (new ones appear, stopped ones go).
With names: those containers, each resolved once (an unknown name is a NotFoundError before anything is
shown); one removed meanwhile leaves the table.
"""
from __future__ import annotations

import time
TYPE_CHECKING = False  # no typing import at run time (typing and what it imports: ~8 ms): on the stats path
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator

from .cgroupfs import Files
from .sample import INTERVAL, pair, sample

__all__ = ["frames"]


def frames(engine: Any, refs: list[str], stream: bool, interval: float = INTERVAL,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
           ) -> Iterator[list[dict[str, Any]]]:
    """Yield, for each frame, the paired stats (``sample.pair``) of the containers shown; one frame without
    ``stream``. ``sleep`` and ``clock`` (seconds) pace the samples."""
    ids = [engine.find(ref).id for ref in refs]

    def records() -> list[Any]:
        if not refs:
            return engine.list(all=False)
        return [rec for rec in (engine.store.load(cid) for cid in ids) if rec is not None]

    files = Files()                     # every cgroup file opened once for all the frames
    try:
        shown = records()
        due = clock() + interval        # the next sample's start: one interval after this one's
        previous = sample(shown, files=files)
        while True:
            sleep(max(0.0, due - clock()))
            if stream:                  # --no-stream shows the containers of its first sample
                shown = records()
            due = clock() + interval
            current = sample(shown, files=files)
            yield [pair(current[rec.id], previous.get(rec.id)) for rec in shown]
            if not stream:
                return
            previous = current
    finally:
        files.close()
