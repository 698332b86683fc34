"""Docker's events, for ``GET /events`` and ``nsrun events``: the live ones derived by diffing snapshots of
the records and of the plugins' ``event_objects``, the past ones (``since``) derived from what is on disk.

Live: every ``POLL`` seconds the records (``create``, ``start``, ``die`` with ``exitCode``, ``destroy``)
and every installed plugin's ``event_objects`` (create, join, leave, destroy) are compared with the last
snapshot. History (``history``): the containers that exist tell their ``create``, last ``start`` and
``die`` from their records' times; the journal (``_journal``) adds the runs before (one entry at the end of
each run) and the containers already removed (``destroy``). Events of the same container, action and
time from both are one. The objects of plugins have no history: ``since`` replays container events only.

Image events (``image.events``) are journal lines of their own, written at the action by whoever acted:
``since`` replays them, and every poll reads the journal's new lines (``_journal.tail``: one stat when
nothing was appended), so the live stream has them too.

Filters: ``type``, ``event``, ``container`` (id, id prefix or name), ``network``, ``volume``, ``image`` (an
image event's id or name, a container's image; a name without a tag matches every tag), ``label`` (the
labels every event carries in its attributes, as dockerd's do).
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Iterator

from ._filters import labels_match
from .errors import ConfigError

__all__ = ["EVENT_FILTERS", "POLL", "changes", "object_changes", "container_event", "wanted", "history",
           "parse_window", "Snapshot", "follow"]

POLL = 0.25
EVENT_FILTERS = ("type", "event", "container", "label", "network", "volume", "image")


def parse_timestamp(text: str) -> float:
    """The ``since``/``until`` of a request as dockerd reads them: unix seconds, optionally ``.nanoseconds``
    (the docker CLI turns durations and RFC 3339 into this before it asks). Docker's words when malformed."""
    secs, dot, frac = text.partition(".")
    for part in (secs, frac) if dot else (secs,):
        if not part.lstrip("-").isdigit() or part.count("-") > 1 or "-" in part[1:]:
            raise ConfigError(f'strconv.ParseInt: parsing "{part}": invalid syntax')
    return int(secs) + (int(frac.ljust(9, "0")[:9]) / 1e9 if frac else 0.0)


