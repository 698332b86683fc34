"""Image events (``docker events --filter type=image``), recorded where the action happens.

The store and the image services call ``record`` at the point of each action, whoever drives them (the CLI,
the daemon): ``pull`` and ``push`` (Actor.ID the familiar reference, ``name`` its repository), ``tag`` (the
image id; ``name`` the new tag), ``untag`` and ``delete`` (the image id as both), ``import``, ``load`` and
``save`` (the image id as both) — what dockerd's ``LogImageEvent`` sends. Nothing keeps images' history
otherwise, so each event is one line of the event journal (``_journal``: ``{"id": ACTOR, "event": EVENT}``,
one ``O_APPEND`` write); ``_events`` replays them for ``since`` and tails the journal for the live stream.
Recording never fails the action (the journal's rule). Not on ``nsrun run``'s start path: imported lazily by
the actions that record.
"""
from __future__ import annotations

import time
from typing import Any

from .._journal import append

__all__ = ["ACTIONS", "image_event", "record", "with_tag"]

ACTIONS = ("pull", "push", "tag", "untag", "delete", "import", "load", "save")


def image_event(action: str, actor: str, name: str, when_ns: int | None = None) -> dict[str, Any]:
    """One image event in dockerd's shape."""
    now = time.time_ns() if when_ns is None else when_ns
    return {"status": action, "id": actor, "Type": "image", "Action": action,
            "Actor": {"ID": actor, "Attributes": {"name": name}}, "scope": "local",
            "time": now // 1_000_000_000, "timeNano": now}


def record(root: str, action: str, actor: str, name: str | None = None) -> None:
    """Append one image event to the journal of the nsrun root ``root``. Never raises OSError."""
    append(root, {"id": actor, "event": image_event(action, actor, actor if name is None else name)})


def with_tag(key: str) -> str:
    """A stored tag key (``busybox``, ``app:1``) as Docker names it in events (``busybox:latest``)."""
    if "@" in key or ":" in key.rsplit("/", 1)[-1]:
        return key
    return f"{key}:latest"
