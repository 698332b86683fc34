"""The light entry of nsrun-oci: which lines it takes (the rest goes to argparse's ``cli``), what it imports, and
``_jsonlite`` against ``json``."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nsrun import _jsonlite
from nsrun.oci import _entry


@pytest.mark.parametrize("argv, parsed", [
    (["state", "c1"], ({}, "state", {}, ["c1"])),
    (["--root", "/r", "--log=/l", "-log-format", "json", "start", "c1"],
     ({"root": "/r", "log": "/l", "log_format": "json"}, "start", {}, ["c1"])),
    (["--cgroup-manager", "disabled", "create", "--bundle", "/b", "-pid-file=/p", "c1"],
     ({"cgroup_manager": "disabled"}, "create", {"bundle": "/b", "pid_file": "/p"}, ["c1"])),
    (["kill", "-a", "c1", "KILL"], ({}, "kill", {"all": True}, ["c1", "KILL"])),
    (["delete", "c1", "--force"], ({}, "delete", {"force": True}, ["c1"])),
    (["list", "-q", "-f", "json"], ({}, "list", {"quiet": True, "format": "json"}, [])),
    (["--version"], ({}, "version", {}, [])),
])
def test_the_lines_it_takes(argv, parsed):
    assert _entry.parse(argv) == parsed


@pytest.mark.parametrize("argv", [
    [], ["features"], ["exec", "c1", "true"], ["--debug", "state", "c1"], ["--systemd-cgroup", "start", "c1"],
    ["--cgroup-manager", "systemd", "create", "c1"], ["--rootless", "true", "state", "c1"], ["state"],
    ["state", "a", "b"], ["state", "--help"], ["delete", "--force=true", "c1"], ["kill", "c1", "-9"],
    ["list", "-f", "yaml"], ["--root"], ["--root", "--log", "state", "c1"], ["create", "--preserve-fds", "1", "c1"],
    ["start", "--root", "/r", "c1"], ["--version", "state", "c1"], ["bogus"],
])
def test_every_other_line_goes_to_the_full_parser(argv):
    assert _entry.parse(argv) is None


def test_the_light_verbs_import_no_json_typing_argparse_or_pluggy():
    code = ("import sys; from nsrun.oci import _entry, _light, _report; from nsrun import _parse; "
            "print(sorted(m for m in ('json', 're', 'typing', 'argparse', 'pluggy', 'nsrun._state', "
            "'nsrun._context', 'nsrun.oci.cli', 'nsrun.oci.runtime') if m in sys.modules))")
    site = os.path.dirname(os.path.dirname(_jsonlite.__file__))
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({site!r}); {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _force_delete(root, name):
    """``delete --force NAME`` in a fresh interpreter: its exit status and whether it went past the name check."""
    code = (f"import sys; from nsrun.oci import _entry; rc = _entry.main(['--root', {root!r}, 'delete', '--force', "
            f"{name!r}]); print(rc, 'nsrun.oci._light' in sys.modules)")
    site = os.path.dirname(os.path.dirname(_jsonlite.__file__))
    return subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({site!r}); {code}"],
                          capture_output=True, text=True, check=True).stdout.split()


def test_the_shims_second_delete_stops_at_the_name(tmp_path):
    root = str(tmp_path)
    names = os.path.join(root, "containers", ".names")
    os.makedirs(os.path.join(root, "containers", "a" * 64))
    os.makedirs(names)
    os.symlink("a" * 64, os.path.join(names, "held"))  # a record without config.json: find() says missing
    os.symlink("b" * 64, os.path.join(names, "dangling"))  # a crash between create's two steps
    assert _force_delete(root, "gone") == ["0", "False"]
    assert _force_delete(root, "dangling") == ["0", "False"]
    assert _force_delete(root, "../x") == ["0", "False"]
    assert _force_delete(str(tmp_path / "no-root-yet"), "c1") == ["0", "False"]
    assert _force_delete(root, "held") == ["0", "True"]  # a name some record holds: the full path decides


@pytest.mark.parametrize("value", [
    {"ociVersion": "1.0.2", "id": "c", "pid": 0, "annotations": {}, "list": [], "nested": {"a": [1, {"b": None}]}},
    {"s": "é\"\n\t\u2028", "f": 1.5, "t": True, "n": None, "big": 2 ** 70, "neg": -3}, [], {}, "x", [1, [2, [3]]],
])
def test_jsonlite_writes_what_json_writes_and_reads_what_it_reads(value):
    for indent in (None, 1, 2):
        assert _jsonlite.dumps(value, indent) == json.dumps(value, indent=indent)
    text = json.dumps(value, indent=1)
    assert _jsonlite.loads(" \n" + text + "\n") == json.loads(text) == _jsonlite.loads(text.encode())


def test_jsonlite_quoted_is_json_without_ascii_escapes():
    for text in ("plain", 'a"b\\c', "é…\u2028", "tab\tline\n\x01"):
        assert _jsonlite.quoted(text) == json.dumps(text, ensure_ascii=False)


def test_jsonlite_errors_are_jsons_in_a_process_that_never_imported_json():
    code = ("import sys; from nsrun import _jsonlite\n"
            "try:\n    _jsonlite.loads('{not json')\nexcept ValueError as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("JSONDecodeError Expecting property name"), out


def test_jsonlite_errors_are_jsons():
    for bad in ("", "{", "{}x", "[1,]"):
        with pytest.raises(json.JSONDecodeError):
            _jsonlite.loads(bad)
    with pytest.raises(TypeError, match="not JSON serializable"):
        _jsonlite.dumps({"a": object()})
    assert _jsonlite.dumps({1: float("nan")}, 2) == json.dumps({1: float("nan")}, indent=2)  # handed to json
