"""Detach keys parsed as moby's term.ToBytes and watched as its EscapeProxy (``_detachkeys``)."""
import pytest

from nsrun._detachkeys import Escape, parse_detach_keys
from nsrun.errors import ConfigError


def test_parse_as_docker():
    assert parse_detach_keys(None) == parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-x,x") == b"\x18x"
    assert parse_detach_keys("ctrl-@,ctrl-_,DEL,a") == b"\x00\x1f\x7fa"
    for bad in ("ctrl-", "ctrl-P", "alt-x", "ctrl-x,,x", "xy"):
        with pytest.raises(ConfigError, match=r"Invalid detach keys \(.*\) provided"):
            parse_detach_keys(bad)


def test_escape_holds_a_prefix_and_passes_it_when_it_does_not_complete():
    esc = Escape(b"\x10\x11")
    assert esc.feed(b"ab\x10") == (b"ab", False)
    assert esc.feed(b"c") == (b"\x10c", False)
    assert esc.feed(b"\x10\x10") == (b"\x10", False)
    assert esc.feed(b"\x11rest") == (b"", True)
    one = Escape(b"q")
    assert one.feed(b"abq") == (b"ab", True)
