"""Which container a user's reference names, as Docker resolves it: the owner of that name, else that full
id, else the one id it is a prefix of. Only ``os`` calls, so the exec client can resolve a name before it
imports anything else; ``_state.Store.find`` is built on it.

Layout it reads: ``<containers>/<64-hex id>/`` per container and ``<containers>/.names/NAME -> ID``.
"""
from __future__ import annotations

import os

from .errors import ConfigError

__all__ = ["candidates", "valid_name"]

_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REST = _FIRST | frozenset("_.-")
_HEX = frozenset("0123456789abcdef")


def valid_name(name: str) -> bool:
    """``[a-zA-Z0-9][a-zA-Z0-9_.-]*``: a name Docker accepts."""
    return bool(name) and name[0] in _FIRST and all(c in _REST for c in name)


def _owner_of(containers: str, name: str) -> str | None:
    """The id holding ``name``, or None; a link whose container directory is gone (a crash between the two
    steps of create or remove) does not count."""
    try:
        cid = os.readlink(os.path.join(containers, ".names", name))
    except OSError:
        return None
    return cid if os.path.isdir(os.path.join(containers, cid)) else None


def candidates(containers: str, ref: str):  # -> Iterator[str], without importing typing
    """The ids ``ref`` may name, best first: the name's owner, the full id, then the unique id it is a
    prefix of (computed only when the first two are not taken). Raises ConfigError when a prefix matches
    several ids (Docker's words)."""
    owner = _owner_of(containers, ref) if valid_name(ref) else None
    if owner is not None:
        yield owner
    if len(ref) == 64 and ref != owner:
        yield ref
    if not ref or len(ref) == 64 or not set(ref) <= _HEX:
        return
    try:
        ids = [c for c in os.listdir(containers) if len(c) == 64 and c.startswith(ref)]
    except FileNotFoundError:
        return
    if len(ids) > 1:
        raise ConfigError(f"multiple IDs found with provided prefix: {ref}")
    yield from ids
