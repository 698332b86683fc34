"""The click-free parser for `nsrun exec` agrees with click on what it accepts and leaves the rest to click;
the exec stub's ELF and failure report are well-formed."""
from __future__ import annotations

import os
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


# -- the supervisor's exec protocol (_execwire), the resolver it uses (_resolve), the client's imports --------

def test_an_exec_request_round_trips_and_a_bad_one_is_refused():
    from nsrun._execwire import decode_request, encode_request
    wire = encode_request(["sh", "-c", "echo é"], ["A=1", "B"], tty=True, interactive=False, workdir="/w",
                          user="1:2")
    head, _, body = wire.partition(b"\n")
    assert int(head) == len(body)
    assert decode_request(body) == {"argv": ["sh", "-c", "echo é"], "env": ["A=1", "B"], "tty": True,
                                    "interactive": False, "workdir": "/w", "user": "1:2"}
    plain = decode_request(encode_request(["true"], [], tty=False, interactive=False, workdir=None,
                                          user=None).partition(b"\n")[2])
    assert (plain["workdir"], plain["user"], plain["env"]) == (None, None, [])
    with pytest.raises(ValueError):
        encode_request(["a\0b"], [], tty=False, interactive=False, workdir=None, user=None)
    for junk in (b"", b"other/1\x000\x000\x00\x00\x000\x00true", b"nsrun-exec/1\x000\x000\x00\x00\x005\x00A=1"):
        with pytest.raises(ValueError):
            decode_request(junk)


def test_references_resolve_as_docker_resolves_them(tmp_path):
    from nsrun import ConfigError
    from nsrun._resolve import candidates, valid_name
    a, b = "ab" + "0" * 62, "ac" + "0" * 62
    for cid in (a, b):
        (tmp_path / cid).mkdir()
    (tmp_path / ".names").mkdir()
    os.symlink(b, tmp_path / ".names" / "web")
    os.symlink("f" * 64, tmp_path / ".names" / "stale")  # its directory is gone: not a name any more
    containers = str(tmp_path)
    assert list(candidates(containers, "web")) == [b]
    assert list(candidates(containers, a)) == [a]
    assert list(candidates(containers, "ab")) == [a]
    assert list(candidates(containers, "stale")) == [] and list(candidates(containers, "")) == []
    with pytest.raises(ConfigError, match="multiple IDs found with provided prefix: a"):
        list(candidates(containers, "a"))
    assert next(candidates(containers, "web")) == b  # the name wins before any prefix scan
    assert [valid_name(n) for n in ("web-1.a_b", "-x", "", "a b", "a\n")] == [True, False, False, False, False]


def test_the_exec_client_imports_no_pluggy_typing_or_ctypes():
    """Its cost is the interpreter's start: the client path loads nsrun's os-only modules and C modules."""
    import subprocess
    import sys
    import sysconfig
    code = ("import sys; sys.path.append(%r); from nsrun import _entry, _execclient, _options, _resolve, "
            "_execwire, _signals, _trace, _deferred; print(' '.join(sorted(sys.modules)))"
            % sysconfig.get_paths()["purelib"])
    loaded = set(subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert not loaded & {"pluggy", "typing", "ctypes", "json", "re", "inspect", "collections", "click"}, loaded


def test_trace_phases_add_up_and_cost_nothing_when_off(monkeypatch):
    from nsrun import _trace
    monkeypatch.setattr(_trace, "_marks", [])
    monkeypatch.setattr(_trace, "enabled", False)
    with _trace.phase("off"):
        pass
    assert _trace._marks == []
    monkeypatch.setattr(_trace, "enabled", True)
    with _trace.phase("outer"):
        with _trace.phase("inner"):
            pass
    names = [n for n, _ in _trace._marks]
    assert names == ["inner", "outer"] and all(v >= 0 for _, v in _trace._marks)
