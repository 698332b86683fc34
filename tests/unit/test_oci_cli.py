"""nsrun-oci's command line without containers: runc's spellings, the exec process and update resources built
from flags, spec, features, errors as one line (and a JSON line in --log)."""
from __future__ import annotations

import argparse
import json
import os

import pytest

from nsrun.errors import ConfigError
from nsrun.oci import cli
from nsrun.oci.runtime import Runtime, rfc3339


def test_go_style_single_dash_options_are_long_options():
    assert cli._normalise(["-root", "/r", "--log-format=json", "create", "-bundle=/b", "-pid-file", "p", "x"]) == \
        ["--root", "/r", "--log-format=json", "create", "--bundle=/b", "--pid-file", "p", "x"]
    assert cli._normalise(["kill", "x", "-9"]) == ["kill", "x", "-9"]  # not an option of ours: left alone


def _parse(*argv: str) -> argparse.Namespace:
    return cli._parser().parse_args(cli._normalise(list(argv)))


def test_exec_process_from_the_command_and_flags():
    args = _parse("exec", "--cwd", "/tmp", "-e", "A=1", "--user", "1000:100", "-g", "20", "-t", "c1", "sh", "-c", "x")
    assert cli._process(args) == {"args": ["sh", "-c", "x"], "cwd": "/tmp", "terminal": True, "env": ["A=1"],
                                  "user": {"uid": 1000, "gid": 100, "additionalGids": [20]}}
    with pytest.raises(ConfigError, match="required"):
        cli._process(_parse("exec", "c1"))
    with pytest.raises(ConfigError, match="UID"):
        cli._process(_parse("exec", "--user", "bob", "c1", "true"))


def test_exec_process_file_and_its_errors(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"args": ["true"], "cwd": "/"}))
    assert cli._process(_parse("exec", "--process", str(path), "c1")) == {"args": ["true"], "cwd": "/"}
    path.write_text("{nope")
    with pytest.raises(ConfigError, match="malformed JSON"):
        cli._process(_parse("exec", "--process", str(path), "c1"))
    with pytest.raises(ConfigError, match="not both"):
        cli._process(_parse("exec", "--process", str(path), "c1", "true"))


def test_update_flags_become_linux_resources(tmp_path):
    args = _parse("update", "--memory", "67108864", "--pids-limit", "50", "--cpuset-cpus", "0", "c1")
    assert cli._resources(args) == {"memory": {"limit": 67108864}, "pids": {"limit": 50}, "cpu": {"cpus": "0"}}
    with pytest.raises(ConfigError, match="required"):
        cli._resources(_parse("update", "c1"))
    with pytest.raises(ConfigError, match="not a number"):
        cli._resources(_parse("update", "--memory", "64m", "c1"))
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"pids": {"limit": 9}}))
    assert cli._resources(_parse("update", "--resources", str(res), "c1")) == {"pids": {"limit": 9}}


def test_spec_writes_runc_default_once(tmp_path, capsys):
    assert cli.main(["spec", "--bundle", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    assert cli.main(["spec", "--bundle", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "nsrun-oci: File config.json exists. Remove it first\n"


def test_errors_are_one_line_and_a_json_log_line(tmp_path, capsys):
    log = tmp_path / "log.json"
    code = cli.main(["--root", str(tmp_path / "root"), "--log", str(log), "--log-format", "json", "state", "nope"])
    assert code == 1
    assert capsys.readouterr().err == "nsrun-oci: container nope does not exist\n"
    entry = json.loads(log.read_text())
    assert entry["level"] == "error" and entry["msg"] == "container nope does not exist" and entry["time"]
    assert cli.main(["--systemd-cgroup", "state", "x"]) == 1
    assert "--systemd-cgroup is not supported" in capsys.readouterr().err
    assert cli.main(["bogus"]) == 1 and capsys.readouterr().err.count("\n") == 1


def test_features_and_version(capsys):
    assert cli.main(["features"]) == 0
    features = json.loads(capsys.readouterr().out)
    assert "network" in features["linux"]["namespaces"] and "CAP_KILL" in features["linux"]["capabilities"]
    assert cli.main(["--version"]) == 0 and capsys.readouterr().out.startswith("nsrun-oci version ")


def test_list_of_an_empty_root_and_rfc3339(tmp_path, capsys):
    assert Runtime(str(tmp_path)).list() == []
    assert cli.main(["--root", str(tmp_path), "list", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500000000Z"
    assert not os.path.exists(tmp_path / "containers" / "x")
