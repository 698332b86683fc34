"""Docker's detach keys: ``ctrl-p,ctrl-q`` by default, ``--detach-keys``/``detachKeys`` as the docker CLI and
dockerd parse them (moby's ``term.ToBytes``): comma-separated keys, each one character (``x``), ``ctrl-@``,
``ctrl-a`` ... ``ctrl-z``, ``ctrl-[``, ``ctrl-\\``, ``ctrl-]``, ``ctrl-^``, ``ctrl-_``, or ``DEL``.

``Escape`` watches what a client types for the sequence, as moby's ``EscapeProxy`` does: bytes that could
begin it are held back; when it completes the client detaches (the held bytes are dropped), when it does not
they go through after all.
"""
from __future__ import annotations

from .errors import ConfigError

__all__ = ["DEFAULT_DETACH_KEYS", "parse_detach_keys", "Escape"]

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse_detach_keys(text: str | None) -> bytes:
    """The byte sequence of ``text`` (empty or None: the default); ConfigError naming the bad key."""
    codes = bytearray()
    for key in (text or DEFAULT_DETACH_KEYS).split(","):
        if len(key) == 1:
            codes += key.encode("latin-1", "replace")[:1]
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL:
            codes.append(_CTRL.index(key[5]))
        elif key == "DEL":
            codes.append(127)
        else:
            raise ConfigError(f"Invalid detach keys ({text}) provided: unknown character: '{key}'")
    return bytes(codes)


class Escape:
    """``feed(data) -> (bytes to pass on, detached)``; once detached, the rest of ``data`` is dropped."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.pos = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.pos]:
                self.pos += 1
                if self.pos == len(self.keys):
                    self.pos = 0
                    return bytes(out), True
                continue
            out += self.keys[:self.pos]
            self.pos = 0
            if byte == self.keys[0]:
                self.pos = 1
                if len(self.keys) == 1:
                    return bytes(out), True
            else:
                out.append(byte)
        return bytes(out), False
