"""The click-free parser for `nsrun exec` agrees with click on what it accepts and leaves the rest to click;
the exec stub's ELF and failure report are well-formed."""
from __future__ import annotations

import struct

import pytest

from nsrun import _engine, _entry, _execstub, cli


def _capture(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []

    def fake(self, ref, argv, **opts):
        calls.append((self.paths.root, ref, list(argv), opts))
        return 0
    monkeypatch.setattr(_engine.Engine, "exec", fake)
    return calls


SAMPLES = [
    ["exec", "web", "true"],
    ["--root", "/tmp/nsr-x", "exec", "-it", "web", "sh", "-c", "echo -i --tty"],
    ["--root=/tmp/nsr-x", "exec", "-e", "A=1", "--env=B=2", "-w", "/tmp", "-u", "1:2", "web", "run", "-x"],
    ["exec", "-i", "web", "exec", "true"],
]


@pytest.mark.parametrize("argv", SAMPLES)
def test_fast_exec_agrees_with_click(monkeypatch, argv):
    calls = _capture(monkeypatch)
    with pytest.raises(SystemExit):
        cli.main(list(argv))
    schema = _entry.schema()
    glob, opts = _entry.parse_exec(list(argv), schema)
    _entry._fast_exec(glob, opts)
    assert calls[0] == calls[1]


@pytest.mark.parametrize("argv", [
    ["exec", "--help"], ["exec", "web"], ["exec"], ["exec", "--bogus", "web", "true"], ["exec", "-e"],
    ["run", "busybox"],
])
def test_everything_else_goes_to_click(argv):
    schema = _entry.schema()
    assert _entry.parse_exec(list(argv), schema) is None


def test_the_stub_is_one_executable_segment_that_starts_at_its_code():
    stub = _execstub.STUB
    assert stub[:4] == b"\x7fELF" and stub[4] == 2 and stub[5] == 1  # ELF64, little-endian
    e_type, e_machine, _v, entry, phoff = struct.unpack_from("<HHIQQ", stub, 16)
    assert (e_type, e_machine, phoff) == (2, 62, 64)  # ET_EXEC, x86-64
    p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz = struct.unpack_from("<IIQQQQQ", stub, 64)
    assert (p_type, p_flags, p_offset) == (1, 5, 0) and p_filesz == p_memsz == len(stub)
    assert entry == p_vaddr + 64 + 56


def test_failure_reports_decode_and_json_errors_do_not():
    assert _execstub.decode_failure(b"EXEC" + (2).to_bytes(4, "little")) == 2
    assert _execstub.decode_failure(b'{"stage": "exec"}') is None
    assert _execstub.decode_failure(b"EXEC") is None
