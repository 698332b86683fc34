"""The registry client against the real thing: Debian's docker-registry in four modes (plain HTTP, TLS with
a CA made here, htpasswd basic auth, bearer tokens), images made here and pushed by skopeo, and fronts that lie,
truncate, fail or redirect. Pulls are compared with what skopeo pushed; pushes are read back by skopeo."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registryenv as R  # noqa: E402

from nsrun.errors import NotFoundError  # noqa: E402
from nsrun.image.auth import AuthError, Credentials  # noqa: E402
from nsrun.image.content import BlobError, Content  # noqa: E402
from nsrun.image.pull import pull_blobs, push_image  # noqa: E402
from nsrun.image.registry import DOCKER_MANIFEST, OCI_INDEX, RegistryError, login  # noqa: E402

USERS = {"alice": "wonderland"}


@pytest.fixture(autouse=True)
def docker_config(tmp_path, monkeypatch):
    """Nobody's real ~/.docker: each test has its own (empty) DOCKER_CONFIG."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path / "docker" / "config.json"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """An OCI layout with a 3-layer image (tag ``v1``) and a two-platform index (tag ``multi``)."""
    lay = R.OciLayout(str(tmp_path_factory.mktemp("oci")))
    big = os.urandom(3_000_000)
    lay.single = lay.image([{"etc/a": b"first\n"}, {"usr/big": big}, {"etc/c": b"third\n"}])
    lay.tag(lay.single, "v1")
    lay.amd64 = lay.image([{"arch": b"amd64\n"}], arch="amd64")
    lay.arm64 = lay.image([{"arch": b"arm64\n"}], arch="arm64", variant="v8")
    lay.multi = lay.index([lay.amd64, lay.arm64])
    lay.tag(lay.multi, "multi")
    lay.tag(lay.arm64, "arm-only")  # a single manifest (no index) for another platform than this host's
    return lay


def _push(lay: R.OciLayout, tag: str, dest: str, *extra: str) -> None:
    R.skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{lay.dir}:{tag}", f"docker://{dest}")


@pytest.fixture(scope="module")
def plain(tmp_path_factory, images):
    reg = R.RegistryServer(str(tmp_path_factory.mktemp("plain")))
    try:
        _push(images, "v1", f"{reg.host}/app:v1")
        _push(images, "v1", f"{reg.host}/docker:v1", "--format", "v2s2")
        _push(images, "multi", f"{reg.host}/multi:latest", "--all")
        _push(images, "arm-only", f"{reg.host}/arm-only:latest")
        yield reg
    finally:
        reg.stop()


def _blob(lay: R.OciLayout, digest: str) -> bytes:
    with open(os.path.join(lay.dir, "blobs", "sha256", digest[7:]), "rb") as f:
        return f.read()


def _manifest(lay: R.OciLayout, desc: dict) -> dict:
    return json.loads(_blob(lay, desc["digest"]))


def _raw_digest(ref: str, *flags: str) -> str:
    raw = subprocess.run(["skopeo", "inspect", "--raw", *flags, f"docker://{ref}"], capture_output=True,
                         check=True, timeout=60).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _ingest_empty(content: Content) -> bool:
    return not os.path.isdir(content.ingest) or os.listdir(content.ingest) == []


# -- pulling --------------------------------------------------------------------------------------------------
def test_pull_is_what_skopeo_pushed_streamed_to_callback_and_skipped_next_time(plain, images, nsrun_root):
    content = Content(nsrun_root)
    events, seen = [], {}

    def on_layer(desc, f):
        h = hashlib.sha256()
        while chunk := f.read(65536):
            h.update(chunk)
        seen[desc["digest"]] = "sha256:" + h.hexdigest()
    result = pull_blobs(f"{plain.host}/app:v1", content, on_layer=on_layer, progress=events.append)
    digest, manifest, config = result
    assert digest == images.single["digest"] == result.ref_digest
    assert manifest == _manifest(images, images.single)
    assert config["rootfs"]["diff_ids"] and config["config"]["Env"] == ["A=1"]
    layers = [d["digest"] for d in manifest["layers"]]
    assert seen == {d: d for d in layers}
    for d in [digest, manifest["config"]["digest"], *layers]:
        assert content.read_bytes(d) == _blob(images, d)
    statuses = {(e["id"], e["status"]) for e in events}
    for d in layers:
        assert {(d[7:19], "Pulling fs layer"), (d[7:19], "Download complete")} <= statuses
    big = manifest["layers"][1]
    downloads = [e["current"] for e in events if e["status"] == "Downloading" and e["id"] == big["digest"][7:19]]
    assert len(downloads) >= 2 and downloads == sorted(downloads) and downloads[-1] == big["size"]
    assert _ingest_empty(content)

    events.clear()
    seen.clear()
    pull_blobs(f"{plain.host}/app:v1", content, on_layer=on_layer, progress=events.append)
    assert [e["status"] for e in events if e["status"] != "Pulling fs layer"] == ["Already exists"] * 3
    assert seen == {d: d for d in layers}


