"""The content store: blobs appear complete and verified or not at all, and gc finds dead writers' partials."""
from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from nsrun.errors import ConfigError, NotFoundError
from nsrun.image.content import BlobError, Content, sha256_digest


def _leftovers(c: Content) -> list[str]:
    return os.listdir(c.ingest) if os.path.isdir(c.ingest) else []


def test_put_has_open_size_delete_digests(tmp_path):
    c = Content(str(tmp_path))
    d = c.put_bytes(b"hello")
    assert d == sha256_digest(b"hello") and c.has(d) and c.size(d) == 5
    assert c.path(d) == str(tmp_path / "content" / "blobs" / "sha256" / d[7:])
    with c.open(d) as f:
        assert f.read() == b"hello"
    assert list(c.digests()) == [d] and _leftovers(c) == []
    assert c.put_bytes(b"hello", d) == d  # idempotent
    assert c.delete(d) and not c.delete(d) and not c.has(d)
    with pytest.raises(NotFoundError, match=f"^blob {d} is not in the content store$"):
        c.path(d)
    with pytest.raises(NotFoundError):
        c.open(d)


def test_streaming_writer_verifies_digest_and_size(tmp_path):
    c = Content(str(tmp_path))
    data = os.urandom(3 << 20)
    d = sha256_digest(data)
    with c.writer(d, len(data)) as w:
        for i in range(0, len(data), 100_000):
            w.write(data[i:i + 100_000])
    assert w.digest == d and c.read_bytes(d) == data
    other = sha256_digest(b"other")
    with pytest.raises(BlobError, match=f"^blob {other} failed verification: its content hashes to {d}$"):
        with c.writer(other) as w:
            w.write(data)
    with pytest.raises(BlobError, match=rf"^blob {d} is truncated: 10 of {len(data)} bytes$"):
        with c.writer(d, len(data)) as w:
            w.write(data[:10])
    with pytest.raises(BlobError, match="longer than the 10 bytes promised"):
        with c.writer(None, 10) as w:
            w.write(data[:11])
    with pytest.raises(RuntimeError):
        with c.writer() as w:
            w.write(b"x")
            raise RuntimeError("the caller failed")
    assert sorted(c.digests()) == [d] and _leftovers(c) == []


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "0" * 32, "sha256:../../etc/passwd", "", "sha256:" + "A" * 64])
def test_bad_digests_never_name_a_path(tmp_path, bad):
    with pytest.raises(ConfigError, match="invalid digest"):
        Content(str(tmp_path)).has(bad)


def test_concurrent_writers_of_one_digest(tmp_path):
    c = Content(str(tmp_path))
    data = os.urandom(1 << 20)
    d = sha256_digest(data)
    errors = []

    def write():
        try:
            c.put_bytes(data, d)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and c.read_bytes(d) == data and _leftovers(c) == []


_WRITER = """
import os, sys
from nsrun.image.content import Content
c = Content(sys.argv[1])
with c.writer() as w:
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    while True:
        w.write(os.urandom(65536))
"""

_PUTTER = """
import os, sys
from nsrun.image.content import Content
c = Content(sys.argv[1])
print("ready", flush=True)
while True:
    c.put_bytes(os.urandom(4096 + os.urandom(1)[0] * 512))
"""


def test_kill_9_leaves_only_what_gc_collects(tmp_path):
    c = Content(str(tmp_path))
    # A live writer's partial is never collected.
    with c.writer() as live:
        live.write(b"in flight")
        for script in (_WRITER, _PUTTER, _PUTTER):
            child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE)
            assert child.stdout.readline() == b"ready\n"
            time.sleep(random.uniform(0.01, 0.1))
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        assert _leftovers(c)
        removed = c.collect_ingest()
        assert removed and len(_leftovers(c)) == 1  # only the live one
    assert live.digest == sha256_digest(b"in flight") and _leftovers(c) == []
    for d in c.digests():  # whatever was committed is complete
        assert sha256_digest(c.read_bytes(d)) == d
    assert c.collect_ingest() == []


def test_collect_ingest_on_an_empty_store(tmp_path):
    assert Content(str(tmp_path)).collect_ingest() == []
    assert list(Content(str(tmp_path)).digests()) == []


def test_nothing_is_buffered(tmp_path):
    """The writer holds a hash state, not the bytes: a 64 MB blob streams with flat memory."""
    import resource
    c = Content(str(tmp_path))
    chunk = os.urandom(1 << 20)
    h = hashlib.sha256()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with c.writer() as w:
        for _ in range(64):
            w.write(chunk)
            h.update(chunk)
    assert w.digest == "sha256:" + h.hexdigest()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024
