"""The json-file driver's options and rotation (``_logfile``): real files in a temp dir, no container."""
import os

import pytest

from nsrun._frames import STDOUT, log_record
from nsrun._logfile import LogReader, RotatingLog, log_files, parse_log_opts, parse_size
from nsrun.errors import ConfigError


def test_sizes_are_decimal_as_dockerd_reads_them():
    assert parse_size("1k") == 1000 and parse_size("10m") == 10_000_000 and parse_size("1.5MB") == 1_500_000
    assert parse_size("5000") == 5000
    for bad in ("", "0", "-1k", "10x", "k"):
        with pytest.raises(ConfigError, match="max-size"):
            parse_size(bad)


def test_options_are_checked_by_name():
    assert parse_log_opts(["max-size=1k", "max-file=3"]) == {"max-size": "1k", "max-file": "3"}
    with pytest.raises(ConfigError, match="unknown log opt 'compress'"):
        parse_log_opts(["compress=true"])
    with pytest.raises(ConfigError, match="max-file can only be used together with max-size"):
        parse_log_opts({"max-file": "3"})
    with pytest.raises(ConfigError, match="less than 1"):
        parse_log_opts({"max-size": "1k", "max-file": "0"})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_log_opts(["max-size"])
    assert parse_log_opts({"max-file": "1"}) == {"max-file": "1"}


def _write(log, i):
    log.write(log_record(STDOUT, b"line %03d %s\n" % (i, b"x" * 80), 1_000 + i))


def test_rotation_keeps_max_file_files_and_the_reader_follows_across(tmp_path):
    path = str(tmp_path / "container.log")
    reader = LogReader(path)
    got = []
    with RotatingLog(path, {"max-size": "1k", "max-file": "3"}) as log:
        for i in range(40):
            _write(log, i)
            if i % 7 == 0:          # a follower reading now and then sees every record once, in order
                got += [d for _, d in reader.records()]
    got += [d for _, d in reader.records()]
    reader.close()
    assert log_files(path) == [path + ".2", path + ".1", path]
    assert not os.path.exists(path + ".3")
    assert all(os.path.getsize(p) < 1200 for p in log_files(path))
    assert [int(d.split()[1]) for d in got] == list(range(40))
    fresh = LogReader(path)
    kept = [int(d.split()[1]) for _, d in fresh.records()]
    fresh.close()
    assert kept == list(range(kept[0], 40)) and kept[0] > 0  # the oldest went, the rest in order


def test_a_follower_keeps_up_when_two_rotations_pass_between_reads(tmp_path):
    path = str(tmp_path / "container.log")
    with RotatingLog(path, {"max-size": "1k", "max-file": "4"}) as log:
        reader = LogReader(path, from_end=True)
        for i in range(25):             # ~2.5 files written before the follower looks
            _write(log, i)
        got = [int(d.split()[1]) for _, d in reader.records()]
        reader.close()
    assert got == list(range(25))


def test_max_file_1_empties_the_file(tmp_path):
    path = str(tmp_path / "container.log")
    with RotatingLog(path, {"max-size": "1k", "max-file": "1"}) as log:
        for i in range(25):
            _write(log, i)
    assert log_files(path) == [path] and os.path.getsize(path) < 1200


def test_without_max_size_nothing_rotates(tmp_path):
    path = str(tmp_path / "container.log")
    with RotatingLog(path, {}) as log:
        for i in range(30):
            _write(log, i)
    assert log_files(path) == [path]