def test_pull_docker_schema2_by_tag_and_by_digest(plain, nsrun_root):
    content = Content(nsrun_root)
    digest, manifest, _ = result = pull_blobs(f"{plain.host}/docker:v1", content)
    assert result.media_type == DOCKER_MANIFEST == manifest["mediaType"]
    assert digest == _raw_digest(f"{plain.host}/docker:v1", "--tls-verify=false")
    again = pull_blobs(f"{plain.host}/docker@{digest}", content)
    assert again.manifest_digest == digest


def test_multi_platform_index_selects_and_refuses(plain, images, nsrun_root):
    content = Content(nsrun_root)
    host = pull_blobs(f"{plain.host}/multi", content)
    assert host.manifest_digest == images.amd64["digest"]
    assert host.ref_digest == images.multi["digest"] and content.has(images.multi["digest"])
    arm = pull_blobs(f"{plain.host}/multi", content, platform="linux/arm64")
    assert arm.manifest_digest == images.arm64["digest"] and arm.config["architecture"] == "arm64"
    assert pull_blobs(f"{plain.host}/multi", content, platform="linux/arm64/v8").manifest_digest == \
        images.arm64["digest"]
    with pytest.raises(NotFoundError, match=r"no matching manifest for linux/s390x .*linux/amd64, linux/arm64/v8"):
        pull_blobs(f"{plain.host}/multi", content, platform="linux/s390x")


def test_a_single_manifest_for_another_platform_is_refused_before_its_layers(plain, images, nsrun_root):
    content = Content(nsrun_root)
    with pytest.raises(NotFoundError, match=r"arm-only:latest: no matching manifest for linux/amd64: the image is "
                                            r"for linux/arm64/v8 only$"):
        pull_blobs(f"{plain.host}/arm-only", content)
    with open(os.path.join(images.dir, "blobs", "sha256", images.arm64["digest"][7:])) as f:
        manifest = json.load(f)
    assert not content.has(manifest["layers"][0]["digest"])  # refused before any layer was fetched
    assert pull_blobs(f"{plain.host}/arm-only", content, platform="linux/arm64").manifest_digest == \
        images.arm64["digest"]


def test_unknown_tag_and_repository_are_not_found(plain, nsrun_root):
    content = Content(nsrun_root)
    with pytest.raises(NotFoundError, match=r"^127\.0\.0\.1:\d+/app:nope: manifest unknown$"):
        pull_blobs(f"{plain.host}/app:nope", content)
    with pytest.raises(NotFoundError, match=r"nothing/here:latest: manifest unknown$"):
        pull_blobs(f"{plain.host}/nothing/here", content)
    assert list(content.digests()) == []


def test_registry_that_is_down_is_one_line(nsrun_root):
    port = R.free_port()
    with pytest.raises(RegistryError, match=rf"^cannot reach registry 127\.0\.0\.1:{port}: Connection refused$") \
            as info:
        pull_blobs(f"127.0.0.1:{port}/app", Content(nsrun_root))
    assert info.value.errno == errno.ECONNREFUSED


# -- pushing --------------------------------------------------------------------------------------------------
def test_push_then_skopeo_reads_back_the_same(plain, images, nsrun_root, tmp_path):
    content = Content(nsrun_root)
    digest, manifest, _ = pull_blobs(f"{plain.host}/app:v1", content)
    events = []
    pushed = push_image(f"{plain.host}/copy/app:v2", content, digest, progress=events.append)
    assert pushed == digest == _raw_digest(f"{plain.host}/copy/app:v2", "--tls-verify=false")
    assert {e["status"] for e in events} >= {"Preparing", "Pushing", "Pushed"}
    out = tmp_path / "dir"
    R.skopeo("copy", "--src-tls-verify=false", f"docker://{plain.host}/copy/app:v2", f"dir:{out}")
    for d in [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]:
        assert (out / d[7:]).read_bytes() == content.read_bytes(d)
    events.clear()
    push_image(f"{plain.host}/copy/app:v2", content, digest, progress=events.append)
    assert [e["status"] for e in events if e["status"] != "Preparing"] == ["Layer already exists"] * 4


