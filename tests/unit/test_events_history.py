"""The event journal (bounded, whole lines, rotation) and history derived from it and the records: pure, on
a temp directory, without containers."""
from __future__ import annotations

import json
import os
import threading

import pytest

from nsrun import _journal
from nsrun._events import history, parse_window, wanted
from nsrun.errors import ConfigError


def _life(cid: str, **times: float) -> dict:
    return {"id": cid, "name": f"evdf-{cid}", "image": "busybox", "labels": {"k": "v"}, "exit_code": 3, **times}


def test_history_from_journal_and_records_each_event_once_in_order():
    journal = [_life("a", created=10, started=11, finished=12),
               _life("a", created=10, started=13, finished=14, removed=15)]
    events = history(journal, [], since=None, until=None)
    assert [e["Action"] for e in events] == ["create", "start", "die", "start", "die", "destroy"]
    assert events[2]["Actor"]["Attributes"] == {"k": "v", "image": "busybox", "name": "evdf-a", "exitCode": "3"}
    assert [e["Action"] for e in history(journal, [], since=12.5, until=14)] == ["start", "die"]


def test_window_parsing_uses_dockerds_words():
    assert parse_window("1700000000.5", None) == (1700000000.5, None)
    with pytest.raises(ConfigError, match=r'strconv.ParseInt: parsing "abc": invalid syntax'):
        parse_window("abc", None)
    with pytest.raises(ConfigError, match=r"`since` time \(10\) cannot be after `until` time \(3\)"):
        parse_window("10", "3")


def test_filters_on_history_events():
    ev = history([_life("abc", created=1)], [], None, None)[0]
    assert wanted({"container": ["evdf-abc"]}, ev) and wanted({"container": ["ab"]}, ev)
    assert not wanted({"type": ["network"]}, ev) and wanted({"label": ["k=v"]}, ev)


def test_concurrent_appends_stay_whole_lines_and_rotation_bounds_the_journal(tmp_path):
    root = str(tmp_path)
    big = {"id": "x" * 64, "labels": {"l": "y" * 300}}

    def writer(n: int) -> None:
        for i in range(200):
            _journal.append(root, {**big, "n": n, "i": i}, max_bytes=64 * 1024)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    current = os.path.getsize(os.path.join(root, _journal.JOURNAL))
    assert current <= 64 * 1024 + 4 * 4096
    for name in (_journal.JOURNAL, _journal.JOURNAL + ".1"):
        with open(os.path.join(root, name), "rb") as f:
            assert all(json.loads(line)["id"] == "x" * 64 for line in f)      # no torn or merged line
    assert _journal.read(root)


def test_oversized_entry_is_one_line_below_pipe_buf_and_reset_removes_the_journal(tmp_path):
    root = str(tmp_path)
    _journal.append(root, {"id": "a", "labels": {"l": "z" * 10000}})
    with open(os.path.join(root, _journal.JOURNAL), "rb") as f:
        data = f.read()
    assert len(data) < 4096 and data.count(b"\n") == 1 and json.loads(data)["labels"] == {}
    assert _journal.collect(root, reset=True) == ["removed the event journal events.jsonl"]
    assert not os.listdir(root)
