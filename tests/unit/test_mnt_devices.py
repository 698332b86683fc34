"""Parsing ``--device HOST[:CTR[:PERMS]]`` (pure) and the host-node check (against real files only)."""
from __future__ import annotations

import pytest

from nsrun import ConfigError
from nsrun_ns_mnt.devices import Device, check_device, parse_device


@pytest.mark.parametrize("text, device", [
    ("/dev/fuse", Device("/dev/fuse", "/dev/fuse")),
    ("/dev/loop3:/dev/xdisk", Device("/dev/loop3", "/dev/xdisk")),
    ("/dev/loop3:/dev/xdisk:rw", Device("/dev/loop3", "/dev/xdisk")),
    ("/dev/loop3:/dev/xdisk:wr", Device("/dev/loop3", "/dev/xdisk")),
    ("/dev/loop3::rw", Device("/dev/loop3", "/dev/loop3")),
    ("/dev/loop3:rw", Device("/dev/loop3", "/dev/loop3")),  # Docker's HOST:PERMS shorthand
    ("/dev//fuse:/dev/x/../fuse2", Device("/dev/fuse", "/dev/fuse2")),
])
def test_accepted(text, device):
    assert parse_device(text) == device


@pytest.mark.parametrize("text, words", [
    ("", "expected HOST"),
    (":/dev/x", "expected HOST"),
    ("/a:/b:rw:x", "expected HOST"),
    ("dev/fuse", "host path must be absolute"),
    ("/dev/fuse:fuse:rw", "container path must be absolute"),
    ("/dev/fuse:/", "cannot bind a device over /"),
    ("/dev/fuse:/dev", "cannot bind a device over /dev"),
    ("/dev/fuse:/dev/fuse:rx", "combination of r, w and m"),
    ("/dev/fuse:/dev/fuse:rrw", "combination of r, w and m"),
    ("/dev/fuse:/dev/fuse:m", "permissions 'm' are not supported"),
    ("/dev/fuse:/dev/fuse:rm", "permissions 'rm' are not supported"),
    ("/dev/fuse:/dev/fuse:r", "permissions 'r' are not supported"),
    ("/dev/fuse:/dev/fuse:w", "permissions 'w' are not supported"),
])
def test_refused_by_name(text, words):
    with pytest.raises(ConfigError) as excinfo:
        parse_device(text)
    assert words in str(excinfo.value)


def test_dockers_default_rwm_is_rw_and_the_api_entries_map_both_ways():
    from nsrun_ns_mnt.devices import from_docker, to_docker
    assert parse_device("/dev/fuse:/dev/f:rwm").target == "/dev/f"
    text = from_docker({"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/f", "CgroupPermissions": "rwm"})
    assert text == "/dev/fuse:/dev/f:rwm" and parse_device(text).host == "/dev/fuse"
    assert to_docker(text) == {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/f", "CgroupPermissions": "rwm"}
    with pytest.raises(ConfigError, match="PathOnHost"):
        from_docker({"PathInContainer": "/dev/f"})


def test_the_host_node_must_be_a_device(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to("/dev/null")
    with pytest.raises(ConfigError, match="No such file"):
        check_device(Device(str(tmp_path / "missing"), "/dev/x"))
    with pytest.raises(ConfigError, match="not a device node"):
        check_device(Device(str(tmp_path / "file"), "/dev/x"))
    with pytest.raises(ConfigError, match="not a device node"):
        check_device(Device(str(tmp_path), "/dev/x"))
    assert check_device(Device(str(tmp_path / "link"), "/dev/x")) == Device("/dev/null", "/dev/x")  # followed