def test_push_an_index_keeps_its_digest(plain, images, nsrun_root):
    content = Content(nsrun_root)
    for p in ("linux/amd64", "linux/arm64"):
        pull_blobs(f"{plain.host}/multi", content, platform=p)
    pushed = push_image(f"{plain.host}/multi-copy:latest", content, images.multi["digest"])
    assert pushed == images.multi["digest"] == _raw_digest(f"{plain.host}/multi-copy:latest", "--tls-verify=false")
    assert json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                      f"docker://{plain.host}/multi-copy"], capture_output=True, check=True)
                      .stdout)["mediaType"] == OCI_INDEX


# -- bad registries -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, message", [("lie", r"failed verification: its content hashes to sha256:"),
                                           ("truncate", r"is truncated: \d+ of \d+ bytes")])
def test_a_bad_blob_is_refused_and_leaves_nothing(plain, images, nsrun_root, mode, message):
    big = _manifest(images, images.single)["layers"][1]["digest"]
    front = R.Front(plain.host, mode)
    front.targets = {big}
    content = Content(nsrun_root)
    read_errors = []

    def on_layer(desc, f):
        try:
            while f.read(65536):
                pass
        except BlobError as exc:
            read_errors.append(desc["digest"])
            raise
    try:
        with pytest.raises(BlobError, match=rf"^blob {big} {message}"):
            pull_blobs(f"{front.host}/app:v1", content, on_layer=on_layer)
    finally:
        front.stop()
    assert read_errors == [big]
    assert not content.has(big) and _ingest_empty(content)


def test_a_500_is_one_line(plain, nsrun_root):
    front = R.Front(plain.host, "error500")
    try:
        with pytest.raises(RegistryError, match=r"^127\.0\.0\.1:\d+/app:v1: registry 127\.0\.0\.1:\d+ answered 500 "
                                                r"Internal Server Error: storage backend exploded$"):
            pull_blobs(f"{front.host}/app:v1", Content(nsrun_root))
    finally:
        front.stop()


def test_redirect_to_blob_storage_is_followed_without_credentials(plain, images, nsrun_root):
    storage = R.Front(plain.host, "record")
    front = R.Front(plain.host, "redirect", creds=("bob", "secret"), storage=storage)
    try:
        with pytest.raises(AuthError, match="no credentials"):
            pull_blobs(f"{front.host}/app:v1", Content(nsrun_root))
        result = pull_blobs(f"{front.host}/app:v1", Content(nsrun_root), credentials=Credentials("bob", "secret"))
    finally:
        front.stop()
        storage.stop()
    assert result.manifest_digest == images.single["digest"]
    assert len(storage.seen) == 4 and storage.seen == [None] * 4  # config + 3 layers, no Authorization


# -- TLS ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls(tmp_path_factory, images):
    d = str(tmp_path_factory.mktemp("tls"))
    cert, key = R.make_ca(os.path.join(d, "pki"))
    reg = R.RegistryServer(os.path.join(d, "reg"), tls=(cert, key))
    reg.ca = os.path.join(d, "pki", "ca.pem")
    certs = os.path.join(d, "skopeo-certs")
    os.makedirs(certs)
    os.symlink(reg.ca, os.path.join(certs, "ca.crt"))
    try:
        R.skopeo("copy", f"--dest-cert-dir={certs}", f"oci:{images.dir}:v1", f"docker://{reg.host}/app:v1")
        yield reg
    finally:
        reg.stop()


def test_tls_with_the_test_ca_and_refused_without(tls, images, nsrun_root):
    content = Content(nsrun_root)
    with pytest.raises(RegistryError, match=r"^TLS certificate of 127\.0\.0\.1:\d+ is not trusted: "):
        pull_blobs(f"{tls.host}/app:v1", content)
    result = pull_blobs(f"{tls.host}/app:v1", content, ca_file=tls.ca)
    assert result.manifest_digest == images.single["digest"]
    listed = pull_blobs(f"{tls.host}/app:v1", content, insecure=[tls.host])  # --insecure-registry: unverified
    assert listed.manifest_digest == images.single["digest"]
    assert push_image(f"{tls.host}/pushed:v1", content, result.manifest_digest, ca_file=tls.ca) == \
        result.manifest_digest


