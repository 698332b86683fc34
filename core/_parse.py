"""Parsing what users type for every front end (pure, but for reading the image's passwd and group files):
signals, ``-e`` environment entries, ``-u`` users."""
from __future__ import annotations

import os
TYPE_CHECKING = False  # no typing import at run time: nsrun-oci kill parses its signal with this module
if TYPE_CHECKING:
    from typing import Mapping
import _signal as signal  # the C module: signal.py builds its enums at import (~1.5 ms per start)

from .errors import ConfigError

__all__ = ["SIGNALS", "parse_signal", "parse_env", "parse_labels", "parse_restart", "parse_log_time", "parse_user"]

SIGNALS = {n[3:]: getattr(signal, n) for n in dir(signal) if n.startswith("SIG") and not n.startswith("SIG_")}


def parse_signal(text: str | int) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9."""
    raw = str(text).upper()
    if raw.isdigit() and 0 < int(raw) < 65:
        return int(raw)
    raw = raw[3:] if raw.startswith("SIG") else raw
    if raw in SIGNALS:
        return SIGNALS[raw]
    raise ConfigError(f"invalid signal: {text}")


def parse_env(items: list[str] | tuple[str, ...], fill_from: Mapping[str, str] | None = os.environ) -> dict[str, str]:
    """``K=V`` entries -> a dict. A bare ``K`` is the CLI's ``-e K``: taken from ``fill_from`` (the client's
    own environment) when set there, as the docker CLI does. With ``fill_from=None`` (the Docker API: a
    daemon never lends its own environment) a bare ``K`` removes ``K``, as dockerd's ReplaceOrAppendEnvValues
    does."""
    env: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not key or any(c.isspace() for c in key) or "\0" in item:
            raise ConfigError(f"invalid environment variable: {item!r} (expected KEY=VALUE)")
        if sep:
            env[key] = value
        elif fill_from is None:
            env.pop(key, None)
        elif key in fill_from:
            env[key] = fill_from[key]
    return env


_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_log_time(text: str, now: float, what: str = "--since") -> float:
    """``logs --since/--until`` as the docker CLI takes them: unix seconds (``1700000000.5``), RFC 3339
    (``2026-11-29T10:00:00Z``, a date alone) or a duration before ``now`` (``10m``, ``1h30m``) -> unix seconds."""
    import re
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", text):
        return now - sum(float(n) * _UNITS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", text))
    import datetime
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"invalid value for {what}: {text!r} (unix seconds, RFC 3339 or a duration such as "
                          f"10m)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


parse_time = parse_log_time  # public (``nsrun.parse_time``): a filter's ``until=`` is spelled the same way


RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def parse_restart(text: str | None) -> tuple[str, int]:
    """``--restart`` (``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``) -> (name, maximum retry count;
    0: no limit). ``no`` or empty -> ("", 0)."""
    name, colon, count = (text or "").partition(":")
    if name in ("", "no") and not colon:
        return "", 0
    if name not in RESTART_POLICIES:
        raise ConfigError(f"invalid restart policy {text!r} (no, always, unless-stopped, on-failure[:N])")
    if colon:
        if name != "on-failure":
            raise ConfigError(f"invalid restart policy {text!r}: a maximum retry count is only for on-failure")
        if not count.isdigit():
            raise ConfigError(f"invalid restart policy {text!r}: the maximum retry count must be a number >= 0")
        return name, int(count)
    return name, 0


def parse_labels(items: list[str] | tuple[str, ...], what: str = "--label") -> dict[str, str]:
    """``--label K=V`` entries -> a dict (a bare ``K`` is ``K=""``, as the docker CLI makes it)."""
    labels: dict[str, str] = {}
    for item in items or ():
        key, _, value = item.partition("=")
        if not key or "\0" in item:
            raise ConfigError(f"invalid {what} {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _table_row(rootfs: str | None, table: str, name: str) -> list[str] | None:
    """The ``name:...`` row of the image's /etc/passwd or /etc/group, split on ':'. The file is found inside
    the image (``RESOLVE_IN_ROOT``): an image whose ``/etc`` links to a host directory cannot make nsrun
    read the host's files."""
    from . import syscalls
    try:
        root = os.open(rootfs or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = syscalls.openat2(root, f"etc/{table}", os.O_RDONLY | os.O_CLOEXEC,
                                  syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS)
        finally:
            os.close(root)
        with open(fd) as f:
            for line in f:
                parts = line.strip().split(":")
                if parts[0] == name and len(parts) > 3:
                    return parts
    except OSError:
        pass
    return None


def parse_groups(texts: list[str] | tuple[str, ...], rootfs: str | None) -> list[int]:
    """``--group-add`` values: numbers, or names from the image's /etc/group; each once, in order."""
    out: list[int] = []
    for text in texts:
        if text.isdigit():
            gid = int(text)
            if gid > 2**32 - 2:
                raise ConfigError(f"invalid --group-add {text!r}: not a valid group id")
        else:
            row = _table_row(rootfs, "group", text) if text else None
            if row is None or not row[2].isdigit():
                raise ConfigError(f"unable to find group {text}: no matching entries in group file")
            gid = int(row[2])
        if gid not in out:
            out.append(gid)
    return out


def parse_user(text: str | None, rootfs: str | None) -> tuple[int, int]:
    """``-u UID[:GID]`` or names from the image's /etc/passwd and /etc/group (a named user without a group
    gets its passwd group; a numeric uid without one gets gid = uid)."""
    if not text:
        return (0, 0)
    user, _, group = text.partition(":")
    if user.isdigit():
        uid, gid = int(user), int(user)
    elif (row := _table_row(rootfs, "passwd", user)) is not None and row[2].isdigit() and row[3].isdigit():
        uid, gid = int(row[2]), int(row[3])
    else:
        raise ConfigError(f"unable to find user {user}: no matching entries in passwd file")
    if group.isdigit():
        gid = int(group)
    elif group:
        row = _table_row(rootfs, "group", group)
        if row is None or not row[2].isdigit():
            raise ConfigError(f"unable to find group {group}: no matching entries in group file")
        gid = int(row[2])
    return (uid, gid)
