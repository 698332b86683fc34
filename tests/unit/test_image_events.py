"""Image events in the journal: tail across appends and a rotation, history replaying logged events, the
``image`` filter (pure, on a temp dir)."""
from __future__ import annotations

import os

from nsrun import _journal
from nsrun._events import history, wanted
from nsrun.image.events import image_event, record, with_tag


def test_tail_sees_appends_and_survives_a_rotation(tmp_path):
    root = str(tmp_path)
    pos = _journal.position(root)
    assert pos == (0, 0) and _journal.tail(root, pos) == ([], pos)
    record(root, "tag", "sha256:aa", "x:latest")
    got, pos = _journal.tail(root, pos)
    assert [e["event"]["Action"] for e in got] == ["tag"]
    record(root, "untag", "sha256:aa")
    os.replace(os.path.join(root, _journal.JOURNAL), os.path.join(root, _journal.JOURNAL + ".1"))
    record(root, "delete", "sha256:aa")
    got, pos = _journal.tail(root, pos)
    assert [e["event"]["Action"] for e in got] == ["untag", "delete"]
    assert _journal.tail(root, pos) == ([], pos)


def test_history_replays_logged_events_in_the_window():
    evs = [{"id": "sha256:aa", "event": image_event("tag", "sha256:aa", "x:latest", when_ns=n * 10**9)}
           for n in (5, 10)]
    assert [e["time"] for e in history(evs, [], 6, 20)] == [10]


def test_image_filter_and_tag_names():
    ev = image_event("tag", "sha256:" + "ab" * 32, "pdv/app:1")
    for ref, ok in (("pdv/app", True), ("pdv/app:1", True), ("pdv/app:2", False), ("abababababab", True),
                    ("sha256:" + "ab" * 32, True), ("other", False)):
        assert wanted({"image": [ref]}, ev) is ok, ref
    assert (with_tag("busybox"), with_tag("app:1"), with_tag("h:5000/a"), with_tag("a@sha256:1")) == \
        ("busybox:latest", "app:1", "h:5000/a:latest", "a@sha256:1")