# -- htpasswd basic auth --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def basic(tmp_path_factory, images):
    d = str(tmp_path_factory.mktemp("basic"))
    reg = R.RegistryServer(os.path.join(d, "reg"), htpasswd=R.htpasswd_file(d, USERS))
    try:
        _push(images, "v1", f"{reg.host}/app:v1", "--dest-creds", "alice:wonderland")
        yield reg
    finally:
        reg.stop()


def test_basic_auth_credentials_login_and_refusals(basic, images, nsrun_root, docker_config):
    content = Content(nsrun_root)
    with pytest.raises(AuthError, match=r"authentication required \(no credentials: use `nsrun login"):
        pull_blobs(f"{basic.host}/app:v1", content)
    with pytest.raises(AuthError, match=r"^127\.0\.0\.1:\d+/app:v1: authentication required$"):
        pull_blobs(f"{basic.host}/app:v1", content, credentials=Credentials("alice", "wrong"))
    with pytest.raises(AuthError):
        login(basic.host, "alice", "wrong")
    assert not docker_config.exists()
    assert login(basic.host, "alice", "wonderland") == str(docker_config)
    assert stat.S_IMODE(os.stat(docker_config).st_mode) == 0o600
    assert json.loads(docker_config.read_text())["auths"][basic.host]["auth"] == "YWxpY2U6d29uZGVybGFuZA=="
    result = pull_blobs(f"{basic.host}/app:v1", content)  # credentials from config.json
    assert result.manifest_digest == images.single["digest"]
    assert push_image(f"{basic.host}/mine:v1", content, result.manifest_digest) == result.manifest_digest


def test_cli_login_and_logout(basic, nsrun, docker_config):
    bad = nsrun("login", "-u", "alice", "--password-stdin", basic.host, input="nope\n")
    assert bad.returncode == 125 and bad.stderr.count("\n") == 1 and "authentication required" in bad.stderr
    good = nsrun("login", "-u", "alice", "--password-stdin", basic.host, input="wonderland\n")
    assert good.returncode == 0 and "Login Succeeded" in good.stdout, good.stderr
    assert basic.host in json.loads(docker_config.read_text())["auths"]
    out = nsrun("logout", basic.host)
    assert out.returncode == 0 and basic.host not in json.loads(docker_config.read_text())["auths"]


# -- bearer tokens --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def token(tmp_path_factory, images):
    d = str(tmp_path_factory.mktemp("token"))
    issuer = R.TokenIssuer(os.path.join(d, "issuer"), USERS)
    try:
        reg = R.RegistryServer(os.path.join(d, "reg"), token=issuer.registry_config())
        reg.issuer = issuer
        try:
            _push(images, "v1", f"{reg.host}/app:v1", "--dest-creds", "alice:wonderland")
            yield reg
        finally:
            reg.stop()
    finally:
        issuer.stop()


def test_bearer_tokens_anonymous_pull_authenticated_push(token, images, nsrun_root, docker_config):
    content = Content(nsrun_root)
    del token.issuer.requests[:]
    result = pull_blobs(f"{token.host}/app:v1", content)
    assert result.manifest_digest == images.single["digest"]
    assert token.issuer.requests == [{"user": None, "scope": ["repository:app:pull"],
                                      "service": [R.TokenIssuer.service]}]  # one token, cached for all blobs
    with pytest.raises(AuthError, match=r"^127\.0\.0\.1:\d+/pushed@sha256:\w+: authentication required"):
        push_image(f"{token.host}/pushed:v1", content, result.manifest_digest)
    with pytest.raises(AuthError, match=r"the token service refused the credentials \(401 Unauthorized"):
        pull_blobs(f"{token.host}/app:v1", content, credentials=Credentials("alice", "wrong"))
    with pytest.raises(AuthError, match="refused the credentials"):
        login(token.host, "alice", "wrong")
    login(token.host, "alice", "wonderland")
    assert push_image(f"{token.host}/pushed:v1", content, result.manifest_digest) == result.manifest_digest
    assert _raw_digest(f"{token.host}/pushed:v1", "--tls-verify=false", "--creds", "alice:wonderland") == \
        result.manifest_digest
