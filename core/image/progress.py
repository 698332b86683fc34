"""``docker pull``'s display of a pull or push: one line per layer, redrawn in place on a terminal.

On a terminal every layer keeps its line (``<id>: Downloading [=====>    ]  12.3MB/50.1MB``), redrawn with
cursor movements as events arrive; elsewhere (a pipe, a log) each change of a layer's status is one line and
the byte counts are left out, so a log stays short.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["Display"]

_WIDTH = 50


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n}B"


def bar(current: int | None, total: int | None) -> str:
    """``[=====>     ]  1.2MB/3.4MB``, Docker's progress bar (empty without a total)."""
    if not total or current is None:
        return ""
    done = min(_WIDTH, int(_WIDTH * current / total))
    arrow = ">" if done < _WIDTH else "="
    return f"[{'=' * done}{arrow if done < _WIDTH else ''}{' ' * (_WIDTH - done - 1)}] {_size(current):>8}/{_size(total)}"


class Display:
    """Feed it ``{"id", "status", "current", "total"}`` events (``nsrun.image.pull``'s progress)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.last: dict[str, str] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        lid, status = event["id"], event["status"]
        text = f"{lid}: {status}"
        if self.tty and status in ("Downloading", "Pushing", "Extracting"):
            text += " " + bar(event.get("current"), event.get("total"))
        if lid not in self.lines:
            self.order.append(lid)
            self.lines[lid] = text
            self.stream.write(text + "\n")
        elif self.tty:
            self.lines[lid] = text
            up = len(self.order) - self.order.index(lid)
            self.stream.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        elif self.last.get(lid) != status:
            self.stream.write(text + "\n")
        self.last[lid] = status
        self.stream.flush()

    def line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
