"""Image references and platforms, as Docker parses and normalizes them."""
from __future__ import annotations

import pytest

from nsrun.errors import ConfigError
from nsrun.image.reference import Platform, host_platform, parse, parse_platform

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, full, familiar, registry", [
    ("redis", "docker.io/library/redis:latest", "redis:latest", "registry-1.docker.io"),
    ("redis:7", "docker.io/library/redis:7", "redis:7", "registry-1.docker.io"),
    ("user/app:1.2", "docker.io/user/app:1.2", "user/app:1.2", "registry-1.docker.io"),
    ("docker.io/library/redis", "docker.io/library/redis:latest", "redis:latest", "registry-1.docker.io"),
    ("index.docker.io/user/app", "docker.io/user/app:latest", "user/app:latest", "registry-1.docker.io"),
    ("host:5000/ns/app", "host:5000/ns/app:latest", "host:5000/ns/app:latest", "host:5000"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost"),
    ("quay.io/a/b/c:v_1.0-x", "quay.io/a/b/c:v_1.0-x", "quay.io/a/b/c:v_1.0-x", "quay.io"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest", "127.0.0.1:5000"),
    (f"redis@{D}", f"docker.io/library/redis@{D}", f"redis@{D}", "registry-1.docker.io"),
    (f"host:5000/app:1@{D}", f"host:5000/app:1@{D}", f"host:5000/app:1@{D}", "host:5000"),
    ("a__b/c-d.e", "docker.io/a__b/c-d.e:latest", "a__b/c-d.e:latest", "registry-1.docker.io"),
])
def test_references_normalize_like_docker(text, full, familiar, registry):
    ref = parse(text)
    assert (str(ref), ref.familiar(), ref.registry) == (full, familiar, registry)


def test_parts():
    ref = parse(f"host:5000/ns/app:1@{D}")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("host:5000", "ns/app", "1", D)
    assert ref.repository == "host:5000/ns/app" and ref.manifest_ref == D
    assert parse("redis").manifest_ref == "latest" and parse(f"redis@{D}").tag is None
    assert parse("redis").familiar_name == "redis" and parse("user/x").familiar_name == "user/x"
    assert parse("redis").with_tag("7").familiar() == "redis:7"
    assert parse("a") == parse("docker.io/library/a:latest") and len({parse("a"), parse("library/a")}) == 1


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("UPPER", "must be lowercase"), ("app:", "invalid tag"), ("app:-x", "invalid tag"),
    ("a/b:" + "t" * 129, "invalid tag"), ("app@sha256:123", "digest must be"), ("app@md5:" + "0" * 32, "digest"),
    ("ab" * 32, "64-byte hexadecimal"), ("a//b", "component ''"), ("-a", "component '-a'"),
    ("a/b/", "component ''"), ("bad_host:x:y/app", "invalid"), ("x/" + "a" * 260, "not be more than 255"),
    ("a b", "component"), ("host:5000/App", "must be lowercase"),
])
def test_invalid_references_are_one_config_error(text, why):
    with pytest.raises(ConfigError, match="^invalid reference format: .*" + why.replace("(", r"\(")):
        parse(text)


def test_platforms():
    assert host_platform().os == "linux" and host_platform().architecture in ("amd64", "arm64", "arm", "386",
                                                                               "ppc64le", "s390x", "riscv64")
    assert str(parse_platform("linux/arm64/v8")) == "linux/arm64/v8"
    assert parse_platform("linux/x86_64") == Platform("linux", "amd64")
    assert parse_platform(None) == host_platform()
    arm64 = Platform("linux", "arm64")
    assert arm64.matches(Platform("linux", "arm64", "v8")) and Platform("linux", "arm64", "v8").matches(arm64)
    assert not Platform("linux", "arm", "v7").matches(Platform("linux", "arm", "v6"))
    assert Platform("linux", "arm").matches(Platform("linux", "arm", "v6"))
    assert not Platform("linux", "amd64").matches(Platform("windows", "amd64"))
    with pytest.raises(ConfigError, match="invalid platform"):
        parse_platform("linux/arm/v7/x")
