"""Docker's size strings (``--shm-size 64m``): a number with an optional binary unit (b, k, m, g, t, p; ``kb``,
``KiB`` alike), as Docker's ``units.RAMInBytes`` reads them: ``NUMBER[ ][UNIT][i][b]``, any case. Read without a
regular expression: ``re`` is ~3 ms of the start of every container with a tmpfs size (an OCI ``/run``)."""
from __future__ import annotations

from nsrun import ConfigError

__all__ = ["parse_size"]

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _split(text: str) -> tuple[str, str] | None:
    """(number, unit) of ``text``, or None when it is not ``NUMBER[ ][kmgtp][i][b]``."""
    rest = text.lower()
    rest = rest[:-1] if rest.endswith("b") else rest
    rest = rest[:-1] if rest.endswith("i") else rest
    unit = rest[-1] if rest and rest[-1] in "kmgtp" else ""
    rest = rest[:len(rest) - len(unit)]
    rest = rest[:-1] if rest.endswith(" ") else rest
    whole, dot, frac = rest.partition(".")
    if not (whole.isdecimal() and whole.isascii()) or (dot and not (frac.isdecimal() and frac.isascii())):
        return None
    return rest, unit


def parse_size(text: str, flag: str) -> int:
    """Bytes, > 0; ConfigError naming ``flag`` otherwise."""
    parts = _split(text.strip())
    if parts is None:
        raise ConfigError(f"invalid {flag} {text!r}: expected a size such as 64m or 1g")
    size = int(float(parts[0]) * _UNITS[parts[1]])
    if size <= 0:
        raise ConfigError(f"invalid {flag} {text!r}: must be greater than 0")
    return size
