"""JSON through ``_json``'s C scanner and encoder alone, for the short-lived commands whose whole cost is the
interpreter's start (``nsrun-oci state``/``start``/``kill``/``delete``): the ``json`` package imports ``re``
(``json.decoder``, ``json.scanner``), ~10 ms a start on this machine, for the regular expressions of its
pure-Python fallbacks.

``loads(text)`` is ``json.loads`` (the same C scanner, the same results; an error is the same
``json.JSONDecodeError``, a ValueError: the C scanner imports ``json.decoder`` to raise it). ``dumps(obj)`` is
``json.dumps(obj)`` and ``dumps(obj, indent=N)`` is ``json.dumps(obj, indent=N)``, byte for byte (ASCII,
``", "``/``": "`` separators; ``compact`` with ``","``/``":"``); objects ``json`` cannot encode raise TypeError as it does. The indented form
handles str keys and finite numbers (what records hold) and hands anything else to ``json`` itself.
"""
from __future__ import annotations

import _json

__all__ = ["loads", "dumps", "compact", "quoted"]

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What ``_json.make_scanner`` reads off a ``json.JSONDecoder``."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context())
_WS = " \t\n\r"


def loads(text: str | bytes) -> object:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8-sig" if text[:3] == b"\xef\xbb\xbf" else "utf-8")
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except (StopIteration, SystemError):
        # the error json raises, in its words (the C scanner's own first raise can fail while it imports
        # json.decoder for JSONDecodeError: "returned NULL without setting an exception", CPython 3.11)
        return _strict_loads(text)
    if text[end:].strip(_WS):
        return _strict_loads(text)
    return obj


def _strict_loads(text: str) -> object:
    import json
    return json.loads(text)


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
_string = _json.encode_basestring_ascii
_compact = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True)


def quoted(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)``: a JSON string that keeps non-ASCII characters as they are."""
    return _json.encode_basestring(text)


def compact(obj: object) -> str:
    """``json.dumps(obj, separators=(",", ":"))`` (the journal's lines)."""
    return "".join(_compact(obj, 0))


def dumps(obj: object, indent: int | None = None) -> str:
    if indent is None:
        return "".join(_encode(obj, 0))
    try:
        return _indented(obj, " " * indent, "\n")
    except _Unusual:
        import json
        return json.dumps(obj, indent=indent)


class _Unusual(Exception):
    """A value the indented form leaves to ``json`` (non-str keys, NaN, a float subclass...)."""


def _indented(obj: object, step: str, nl: str) -> str:
    if isinstance(obj, str):
        return _string(obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if type(obj) is int:
        return int.__repr__(obj)
    if type(obj) is float and obj == obj and obj not in (float("inf"), float("-inf")):
        return float.__repr__(obj)
    inner = nl + step
    if type(obj) is dict:
        if not obj:
            return "{}"
        if not all(type(k) is str for k in obj):
            raise _Unusual
        return "{" + inner + ("," + inner).join(f"{_string(k)}: {_indented(v, step, inner)}"
                                                 for k, v in obj.items()) + nl + "}"
    if type(obj) in (list, tuple):
        if not obj:
            return "[]"
        return "[" + inner + ("," + inner).join(_indented(v, step, inner) for v in obj) + nl + "]"
    raise _Unusual
