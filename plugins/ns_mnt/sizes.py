"""Docker's size strings (``--shm-size 64m``): a number with an optional binary unit (b, k, m, g, t, p; ``kb``,
``KiB`` alike), as Docker's ``units.RAMInBytes`` reads them."""
from __future__ import annotations

import re

from nsrun import ConfigError

__all__ = ["parse_size"]

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str, flag: str) -> int:
    """Bytes, > 0; ConfigError naming ``flag`` otherwise."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ConfigError(f"invalid {flag} {text!r}: expected a size such as 64m or 1g")
    size = int(float(m.group(1)) * _UNITS[m.group(2).lower() if m.group(2) else None])
    if size <= 0:
        raise ConfigError(f"invalid {flag} {text!r}: must be greater than 0")
    return size
