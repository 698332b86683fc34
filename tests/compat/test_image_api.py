"""The daemon's image API against the real clients: docker CLI and docker-py pull/push/tag/inspect/rmi/prune/login
and ``nsrun -H`` pull/push, with a private ``docker-registry`` (tests/registryenv.py) on 127.0.0.1 holding an
image made here (busybox from the host, two layers) and pushed by skopeo."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registryenv as R  # noqa: E402

from nsrun._plugins import installed_plugins  # noqa: E402
from conftest import NSRUN  # noqa: E402  (tests/compat/conftest.py)

USERS = {"alice": "wonderland"}
NET = ("--network", "none") if "net" in installed_plugins() else ()
BUSYBOX = next(p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p))


def _gz_layer(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.mtime = 1700000000
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o755, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def busybox_layout(d: str) -> R.OciLayout:
    """An OCI layout, tag ``v1``: layer 1 busybox + sh/echo/cat links, layer 2 /etc/motd; Cmd ``cat /etc/motd``."""
    lay = R.OciLayout(d)
    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    base = [(_entry("bin", tarfile.DIRTYPE), None), (_entry("bin/busybox"), binary)]
    base += [(_entry(f"bin/{a}", tarfile.SYMTYPE, 0o777, "busybox"), None) for a in ("sh", "echo", "cat", "true")]
    base += [(_entry("etc", tarfile.DIRTYPE), None), (_entry("tmp", tarfile.DIRTYPE, 0o1777), None)]
    top = [(_entry("etc/motd", mode=0o644), b"hello from the registry\n")]
    descs, diff_ids = [], []
    for members in (base, top):
        gz, diff_id = _gz_layer(members)
        descs.append(lay.blob(gz, R.OCI_LAYER))
        diff_ids.append(diff_id)
    config = {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
              "config": {"Cmd": ["cat", "/etc/motd"], "Env": ["PATH=/bin", "FROM_IMAGE=yes"],
                         "Labels": {"made.by": "nsrun-tests"}},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = lay.blob(json.dumps(config).encode(), R.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": R.OCI_MANIFEST, "config": cdesc, "layers": descs}
    lay.single = lay.blob(json.dumps(manifest).encode(), R.OCI_MANIFEST)
    lay.config_digest = cdesc["digest"]
    lay.layers = descs
    lay.tag(lay.single, "v1")
    return lay


def _push(lay: R.OciLayout, dest: str, *extra: str) -> None:
    R.skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{lay.dir}:v1", f"docker://{dest}")


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return busybox_layout(str(tmp_path_factory.mktemp("oci")))


@pytest.fixture(scope="module")
def registry(tmp_path_factory, layout):
    reg = R.RegistryServer(str(tmp_path_factory.mktemp("plain")))
    try:
        for name in ("app:v1", "app:latest", "auto:latest", "py:v1", "remote:v1"):
            _push(layout, f"{reg.host}/{name}")
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def basic(tmp_path_factory, layout):
    d = str(tmp_path_factory.mktemp("basic"))
    reg = R.RegistryServer(os.path.join(d, "reg"), htpasswd=R.htpasswd_file(d, USERS))
    try:
        _push(layout, f"{reg.host}/secret:v1", "--dest-creds", "alice:wonderland")
        yield reg
    finally:
        reg.stop()


def _inspect_raw(ref: str, *flags: str) -> dict:
    return json.loads(R.skopeo("inspect", "--tls-verify=false", *flags, f"docker://{ref}"))


# -- docker CLI ------------------------------------------------------------------------------------------------
def test_docker_pull_shows_progress_then_run_uses_the_image_config(daemon, registry, layout):
    ref = f"{registry.host}/app:v1"
    out = daemon.docker("pull", ref, check=True).stdout
    assert "v1: Pulling from app" in out
    assert f"Digest: {layout.single['digest']}" in out
    assert f"Status: Downloaded newer image for {ref}" in out
    assert "Pull complete" in out or "Download complete" in out
    again = daemon.docker("pull", ref, check=True).stdout
    assert f"Status: Image is up to date for {ref}" in again
    run = daemon.docker("run", "--rm", "--network", "none", ref, check=True)
    assert run.stdout == "hello from the registry\n"
    env = daemon.docker("run", "--rm", "--network", "none", ref, "sh", "-c", "echo $FROM_IMAGE", check=True)
    assert env.stdout == "yes\n"


def test_docker_run_of_an_image_not_pulled_yet_pulls_it(daemon, registry):
    ref = f"{registry.host}/auto"
    never = daemon.docker("run", "--rm", "--pull", "never", "--network", "none", ref)
    assert never.returncode == 125 and f"No such image: {ref}:latest" in never.stderr
    run = daemon.docker("run", "--rm", "--network", "none", ref, check=True)
    assert f"Unable to find image '{ref}:latest' locally" in run.stderr
    assert "Downloaded newer image" in run.stderr
    assert run.stdout == "hello from the registry\n"


def test_pull_errors_have_their_status_and_one_message(daemon, registry):
    missing = daemon.docker("pull", f"{registry.host}/app:nosuch")
    assert missing.returncode != 0 and "nosuch" in missing.stderr and "Error response from daemon" in missing.stderr
    bad = daemon.docker("run", "--rm", "--network", "none", "UPPER//x")
    assert bad.returncode != 0 and "invalid reference format" in bad.stderr
    down = daemon.docker("pull", f"127.0.0.1:{R.free_port()}/app:v1")
    assert down.returncode != 0 and "Error response from daemon" in down.stderr


def test_a_failure_mid_stream_is_an_error_message_and_leaves_no_image(daemon, registry, layout):
    front = R.Front(registry.host, "truncate")
    front.targets = {layout.layers[0]["digest"]}  # the config and the manifest come through: the stream starts
    try:
        ref = f"{front.host}/app:v1"
        out = daemon.docker("pull", ref)
        assert out.returncode == 1 and "Pulling fs layer" in out.stdout, out
        assert out.stderr.strip().count("\n") == 0 and out.stderr.strip(), out.stderr
        assert daemon.docker("images", "-q", check=True).stdout.strip() == ""
        run = daemon.docker("run", "--rm", "--network", "none", ref)
        assert run.returncode == 125 and "Unable to find image" in run.stderr
    finally:
        front.stop()


def test_image_inspect_shows_config_tags_digests_and_rootfs(daemon, registry, layout):
    ref = f"{registry.host}/app:v1"
    daemon.docker("pull", ref, check=True)
    (info,) = json.loads(daemon.docker("image", "inspect", ref, check=True).stdout)
    assert info["Id"] == layout.config_digest
    assert info["RepoTags"] == [ref]
    assert info["RepoDigests"] == [f"{registry.host}/app@{layout.single['digest']}"]
    assert info["Config"]["Cmd"] == ["cat", "/etc/motd"] and "FROM_IMAGE=yes" in info["Config"]["Env"]
    assert info["Config"]["Labels"] == {"made.by": "nsrun-tests"}
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 2
    fmt = daemon.docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", ref, check=True).stdout
    assert fmt.strip() == "linux/amd64"
    listed = daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout
    assert f"{registry.host}/app:v1 {layout.config_digest[7:19]}" in listed
    only = daemon.docker("images", "--filter", f"reference={registry.host}/app:*", "-q", check=True).stdout
    assert only.split() == [layout.config_digest[7:19]]
    missing = daemon.docker("image", "inspect", "nosuch:img")
    assert missing.returncode == 1 and "No such image: nosuch:img" in missing.stderr


def test_tag_push_and_skopeo_sees_it(daemon, registry, layout):
    daemon.docker("pull", f"{registry.host}/app:v1", check=True)
    target = f"{registry.host}/pushed/by-docker:v2"
    daemon.docker("tag", f"{registry.host}/app:v1", target, check=True)
    out = daemon.docker("push", target, check=True).stdout
    assert f"The push refers to repository [{target.rsplit(':', 1)[0]}]" in out
    assert "v2: digest: sha256:" in out and "size: " in out
    seen = _inspect_raw(target)
    assert seen["Digest"] == layout.single["digest"] and len(seen["Layers"]) == 2
    missing = daemon.docker("push", f"{registry.host}/nosuch:v1")
    assert missing.returncode != 0 and "does not exist locally" in missing.stderr


def test_rmi_refuses_an_image_in_use_then_removes(daemon, registry, layout):
    ref = f"{registry.host}/app:v1"
    daemon.docker("pull", ref, check=True)
    daemon.docker("tag", ref, "second:tag", check=True)
    untag = daemon.docker("rmi", "second:tag", check=True).stdout
    assert untag.strip() == "Untagged: second:tag"
    cid = daemon.docker("create", "--network", "none", ref, check=True).stdout.strip()
    refused = daemon.docker("rmi", ref)
    assert refused.returncode == 1 and "conflict" in refused.stderr and "in use" in refused.stderr
    daemon.docker("rm", cid, check=True)
    gone = daemon.docker("rmi", ref, check=True).stdout
    assert f"Untagged: {ref}" in gone and f"Deleted: {layout.config_digest}" in gone
    again = daemon.docker("rmi", ref)
    assert again.returncode == 1 and f"No such image: {ref}" in again.stderr


def test_image_prune_removes_dangling_only(daemon, registry, layout):
    ref = f"{registry.host}/app:v1"
    daemon.docker("pull", ref, check=True)
    out = daemon.docker("image", "prune", "-f", check=True).stdout
    assert "Total reclaimed space: 0B" in out
    daemon.docker("tag", ref, "keep:me", check=True)
    daemon.docker("rmi", ref, check=True)
    daemon.docker("rmi", "keep:me", check=True)
    assert daemon.docker("images", "-q", check=True).stdout.strip() == ""
    unsupported = daemon.docker("image", "prune", "-f", "--filter", "until=1h")
    assert unsupported.returncode != 0 and "until" in unsupported.stderr


def test_image_prune_of_a_dangling_image(daemon, tmp_path):
    tar = tmp_path / "root.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(BUSYBOX, arcname="bin/busybox")
    daemon.docker("import", str(tar), "dangle:v1", check=True)
    daemon.docker("import", "--change", "CMD [\"/bin/busybox\", \"true\"]", str(tar), "dangle:v1", check=True)
    (info,) = json.loads(daemon.docker("image", "inspect", "dangle:v1", check=True).stdout)
    assert info["Config"]["Cmd"] == ["/bin/busybox", "true"]
    dangling = daemon.docker("images", "-q", "--filter", "dangling=true", check=True).stdout.split()
    assert len(dangling) == 1
    out = daemon.docker("image", "prune", "-f", check=True).stdout
    assert "deleted: sha256:" in out and "Total reclaimed space:" in out
    assert daemon.docker("images", "-q", "--filter", "dangling=true", check=True).stdout.strip() == ""


def test_docker_login_good_and_bad_password_then_pull(daemon, basic):
    anon = daemon.docker("pull", f"{basic.host}/secret:v1", input="")
    assert anon.returncode != 0 and "Error response from daemon" in anon.stderr
    bad = daemon.docker("login", "-u", "alice", "--password-stdin", basic.host, input="nope\n")
    assert bad.returncode != 0 and "Error response from daemon" in bad.stderr
    assert not os.path.exists(os.path.join(daemon.config, "config.json")) or \
        basic.host not in open(os.path.join(daemon.config, "config.json")).read()
    good = daemon.docker("login", "-u", "alice", "--password-stdin", basic.host, input="wonderland\n")
    assert good.returncode == 0 and "Login Succeeded" in good.stdout, good.stderr
    assert basic.host in json.load(open(os.path.join(daemon.config, "config.json")))["auths"]
    assert not os.path.exists(os.path.join(daemon.root, "config.json"))
    pulled = daemon.docker("pull", f"{basic.host}/secret:v1", check=True).stdout
    assert "Downloaded newer image" in pulled
    daemon.docker("tag", f"{basic.host}/secret:v1", f"{basic.host}/mine:v1", check=True)
    daemon.docker("push", f"{basic.host}/mine:v1", check=True)


# -- docker-py ------------------------------------------------------------------------------------------------
def test_docker_py_pull_get_list_push_remove(docker_client, registry, layout):
    import docker
    image = docker_client.images.pull(f"{registry.host}/py", tag="v1")
    assert image.id == layout.config_digest and image.tags == [f"{registry.host}/py:v1"]
    got = docker_client.images.get(f"{registry.host}/py:v1")
    assert got.attrs["Config"]["Cmd"] == ["cat", "/etc/motd"]
    assert got.attrs["RepoDigests"] == [f"{registry.host}/py@{layout.single['digest']}"]
    assert [i.id for i in docker_client.images.list(name=f"{registry.host}/py")] == [layout.config_digest]
    assert got.tag(f"{registry.host}/py-pushed", "v9")
    lines = [json.loads(x) for x in docker_client.images.push(f"{registry.host}/py-pushed", tag="v9").splitlines()]
    assert any(m.get("aux", {}).get("Digest") == layout.single["digest"] for m in lines), lines
    assert _inspect_raw(f"{registry.host}/py-pushed:v9")["Digest"] == layout.single["digest"]
    docker_client.images.remove(f"{registry.host}/py-pushed:v9")
    docker_client.images.remove(f"{registry.host}/py:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{registry.host}/py:v1")
    with pytest.raises(docker.errors.NotFound):
        docker_client.images.pull(f"{registry.host}/py", tag="nosuch")
    bogus = docker_client.api.get(docker_client.api._url("/images/json"), params={"bogus": "1"})
    assert bogus.status_code == 400 and "bogus" in bogus.json()["message"]


def test_docker_py_login(docker_client, basic):
    import docker
    with pytest.raises(docker.errors.APIError) as bad:
        docker_client.login("alice", "nope", registry=basic.host, reauth=True)
    assert bad.value.response.status_code == 401
    assert docker_client.login("alice", "wonderland", registry=basic.host, reauth=True)["Status"] == \
        "Login Succeeded"


# -- nsrun -H ---------------------------------------------------------------------------------------------------
def _nsrun(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([NSRUN, *args], capture_output=True, text=True, timeout=120, **kw)


def test_nsrun_remote_pull_push_and_images(daemon, registry, layout, tmp_path):
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker")}
    ref = f"{registry.host}/remote:v1"
    remote = _nsrun("-H", daemon.unix_url, "pull", ref, env=env)
    assert remote.returncode == 0, remote.stderr
    local_root = tmp_path / "local"
    local_root.mkdir(mode=0o700)
    local = _nsrun("--root", str(local_root), "pull", ref, env=env)
    assert local.returncode == 0, local.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.stdout.splitlines())  # layers run in parallel
    assert remote.stdout.splitlines()[0] == local.stdout.splitlines()[0] == "v1: Pulling from remote"
    assert remote.stdout.splitlines()[-3:] == local.stdout.splitlines()[-3:]
    assert "v1: Pulling from remote" in remote.stdout and f"Digest: {layout.single['digest']}" in remote.stdout
    ls = _nsrun("-H", daemon.unix_url, "image", "ls", env=env).stdout
    assert f"{registry.host}/remote" in ls and layout.config_digest[7:19] in ls
    inspect_remote = _nsrun("-H", daemon.unix_url, "image", "inspect", ref, env=env).stdout
    inspect_local = _nsrun("--root", str(local_root), "image", "inspect", ref, env=env).stdout
    strip = lambda text: [{k: v for k, v in i.items() if k != "Created"} for i in json.loads(text)]  # noqa: E731
    assert strip(inspect_remote) == strip(inspect_local)
    tag = _nsrun("-H", daemon.unix_url, "image", "tag", ref, f"{registry.host}/remote-pushed:v3", env=env)
    assert tag.returncode == 0, tag.stderr
    pushed = _nsrun("-H", daemon.unix_url, "push", f"{registry.host}/remote-pushed:v3", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert f"v3: digest: {layout.single['digest']}" in pushed.stdout
    assert _inspect_raw(f"{registry.host}/remote-pushed:v3")["Digest"] == layout.single["digest"]
    rm = _nsrun("-H", daemon.unix_url, "image", "rm", f"{registry.host}/remote-pushed:v3", env=env)
    assert rm.stdout.strip() == f"Untagged: {registry.host}/remote-pushed:v3", rm.stderr
    missing = _nsrun("-H", daemon.unix_url, "pull", f"{registry.host}/remote:nosuch", env=env)
    assert missing.returncode == 125 and missing.stderr.count("\n") == 1 and "nosuch" in missing.stderr
    auto = _nsrun("-H", daemon.unix_url, "run", *NET, "--rm", f"{registry.host}/auto", env=env)
    assert auto.returncode == 0 and auto.stdout == "hello from the registry\n", auto.stderr
    assert f"Unable to find image '{registry.host}/auto' locally" in auto.stderr
    bad = _nsrun("-H", daemon.unix_url, "pull", "UPPER//x", env=env)
    assert bad.returncode == 125 and "invalid reference format" in bad.stderr
    for root in (str(local_root),):
        _nsrun("--root", root, "system", "reset", env=env)
