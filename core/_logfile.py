"""``container.log`` as the json-file driver keeps it: its options, its rotation, and reading across the files.

``parse_log_opts`` checks ``--log-opt``/``HostConfig.LogConfig.Config`` as dockerd's json-file driver does
(``max-size``: a size with an SI unit, ``10m`` = 10,000,000 bytes; ``max-file``: how many files in all, the
current one included, only with ``max-size``); any other key is refused by name.

``RotatingLog`` is the supervisor's writer: before a write, once the current file has reached ``max-size``, it
is renamed ``container.log.1`` (``.1`` to ``.2``, ..., the oldest beyond ``max-file`` deleted) and a new one
begun; with ``max-file=1`` the file is emptied instead. A record (``_frames.log_record``) is one ``write``, so a
rotation never splits one.

``LogReader`` reads the records of all the files, oldest first, and keeps following the current one across
rotations: at the end of the file it holds, when the name now points elsewhere, it finishes the old file
(kept open: its data is still there after the rename) and goes on with the files written since, found by
inode among the rotated ones.
"""
from __future__ import annotations

import os
from typing import BinaryIO, Iterator

from .errors import ConfigError

__all__ = ["LOG_OPTS", "parse_log_opts", "parse_size", "RotatingLog", "LogReader", "log_files"]

LOG_OPTS = ("max-size", "max-file")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def parse_size(text: str) -> int:
    """A size as go-units ``FromHumanSize`` reads it (decimal): ``1000``, ``1k``, ``10m``, ``1.5MB``."""
    raw = text.strip().lower()
    num = raw.rstrip("bkmgtpi ")
    unit = raw[len(num):].strip().rstrip("b").rstrip("i")
    try:
        value = float(num)
    except ValueError:
        value = -1
    if unit not in _UNITS or value <= 0 or num.startswith(("+", "-")):
        raise ConfigError(f"invalid log opt max-size {text!r}: expected a positive size (10m, 1k, 5000)")
    return int(value * _UNITS[unit])


def parse_log_opts(opts: dict[str, str] | list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """``KEY=VALUE`` items (``--log-opt``) or a dict (``LogConfig.Config``) -> the dict, checked; the values
    are kept as given (inspect shows them so)."""
    if isinstance(opts, (list, tuple)):
        items: dict[str, str] = {}
        for item in opts:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise ConfigError(f"invalid log opt {item!r}: expected KEY=VALUE")
            items[key] = value
        opts = items
    opts = dict(opts or {})
    for key, value in opts.items():
        if key not in LOG_OPTS:
            raise ConfigError(f"unknown log opt '{key}' for json-file log driver (nsrun takes max-size, max-file)")
        if not isinstance(value, str):
            raise ConfigError(f"log opt '{key}': expected a string, got {value!r}")
    if "max-size" in opts:
        parse_size(opts["max-size"])
    if "max-file" in opts:
        count = opts["max-file"]
        if not count.strip().lstrip("-").isdigit():
            raise ConfigError(f"invalid log opt max-file {count!r}: expected a number")
        if int(count) < 1:
            raise ConfigError("max-file cannot be less than 1")
        if int(count) > 1 and "max-size" not in opts:
            raise ConfigError("max-file can only be used together with max-size")
    return opts


def log_files(path: str) -> list[str]:
    """The files of a log, oldest first: ``path.N`` ... ``path.1``, then ``path`` (those that exist)."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return rotated[::-1] + ([path] if os.path.exists(path) else [])


class RotatingLog:
    """An append-only writer of ``path`` rotating it as ``opts`` (``parse_log_opts``'s dict) says; without
    ``max-size`` it never rotates. ``write`` takes one whole record."""

    def __init__(self, path: str, opts: dict[str, str] | None = None) -> None:
        opts = opts or {}
        self.path = path
        self.max_size = parse_size(opts["max-size"]) if opts.get("max-size") else 0
        self.max_file = int(opts.get("max-file") or 1)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> int:
        if self.max_size and self.size >= self.max_size:
            self._rotate()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.size += len(data)
        return len(data)

    def _rotate(self) -> None:
        if self.max_file > 1:
            for n in range(self.max_file - 1, 0, -1):
                src = f"{self.path}.{n - 1}" if n > 1 else self.path
                try:
                    os.replace(src, f"{self.path}.{n}")
                except FileNotFoundError:
                    pass
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        else:
            os.ftruncate(self.fd, 0)
        self.size = 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "RotatingLog":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class LogReader:
    """Records of a log and its rotated files, oldest first; each ``records()`` call reads up to the current
    end (a partial record is left for the next). ``from_end``: only what is written from now on."""

    def __init__(self, path: str, from_end: bool = False) -> None:
        self.path = path
        self.f: BinaryIO | None = None
        self.queue: list[str] = []       # files still to read after the one open
        if from_end:
            self.f = self._open(path)
            if self.f is not None:
                self.f.seek(0, os.SEEK_END)
        else:
            self.queue = log_files(path)

    @staticmethod
    def _open(path: str) -> BinaryIO | None:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            return None

    def records(self, times: bool = False) -> Iterator[tuple]:
        from ._frames import read_log
        while True:
            if self.f is None:
                if not self.queue:
                    self.f = self._open(self.path)
                    if self.f is None:
                        return
                else:
                    self.f = self._open(self.queue.pop(0))
                    if self.f is None:
                        continue
            yield from read_log(self.f, times=times)
            if self.queue:            # a rotated file, read to its end
                self.f.close()
                self.f = None
                continue
            newer = self._moved_on()
            if newer is None:
                return
            if newer:                 # rotated away: what it got before the rename, then the newer files
                yield from read_log(self.f, times=times)
                self.f.close()
                self.f = None
                self.queue = newer[1:] if newer[0] == "" else newer

    def _moved_on(self) -> list[str] | None:
        """At the end of the file we hold: None if it is still the current one; else the files written
        since, oldest first (``[""]`` stands for "none, but go on": it was emptied, read it from 0)."""
        assert self.f is not None
        mine = os.fstat(self.f.fileno())
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return None
        if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            if mine.st_size < self.f.tell():   # max-file=1: emptied and written again (what came between
                self.f.seek(0)                 # our last read and the truncation is lost, as with dockerd)
                return []
            return None
        files = log_files(self.path)
        newer: list[str] = []
        for name in reversed(files):           # newest first, back to ours
            try:
                st = os.stat(name)
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                break
            newer.insert(0, name)
        return newer or [""]

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
