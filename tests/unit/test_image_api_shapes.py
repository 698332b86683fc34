"""The Docker shapes of pull/push streams (nsrun.image.view) and X-Registry-Auth (nsrun.image.auth): pure."""
from __future__ import annotations

import base64
import json

import pytest

from nsrun.errors import ConfigError
from nsrun.image.view import (docker_removed, error_message, message_text, progress_event, progress_message,
                              pull_footer, pull_header, push_footer, show)


def test_registry_auth_header_is_decoded_every_way_docker_sends_it():
    from nsrun.image.auth import decode_registry_auth, encode_registry_auth, Credentials
    plain = {"username": "alice", "password": "w+/?", "serveraddress": "h"}
    for enc in (base64.urlsafe_b64encode, base64.b64encode):
        raw = enc(json.dumps(plain).encode()).decode()
        for value in (raw, raw.rstrip("=")):
            c = decode_registry_auth(value)
            assert (c.username, c.password) == ("alice", "w+/?")
    token = decode_registry_auth(base64.urlsafe_b64encode(b'{"identitytoken":"tok"}').decode())
    assert (token.username, token.password) == ("<token>", "tok")
    assert decode_registry_auth(base64.b64encode(b"{}").decode()) is None
    assert decode_registry_auth(encode_registry_auth(None)) is None
    c = decode_registry_auth(encode_registry_auth(Credentials("a", "b"), "h"))
    assert (c.username, c.password) == ("a", "b")


def test_a_malformed_registry_auth_header_is_one_config_error():
    from nsrun.image.auth import decode_registry_auth
    for value in ("!!!", base64.b64encode(b"[1]").decode(), base64.b64encode(b'{"username": 3}').decode()):
        with pytest.raises(ConfigError, match="X-Registry-Auth"):
            decode_registry_auth(value)


def test_progress_messages_round_trip_as_docker_streams_them():
    msg = progress_message({"id": "abc", "status": "Downloading", "current": 1_000_000, "total": 5_000_000})
    assert msg["progressDetail"] == {"current": 1_000_000, "total": 5_000_000} and msg["id"] == "abc"
    assert msg["progress"].startswith("[==========>") and msg["progress"].endswith("1.0MB/5.0MB")
    assert progress_event(json.loads(json.dumps(msg)))["current"] == 1_000_000
    done = progress_message({"id": "abc", "status": "Download complete", "current": 5, "total": 5})
    assert done == {"status": "Download complete", "progressDetail": {}, "id": "abc"}
    assert progress_event(pull_header("library/redis", "latest", "redis:latest")) is None
    assert message_text(pull_header("library/redis", "latest", "redis:latest")) == "latest: Pulling from library/redis"
    assert [message_text(m) for m in pull_footer("redis:latest", "sha256:x", False)] == [
        "Digest: sha256:x", "Status: Image is up to date for redis:latest"]
    status, aux = push_footer("v1", "sha256:y", 528)
    assert message_text(status) == "v1: digest: sha256:y size: 528" and message_text(aux) is None
    assert aux["aux"] == {"Tag": "v1", "Digest": "sha256:y", "Size": 528}
    assert error_message("boom") == {"errorDetail": {"message": "boom"}, "error": "boom"}
    assert docker_removed([{"Untagged": "busybox"}, {"Untagged": "h:5/a:1"}, {"Deleted": "sha256:z"}]) == [
        {"Untagged": "busybox:latest"}, {"Untagged": "h:5/a:1"}, {"Deleted": "sha256:z"}]


def test_show_redraws_layers_and_prints_the_rest():
    seen = []

    class Display:
        def __call__(self, event):
            seen.append(("event", event["id"], event["status"]))

        def line(self, text):
            seen.append(("line", text))
    d = Display()
    for m in (pull_header("app", "v1", "h/app:v1"), progress_message({"id": "l1", "status": "Pulling fs layer"}),
              *pull_footer("h/app:v1", "sha256:d", True)):
        show(d, m)
    assert seen == [("line", "v1: Pulling from app"), ("event", "l1", "Pulling fs layer"),
                    ("line", "Digest: sha256:d"), ("line", "Status: Downloaded newer image for h/app:v1")]
