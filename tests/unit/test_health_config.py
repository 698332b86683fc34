"""Health check configs (``nsrun._health``): Go durations, the --health-* options, the merge with an image's
HEALTHCHECK, Docker's limits."""
from __future__ import annotations

import pytest

from nsrun._health import active, from_options, merge, parse_duration
from nsrun._imageconfig import apply
from nsrun.errors import ConfigError


def test_durations():
    assert parse_duration("30s", "x") == 30_000_000_000 and parse_duration("1m30s", "x") == 90_000_000_000
    assert parse_duration("500ms", "x") == 500_000_000 and parse_duration("0", "x") == 0
    for bad in ("30", "1x", "s", "1s2"):
        with pytest.raises(ConfigError, match="duration"):
            parse_duration(bad, "x")


def test_options_and_merge():
    user = from_options("curl -f localhost", "2s", None, "4", None, False)
    assert user == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 2_000_000_000, "Retries": 4}
    image = {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Timeout": 1_000_000_000}
    assert merge(image, {"Interval": 1_000_000_000}) == {**image, "Interval": 1_000_000_000}
    assert merge(image, from_options(None, None, None, None, None, True))["Test"] == ["NONE"]
    assert not active(merge(image, {"Test": ["NONE"]})) and active(image) and not active(None)
    assert from_options(None, None, None, None, None, False) is None
    assert apply({"Cmd": ["sh"], "Healthcheck": image}, cmd=[]).config["Healthcheck"] == image


@pytest.mark.parametrize("config, words", [({"Interval": 10}, "less than 1ms"), ({"Timeout": -1}, "less than 1ms"),
                                           ({"Retries": -1}, "negative"), ({"Test": ["CMD"]}, "Healthcheck.Test"),
                                           ({"Test": ["RUN", "x"]}, "Healthcheck.Test"),
                                           ({"StartInterval": 1_000_000_000}, "StartInterval")])
def test_docker_limits(config, words):
    with pytest.raises(ConfigError, match=words):
        merge(None, config)
    with pytest.raises(ConfigError, match="conflicts"):
        from_options("true", None, None, None, None, True)
