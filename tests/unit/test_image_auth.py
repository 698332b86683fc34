"""Registry auth without a server: challenges, Docker's config.json, the Authorizer's choices, manifests and
platform selection, and the transport's refusal of plain HTTP beyond loopback."""
from __future__ import annotations

import json
import os
import stat

import pytest

from nsrun.errors import ConfigError, NotFoundError
from nsrun.image.auth import (AuthError, Authorizer, Credentials, load_credentials, parse_challenge,
                              remove_credentials, save_credentials)
from nsrun.image.reference import Platform
from nsrun.image.registry import (DOCKER_LIST, OCI_MANIFEST, RegistryError, Transport, parse_manifest,
                                  select_platform)

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "d"))
    return tmp_path / "d" / "config.json"


def test_parse_challenge():
    ch = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                         'scope="repository:library/redis:pull,push"')
    assert ch.scheme == "bearer" and ch.params == {"realm": "https://auth.docker.io/token",
                                                   "service": "registry.docker.io",
                                                   "scope": "repository:library/redis:pull,push"}
    assert parse_challenge('Basic realm="Registry Realm"').params == {"realm": "Registry Realm"}
    assert parse_challenge('bearer realm=http://x/t, service=s').params == {"realm": "http://x/t", "service": "s"}
    assert parse_challenge('Bearer realm="a\\"b"').params["realm"] == 'a"b'
    assert parse_challenge("") is None


def test_docker_config_round_trip(config):
    assert load_credentials("reg:5000") is None
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {"https://other:1/v1/": {"auth": "dTpw"},  # u:p
                                            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldDp4"}},
                                  "credsStore": "kept"}))
    assert vars_of(load_credentials("other:1")) == ("u", "p")
    assert vars_of(load_credentials("docker.io")) == ("hub", "secret:x")
    assert vars_of(load_credentials("registry-1.docker.io")) == ("hub", "secret:x")
    assert save_credentials("reg:5000", Credentials("alice", "pw")) == str(config)
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    data = json.loads(config.read_text())
    assert data["credsStore"] == "kept" and data["auths"]["reg:5000"] == {"auth": "YWxpY2U6cHc="}
    assert vars_of(load_credentials("reg:5000")) == ("alice", "pw")
    assert remove_credentials("reg:5000") and not remove_credentials("reg:5000")
    assert load_credentials("reg:5000") is None and "https://other:1/v1/" in json.loads(config.read_text())["auths"]
    assert "pw" not in repr(Credentials("alice", "pw"))


def vars_of(creds):
    return (creds.username, creds.password)


def test_a_broken_config_is_one_line(config):
    config.parent.mkdir()
    config.write_text("{nope")
    with pytest.raises(ConfigError, match=f"^cannot read {config}: "):
        load_credentials("x")


def test_authorizer_basic_and_bearer():
    calls = []

    def fetch(realm, query, creds):
        calls.append((realm, query, creds and creds.username))
        return {"access_token": f"tok{len(calls)}", "expires_in": 300}
    anon = Authorizer("r", None, fetch)
    assert anon.header("repository:a:pull") is None
    with pytest.raises(AuthError, match="no credentials"):
        anon.answer('Basic realm="x"', "s")
    auth = Authorizer("r", Credentials("u", "p"), fetch)
    assert auth.answer('Bearer realm="http://t/token",service="svc"', "repository:a:pull") == "Bearer tok1"
    assert calls == [("http://t/token", {"service": "svc", "scope": "repository:a:pull", "account": "u"}, "u")]
    assert auth.header("repository:a:pull") == "Bearer tok1"  # cached
    assert auth.header("repository:b:pull") is None
    basic = Authorizer("r", Credentials("u", "p"), fetch)
    assert basic.answer('Basic realm="x"', "s") == "Basic dTpw" == basic.header("other")
    with pytest.raises(AuthError, match="unsupported authentication scheme"):
        basic.answer('Negotiate', "s")
    with pytest.raises(AuthError, match="returned no token"):
        Authorizer("r", None, lambda *a: {}).answer('Bearer realm="http://t"', "s")


def _index(*platforms):
    return parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": D1 if i == 0 else D2, "size": 10, "platform": p}
        for i, p in enumerate(platforms)]}).encode())


def test_manifests_and_platform_selection():
    index = _index({"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"},
                   {"os": "unknown", "architecture": "unknown"})
    assert index.is_index and index.media_type == DOCKER_LIST
    assert select_platform(index, Platform("linux", "amd64"))["digest"] == D1
    assert select_platform(index, Platform("linux", "arm64", "v8"))["digest"] == D2
    with pytest.raises(NotFoundError, match=r"^x: no matching manifest for linux/riscv64 in the manifest list "
                                            r"entries \(available: linux/amd64, linux/arm64\)$"):
        select_platform(index, Platform("linux", "riscv64"), "x")
    m = parse_manifest(json.dumps({"schemaVersion": 2, "config": {"digest": D1, "size": 2},
                                   "layers": [{"digest": D2, "size": 3}]}).encode())
    assert m.media_type == OCI_MANIFEST and not m.is_index


@pytest.mark.parametrize("raw, why", [
    (b"{", "not JSON"), (b"[]", "not a JSON object"), (b'{"schemaVersion": 1, "fsLayers": []}', "schema 1"),
    (b'{"schemaVersion": 2, "mediaType": "text/plain"}', "unsupported manifest type"),
    (b'{"schemaVersion": 2, "layers": [], "config": {"digest": "sha256:../x", "size": 1}}', "bad descriptor"),
    (b'{"schemaVersion": 2, "layers": [{"digest": "' + D1.encode() + b'", "size": -1}], "config": {"digest": "'
     + D1.encode() + b'", "size": 1}}', "bad descriptor"),
])
def test_malformed_manifests_are_one_line(raw, why):
    with pytest.raises(RegistryError, match=why):
        parse_manifest(raw)


def test_plain_http_only_for_loopback_or_insecure():
    t = Transport(insecure=["reg.example:5000"])
    assert t.allows_http("127.0.0.1:5000") and t.allows_http("localhost") and t.allows_http("[::1]:5000")
    assert t.allows_http("reg.example:5000") and not t.allows_http("reg.example")
    with pytest.raises(RegistryError, match="refusing plain HTTP to evil.example: not a loopback host"):
        t.request("GET", "http://evil.example/v2/")
