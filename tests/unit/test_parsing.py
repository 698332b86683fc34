"""Pure parsing and validation: -e, -u, signals, volumes, hostnames, /etc files, image references."""

import pytest

from nsrun import ConfigError
from nsrun._parse import parse_env, parse_signal, parse_user
from nsrun._images import normalize
from nsrun_ns_ipc_uts_user.uts import valid_hostname
from nsrun_ns_ipc_uts_user.user import parse_range, subid_range
from nsrun_ns_mnt.etcfiles import hosts_file, resolv_conf
from nsrun_ns_mnt.volumes import parse_volume


def test_env_accepts_docker_forms(monkeypatch):
    monkeypatch.setenv("FROM_HOST", "x")
    monkeypatch.delenv("NOT_SET", raising=False)
    assert parse_env(["A=1", "B=", "C=a=b", "FROM_HOST", "NOT_SET"]) == {"A": "1", "B": "", "C": "a=b",
                                                                           "FROM_HOST": "x"}


@pytest.mark.parametrize("bad", ["=x", "", "A B=1"])
def test_env_rejects_bad_keys(bad):
    with pytest.raises(ConfigError, match="invalid environment variable"):
        parse_env([bad])


def test_signals():
    assert parse_signal("KILL") == 9 and parse_signal("SIGTERM") == 15 and parse_signal("2") == 2
    with pytest.raises(ConfigError):
        parse_signal("NOPE")


def test_user_numeric_and_named(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:33:44::/:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nwww:x:55:\n")
    assert parse_user("1000:1001", str(tmp_path)) == (1000, 1001)
    assert parse_user("1000", str(tmp_path)) == (1000, 1000)
    assert parse_user("web", str(tmp_path)) == (33, 44)
    assert parse_user("web:www", str(tmp_path)) == (33, 55)
    with pytest.raises(ConfigError, match="unable to find user"):
        parse_user("ghost", str(tmp_path))


def test_user_names_are_read_inside_the_image_not_through_its_links(tmp_path):
    decoy = tmp_path / "decoy"            # stands for a host directory an image's /etc points at
    decoy.mkdir()
    (decoy / "passwd").write_text("web:x:33:44::/:/bin/sh\n")
    image = tmp_path / "image"
    image.mkdir()
    (image / "etc").symlink_to(decoy)     # absolute: resolved inside the image it leads nowhere
    with pytest.raises(ConfigError, match="unable to find user web"):
        parse_user("web", str(image))


def test_volume_forms(tmp_path):
    vol = parse_volume(f"{tmp_path}:/data:ro")
    assert (vol.source, vol.target, vol.readonly) == (str(tmp_path), "/data", True)
    assert not parse_volume(f"{tmp_path}:/data").readonly


@pytest.mark.parametrize("spec, words", [
    ("bad name:/x", "not a valid volume name"), ("/tmp:rel", "container path must be absolute"),
    ("/tmp:/x:rw:x", "expected"), ("/tmp:/x:xx", "mode must be"), ("/nonexistent-nsrun:/x", "does not exist"),
    ("/tmp:/", "cannot mount over"), ("rel", "expected"), ("/tmp:/x:nocopy", "mode must be"),
    ("data:/x:z", "not supported"), ("x:/y", "not a valid volume name"),
])
def test_volume_errors_are_one_line(spec, words):
    with pytest.raises(ConfigError, match=words) as excinfo:
        parse_volume(spec)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("name, ok", [("box", True), ("a-b.c", True), ("x" * 63, True), ("x" * 64, False),
                                      ("bad_host", False), ("-a", False), ("a..b", False), ("", False)])
def test_hostnames(name, ok):
    assert valid_hostname(name) is ok


def test_userns_range(tmp_path):
    assert parse_range("200000:65536") == (200000, 65536)
    with pytest.raises(ConfigError):
        parse_range("0:10")
    sub = tmp_path / "subuid"
    sub.write_text("alice:100000:65536\nnsrun:300000:1000\n")
    assert subid_range(str(sub)) == (300000, 1000)
    assert subid_range(str(tmp_path / "missing")) is None


def test_etc_files():
    assert hosts_file([("127.0.0.1", "localhost")]) == "127.0.0.1\tlocalhost\n"
    text = resolv_conf("nameserver 127.0.0.53\nsearch example\n")
    assert "127.0.0.53" not in text and "search example" in text and "nameserver" in text
    assert resolv_conf("nameserver 192.0.2.1\n") == "nameserver 192.0.2.1\n"


def test_image_references():
    assert normalize("busybox:latest") == "busybox"
    assert normalize("my/img:1.0") == "my/img:1.0"
    for bad in ("Bad", "", "a b", "../x"):
        with pytest.raises(ConfigError):
            normalize(bad)


def test_unknown_group_is_refused(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("web:x:33:44::/:/bin/sh\n")
    (tmp_path / "etc/group").write_text("www:x:55:\n")
    with pytest.raises(ConfigError, match="unable to find group"):
        parse_user("web:nogroup", str(tmp_path))


def test_restart_policies():
    from nsrun._parse import parse_restart
    from nsrun._supervisor import should_restart
    assert parse_restart("no") == parse_restart("") == ("", 0)
    assert parse_restart("on-failure:5") == ("on-failure", 5) and parse_restart("always") == ("always", 0)
    for bad, words in (("sometimes", "invalid restart policy"), ("on-failure:x", "must be a number"),
                       ("on-failure:-1", "must be a number"), ("always:3", "only for on-failure")):
        with pytest.raises(ConfigError, match=words):
            parse_restart(bad)
    assert should_restart("always", 0, 99, {}) and should_restart("unless-stopped", 0, 0, {})
    assert should_restart("on-failure", 1, 50, {}) and not should_restart("on-failure", 0, 0, {})
    assert should_restart("on-failure:2", 3, 1, {}) and not should_restart("on-failure:2", 3, 2, {})
    assert not should_restart("always", 1, 0, {"manual_stop": True}) and not should_restart("", 1, 0, {})


def test_log_times_and_records(tmp_path):
    import io
    from nsrun._frames import frame, log_record, read_log, stamp
    from nsrun._parse import parse_log_time
    assert parse_log_time("1700000000.5", 0) == 1700000000.5
    assert parse_log_time("10m", 1000.0) == 400.0 and parse_log_time("1h30s", 4000.0) == 370.0
    assert parse_log_time("2026-11-29T00:00:00Z", 0) == parse_log_time("2026-11-29", 0)
    with pytest.raises(ConfigError, match="invalid value for --since"):
        parse_log_time("soon", 0)
    assert stamp(1_700_000_000_000_000_007) == b"2023-11-14T22:13:20.000000007Z "
    raw = log_record(1, b"a\n", 5) + frame(2, b"old\n") + log_record(2, b"b\n", 7)
    f = io.BytesIO(raw[:-3])                          # the last record still being written
    assert list(read_log(f, times=True)) == [(1, b"a\n", 5), (2, b"old\n", 0)]
    f = io.BytesIO(raw[:-1 - len(b"b\n") - 8])        # its time written, not its frame: read again later
    assert list(read_log(f)) == [(1, b"a\n"), (2, b"old\n")]
    pos = f.tell()
    assert raw[pos:pos + 1] == b"\x10"
