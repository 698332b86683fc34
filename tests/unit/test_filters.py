"""Docker's container list filters (``nsrun._filters``): the clients' forms, Docker's matching rules, bad keys."""
from __future__ import annotations

import pytest

from nsrun._filters import container_matches, filter_items, parse_filters
from nsrun.errors import ConfigError

VIEW = {"Id": "abc123" + "0" * 58, "Name": "/web-1", "Image": "busybox", "State": {"Status": "exited", "ExitCode": 3},
        "Config": {"Labels": {"com.docker.compose.project": "demo", "tier": ""}},
        "HostConfig": {"NetworkMode": "demo_default"},
        "NetworkSettings": {"Networks": {"demo_default": {"NetworkID": "f00dbeef" * 8}}},
        "Mounts": [{"Type": "volume", "Name": "demo_data", "Destination": "/data", "Source": "/x/_data"}]}


def test_the_forms_both_clients_send():
    assert parse_filters('{"label": {"a=b": true, "c": false}}') == {"label": ["a=b"]}  # the docker CLI
    assert parse_filters({"label": ["a=b"], "name": "web"}) == {"label": ["a=b"], "name": ["web"]}  # docker-py
    assert parse_filters(None) == parse_filters("") == {}
    assert filter_items(["label=a=b", "status=running", "status=exited"]) == \
        {"label": ["a=b"], "status": ["running", "exited"]}


@pytest.mark.parametrize("filters, expected", [
    ({"label": ["com.docker.compose.project=demo"]}, True), ({"label": ["tier"]}, True),
    ({"label": ["tier", "missing"]}, False), ({"label": ["com.docker.compose.project=other"]}, False),
    ({"name": ["web"]}, True), ({"name": ["^web-1$"]}, True), ({"name": ["db", "web"]}, True), ({"name": ["db"]}, False),
    ({"id": ["abc1"]}, True), ({"id": ["abd"]}, False), ({"status": ["running", "exited"]}, True),
    ({"status": ["running"]}, False), ({"ancestor": ["busybox:latest"]}, True),
    ({"ancestor": ["docker.io/library/busybox"]}, True), ({"ancestor": ["alpine"]}, False),
    ({"network": ["demo_default"]}, True), ({"network": ["f00dbeef"]}, True), ({"network": ["other"]}, False),
    ({"volume": ["demo_data"]}, True), ({"volume": ["/data"]}, True), ({"volume": ["x"]}, False),
    ({"exited": ["3"]}, True), ({"exited": ["0"]}, False), ({"name": ["web"], "status": ["running"]}, False)])
def test_matching_as_dockerd(filters, expected):
    assert container_matches(VIEW, filters) is expected


@pytest.mark.parametrize("raw, message", [({"colour": ["x"]}, "invalid filter 'colour'"),
                                          ({"status": ["sleeping"]}, "status=sleeping"),
                                          ({"exited": ["x"]}, "exited=x"), ({"name": ["("]}, "name=("),
                                          ("{not json", "not JSON"), ({"label": [1]}, "list of strings"),
                                          (["label"], "expected an object")])
def test_bad_filters_are_refused_by_name(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_filters(raw)
    with pytest.raises(ConfigError, match="name=value"):
        filter_items(["label"])