def parse_window(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    """(since, until) in unix seconds, None for absent; ``until`` before ``since`` refused as dockerd does."""
    s = parse_timestamp(since) if since else None
    u = parse_timestamp(until) if until else None
    if u is not None and u < (s or 0):
        raise ConfigError(f"`since` time ({since or ''}) cannot be after `until` time ({until})")
    return s, u


# -- containers ----------------------------------------------------------------------------------------------
def changes(before: dict[str, tuple[str, Any]], after: dict[str, tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The (action, record) events between two snapshots (id -> (status, record)), in a stable order."""
    out: list[tuple[str, Any]] = []
    for cid, (status, rec) in after.items():
        old = before.get(cid, (None, None))[0]
        if old is None:
            out.append(("create", rec))
        if status == "running" and old != "running":
            out.append(("start", rec))
        if old == "running" and status != "running":
            out.append(("die", rec))
    for cid, (status, rec) in before.items():
        if cid not in after:
            if status == "running":
                out.append(("die", rec))
            out.append(("destroy", rec))
    return out


def container_event(action: str, cid: str, name: str, image: str, labels: dict[str, str],
                    exit_code: Any = None, when: float | None = None) -> dict[str, Any]:
    """One container event in dockerd's shape (``when``: unix seconds; now when None)."""
    now = time.time_ns() if when is None else int(when * 1e9)
    attributes = {**labels, "image": image, "name": name}
    if action == "die" and exit_code is not None:  # unknown when removed while running
        attributes["exitCode"] = str(exit_code)
    return {"status": action, "id": cid, "from": image, "Type": "container", "Action": action,
            "Actor": {"ID": cid, "Attributes": attributes}, "scope": "local",
            "time": now // 1_000_000_000, "timeNano": now}


def record_event(action: str, rec: Any, when: float | None = None) -> dict[str, Any]:
    return container_event(action, rec.id, rec.name, rec.spec.image or rec.spec.rootfs or "",
                           dict(rec.spec.config.get("Labels") or {}), rec.state.get("exit_code"), when)


def _life_events(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The events one life (a journal entry, or a record's state) tells, each at its own time."""
    args = (entry["id"], entry.get("name") or "", entry.get("image") or "", entry.get("labels") or {})
    created, started, finished = entry.get("created"), entry.get("started"), entry.get("finished")
    if created:
        yield container_event("create", *args, when=created)
    if started:
        yield container_event("start", *args, when=started)
    if started and finished and finished >= started:
        yield container_event("die", *args, exit_code=entry.get("exit_code"), when=finished)
    if entry.get("removed"):
        yield container_event("destroy", *args, when=entry["removed"])


def _logged(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The event a journal line holds as streamed (an image's), if it is one."""
    ev = entry.get("event")
    ok = isinstance(ev, dict) and isinstance(ev.get("timeNano"), int) and isinstance(ev.get("Actor"), dict)
    return [ev] if ok else []


def history(journal: Iterable[dict[str, Any]], records: Iterable[Any], since: float | None,
            until: float | None) -> list[dict[str, Any]]:
    """Container events between ``since`` and ``until`` (inclusive), oldest first, each once."""
    from ._journal import life
    seen: dict[tuple[str, str, int], dict[str, Any]] = {}
    lives = list(journal) + [life(r) for r in records]
    for entry in lives:
        for ev in _life_events(entry) if "event" not in entry else _logged(entry):
            seen.setdefault((ev["Actor"]["ID"], ev["Action"], ev["timeNano"]), ev)
    lo = int((since or 0) * 1e9)
    hi = int(until * 1e9) if until is not None else None
    return sorted((e for e in seen.values() if e["timeNano"] >= lo and (hi is None or e["timeNano"] <= hi)),
                  key=lambda e: e["timeNano"])


# -- plugins' objects ----------------------------------------------------------------------------------------
def object_changes(before: dict[tuple[str, str], dict], after: dict[tuple[str, str], dict]) -> list[dict[str, Any]]:
    """The events of plugins' objects between two ``event_objects`` snapshots: create, join (members that
    came), leave (members that went), destroy (a gone object's members leave first)."""
    out = []

    def event(obj: dict, action: str, member: str | None = None, extra: dict | None = None) -> dict[str, Any]:
        attributes = {**(obj.get("Attributes") or {}), **(extra or {})}
        if member is not None:
            attributes["container"] = member
        now = time.time_ns()
        return {"Type": obj["Type"], "Action": action, "Actor": {"ID": obj["ID"], "Attributes": attributes},
                "scope": "local", "time": now // 1_000_000_000, "timeNano": now}

    for key, obj in after.items():
        old = before.get(key)
        if old is None:
            out.append(event(obj, "create"))
        had = (old or {}).get("members") or {}
        for member, extra in (obj.get("members") or {}).items():
            if member not in had and obj.get("join"):
                out.append(event(obj, obj["join"], member, extra))
        for member, extra in had.items():
            if member not in (obj.get("members") or {}) and obj.get("leave"):
                out.append(event(obj, obj["leave"], member, extra))
    for key, obj in before.items():
        if key not in after:
            for member, extra in (obj.get("members") or {}).items():
                if obj.get("leave"):
                    out.append(event(obj, obj["leave"], member, extra))
            out.append(event(obj, "destroy"))
    return out


def wanted(filters: dict[str, list[str]], ev: dict[str, Any]) -> bool:
    """Whether an event (a container's or an object's) passes the filters."""
    kind, attributes, actor = ev["Type"], ev["Actor"]["Attributes"], ev["Actor"]["ID"]
    if filters.get("type") and kind not in filters["type"]:
        return False
    if filters.get("event") and ev["Action"] not in filters["event"]:
        return False
    if filters.get("label") and not labels_match(attributes, filters["label"]):
        return False
    for key in ("network", "volume"):
        if filters.get(key) and not (kind == key and any(actor.startswith(v) or attributes.get("name") == v
                                                          for v in filters[key])):
            return False
    if filters.get("image") and not _image_match(kind, actor, attributes, filters["image"]):
        return False
    refs = filters.get("container")
    if not refs:
        return True
    if kind == "container":
        return any(actor.startswith(r) or attributes.get("name") == r for r in refs)
    return any(str(attributes.get("container", "")).startswith(r) for r in refs)


def _image_match(kind: str, actor: str, attributes: dict[str, Any], refs: list[str]) -> bool:
    """dockerd's ``image`` filter: an image event's id or name, a container event's image; ``busybox`` also
    matches ``busybox:latest`` (a filter without a tag compares repositories)."""
    if kind == "image":
        names = (actor, str(attributes.get("name", "")))
    elif kind == "container":
        names = (str(attributes.get("image", "")),)
    else:
        return False

    def repo(name: str) -> str:
        head, _, last = name.rpartition("/")
        return (f"{head}/" if head else "") + last.split(":")[0].split("@")[0]

    for ref in refs:
        for name in names:
            if name == ref or (name.startswith("sha256:") and name[7:].startswith(ref.removeprefix("sha256:"))
                               and len(ref.removeprefix("sha256:")) >= 12):
                return True
            if ":" not in ref.rpartition("/")[2] and "@" not in ref and repo(name) == ref:
                return True
    return False


# -- snapshots and the whole stream --------------------------------------------------------------------------
class Snapshot:
    """What the events are diffed from: the records and the plugins' objects, as they are now."""

    def __init__(self, engine: Any, plugins: Any) -> None:
        self.engine, self.plugins = engine, plugins
        from ._journal import position
        self.journal = position(engine.paths.root)  # first: what is appended while we look comes next time
        self.records = {rec.id: (rec.status, rec) for rec in engine.list(all=True)}
        self.objects = self._objects()

    def _objects(self) -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for items in self.plugins.hook.event_objects(paths=self.engine.paths):
            for item in items or ():
                if isinstance(item, dict) and item.get("Type") and item.get("ID"):
                    out[(str(item["Type"]), str(item["ID"]))] = item
        return out

    def history(self, since: float | None, until: float | None) -> list[dict[str, Any]]:
        from ._journal import read
        return history(read(self.engine.paths.root), [r for _, r in self.records.values()], since, until)

    def next(self) -> tuple["Snapshot", list[dict[str, Any]]]:
        """A fresh snapshot and the events since this one."""
        from ._journal import tail
        logged, pos = tail(self.engine.paths.root, self.journal)
        after = Snapshot(self.engine, self.plugins)
        after.journal = pos
        evs = [record_event(action, rec) for action, rec in changes(self.records, after.records)]
        return after, evs + object_changes(self.objects, after.objects) + [e for x in logged for e in _logged(x)]


def follow(engine: Any, plugins: Any, filters: dict[str, list[str]], since: float | None,
           until: float | None, sleep: Any = time.sleep) -> Iterator[dict[str, Any]]:
    """The whole stream as dockerd sends it: the past (with ``since``), then what happens, until ``until``
    (forever without it; at once when it has passed)."""
    snap = Snapshot(engine, plugins)
    if since is not None or until is not None:  # dockerd replays only when asked for a window
        yield from (e for e in snap.history(since, until) if wanted(filters, e))
    while until is None or time.time() < until:
        sleep(POLL if until is None else max(0.0, min(POLL, until - time.time())))
        snap, evs = snap.next()
        yield from (e for e in evs if wanted(filters, e) and (until is None or e["time"] <= until))
