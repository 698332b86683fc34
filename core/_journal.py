"""The event journal: what the records on disk forget, for ``events --since/--until``.

A container's record already holds the times of its life (``created``, ``started``, ``finished``), so the
history of the containers that exist is derived from them (``_events``). What a record cannot tell is what
happened before its last start (earlier runs) and after it is gone (``destroy``). Those two moments append
one line each to ``<root>/events.jsonl``: the end of every run (``Record.update`` to ``exited`` with its
``finished`` time) and the removal of a record (``Store.remove``). Both are on the way out of a container, never on
the way in: ``nsrun run`` writes nothing here before the command runs.

Each line is one JSON object, the container's life at that moment (``id``, ``name``, ``image``, ``labels``,
``created``, ``started``, ``finished``, ``exit_code``, and ``removed`` for a removal). Whoever changes the
record appends — the CLI, the daemon, a supervisor, ``gc`` — without a lock: one ``write`` of one line opened
``O_APPEND`` lands whole and in order (lines are kept under ``PIPE_BUF``, dropping labels if need be). A torn
line (a crash mid-write) is skipped when read.

Image actions (``image.events``) append one line each too, ``{"id": ACTOR, "event": EVENT}``: the event as
streamed, since nothing else keeps an image's history. The live stream reads what was appended since it last
looked (``position``/``tail``), across a rotation.

Bounded: once the file passes ``MAX_BYTES`` the writer that notices renames it to ``events.jsonl.1``
(replacing the older one), so the journal never holds more than about twice ``MAX_BYTES``; a writer that
finds another rotating (a non-blocking flock on the file) leaves it to that one. ``gc`` rotates a file
that is over the bound; ``system reset`` removes both. Writing never fails the operation that records:
a full disk loses history, not a container.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False  # no typing import at run time (it imports re): nsrun-oci delete imports this
if TYPE_CHECKING:
    from typing import Any

from ._jsonlite import compact, loads

__all__ = ["JOURNAL", "MAX_BYTES", "append", "read", "position", "tail", "collect", "life"]

JOURNAL = "events.jsonl"
MAX_BYTES = 1 << 20
_LINE_MAX = 4000  # below PIPE_BUF (4096): one write is one whole line, even with concurrent writers


def _path(root: str) -> str:
    return os.path.join(root, JOURNAL)


def _line(entry: dict[str, Any]) -> bytes:
    line = compact(entry).encode() + b"\n"
    if len(line) > _LINE_MAX:
        entry = {**entry, "labels": {}}
        line = compact(entry).encode() + b"\n"
    return line[:_LINE_MAX - 1] + b"\n" if len(line) > _LINE_MAX else line


def append(root: str, entry: dict[str, Any], max_bytes: int = MAX_BYTES) -> None:
    """Append one entry as one line; rotate when the file has grown past ``max_bytes``. Never raises OSError."""
    try:
        fd = os.open(_path(root), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, _line(entry))
        if os.fstat(fd).st_size > max_bytes:
            _rotate(fd, root, max_bytes)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rotate(fd: int, root: str, max_bytes: int) -> None:
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another writer is rotating this very file
    path = _path(root)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_ino == os.fstat(fd).st_ino and st.st_size > max_bytes:  # not already rotated by someone else
        os.replace(path, path + ".1")


def _entries(data: bytes) -> list[dict[str, Any]]:
    out = []
    for raw in data.splitlines():
        try:
            entry = loads(raw)
        except ValueError:
            continue  # a line torn by a crash
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            out.append(entry)
    return out


def _read_from(path: str, offset: int = 0, inode: int | None = None) -> bytes:
    """The bytes of ``path`` from ``offset`` (only whole lines), b"" when absent or not the file ``inode``."""
    try:
        with open(path, "rb") as f:
            if inode is not None and os.fstat(f.fileno()).st_ino != inode:
                return b""
            f.seek(offset)
            data = f.read()
    except OSError:
        return b""
    return data[:data.rfind(b"\n") + 1]


def read(root: str) -> list[dict[str, Any]]:
    """Every whole entry, oldest first (the rotated file, then the current one)."""
    return _entries(_read_from(_path(root) + ".1") + _read_from(_path(root)))


def position(root: str) -> tuple[int, int]:
    """Where the journal ends now: ``(inode, size)`` of the current file, ``(0, 0)`` when there is none."""
    try:
        st = os.stat(_path(root))
    except OSError:
        return (0, 0)
    return (st.st_ino, st.st_size)


def tail(root: str, pos: tuple[int, int]) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """The entries appended after ``pos`` (a ``position``) and the new position. After a rotation the rest of
    the rotated file comes first, then the new file from its start. One stat when nothing was appended."""
    now = position(root)
    if now == pos:
        return [], pos
    inode, offset = pos
    if now[0] == inode:
        data = _read_from(_path(root), offset, inode)
        return _entries(data), (inode, offset + len(data))
    rest = _read_from(_path(root) + ".1", offset, inode) if inode else b""
    data = _read_from(_path(root))
    return _entries(rest + data), (now[0], len(data))


def collect(root: str, reset: bool = False, max_bytes: int = MAX_BYTES) -> list[str]:
    """``gc``: rotate a journal over the bound; ``reset``: remove it (and the rotated one)."""
    path = _path(root)
    if reset:
        lines = []
        for p in (path, path + ".1"):
            try:
                os.unlink(p)
                lines.append(f"removed the event journal {os.path.basename(p)}")
            except FileNotFoundError:
                pass
        return lines
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        if os.fstat(fd).st_size > max_bytes:
            _rotate(fd, root, max_bytes)
            return ["rotated the event journal"]
    finally:
        os.close(fd)
    return []


def life(rec: Any, removed: float | None = None) -> dict[str, Any]:
    """A record's journal entry (``rec``: a ``_state.Record``)."""
    st = rec.state
    entry = {"id": rec.id, "name": rec.name, "image": rec.spec.image or rec.spec.rootfs or "",
             "labels": dict(rec.spec.config.get("Labels") or {}), "created": st.get("created"),
             "started": st.get("started"), "finished": st.get("finished"), "exit_code": st.get("exit_code")}
    if removed is not None:
        entry["removed"] = removed
    return entry
