"""``POST /build`` and ``POST /commit`` against the real clients: ``DOCKER_BUILDKIT=0 docker build``, ``docker
commit``/``diff``/``history`` and docker-py's ``images.build``, then a push of a built image to a private
``docker-registry`` read back by skopeo. The daemon runs its build containers with ``--plugins pid,mnt,ipc,uts``
(no network) on loopback ports 5730-5739."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registryenv as R  # noqa: E402

from conftest import Daemon  # noqa: E402  (tests/compat/conftest.py)

PLUGINS = ("--plugins", "pid,mnt,ipc,uts")
DAEMON_PORT = 5731
REGISTRY_PORT = 5733

DOCKERFILE = """\
FROM busybox AS build
ARG MSG=hello
RUN echo "$MSG from the build" > /msg && mkdir /out && cp /msg /out/
COPY app/ /app/

FROM busybox
COPY --from=build /out/msg /app/ /srv/
WORKDIR /srv
CMD ["cat", "/srv/msg"]
"""


@pytest.fixture
def bdaemon(nsrun_root: str, docker_cli: str):
    d = Daemon(nsrun_root, global_args=PLUGINS)
    d.port = DAEMON_PORT
    d.start()
    yield d
    d.stop()
    left = d.leftovers()
    if left:
        pytest.fail(f"the test left containers behind: {[c[:12] for c in left]}", pytrace=False)


def _ctx(d, dockerfile: str = DOCKERFILE, extra: dict[str, str] | None = None) -> str:
    files = {"Dockerfile": dockerfile, "app/main.txt": "main\n", "app/debug.log": "log\n",
             ".dockerignore": "*/*.log\n", **(extra or {})}
    for name, text in files.items():
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(d)


def _docker_build(daemon: Daemon, *args: str) -> subprocess.CompletedProcess:
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_CONFIG=daemon.config, DOCKER_BUILDKIT="0")
    return subprocess.run([docker, "-H", daemon.unix_url, "build", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_docker_build_runs_caches_and_ignores(bdaemon, tmp_path):
    ctx = _ctx(tmp_path / "ctx")
    first = _docker_build(bdaemon, "-t", "bldh-dk:1", "--build-arg", "MSG=hi", ctx)
    assert first.returncode == 0, first.stderr + bdaemon.log()
    assert "Step 1/8 : FROM busybox AS build" in first.stdout and "Running in" in first.stdout
    assert "Successfully tagged bldh-dk:1" in first.stdout
    assert bdaemon.docker("run", "--rm", "bldh-dk:1", check=True).stdout == "hi from the build\n"
    files = bdaemon.docker("run", "--rm", "bldh-dk:1", "ls", "/srv", check=True).stdout.split()
    assert files == ["main.txt", "msg"]  # debug.log: .dockerignore
    again = _docker_build(bdaemon, "-t", "bldh-dk:2", "--build-arg", "MSG=hi", ctx)
    assert again.returncode == 0 and "Running in" not in again.stdout and again.stdout.count("Using cache") == 6
    ids = {json.loads(bdaemon.docker("image", "inspect", t, check=True).stdout)[0]["Id"]
           for t in ("bldh-dk:1", "bldh-dk:2")}
    assert len(ids) == 1
    quiet = _docker_build(bdaemon, "-q", "--build-arg", "MSG=hi", ctx)
    assert quiet.returncode == 0 and quiet.stdout.strip() == ids.pop()
    hist = bdaemon.docker("history", "bldh-dk:1", check=True).stdout.splitlines()
    assert "CMD" in hist[1] and "WORKDIR" in hist[2]
    assert "<none>" not in bdaemon.docker("images", check=True).stdout


def test_docker_build_failing_run_and_bad_dockerfile(bdaemon, tmp_path):
    ctx = _ctx(tmp_path / "ctx", "FROM busybox\nRUN echo partial; exit 7\n")
    failed = _docker_build(bdaemon, "-t", "bldh-fail", ctx)
    assert failed.returncode == 1 and "partial" in failed.stdout
    assert "The command '/bin/sh -c echo partial; exit 7' returned a non-zero code: 7" in failed.stderr
    assert "bldh-fail" not in bdaemon.docker("images", check=True).stdout
    assert bdaemon.docker("ps", "-aq", check=True).stdout == ""
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nBOGUS x\n")
    bad = _docker_build(bdaemon, ctx)
    assert bad.returncode == 1 and "Dockerfile parse error line 2: unknown instruction: BOGUS" in bad.stderr


def test_build_api_refuses_what_it_cannot_do(bdaemon):
    status, body = bdaemon.request("POST", "/v1.41/build?t=bldh-x", b"this is not a tar", "application/x-tar")
    assert status == 400 and b"not a tar archive" in body
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"FROM busybox\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    status, body = bdaemon.request("POST", "/v1.41/build?version=2", buf.getvalue(), "application/x-tar")
    assert status == 400 and b"DOCKER_BUILDKIT=0" in body
    status, body = bdaemon.request("POST", "/v1.41/build?memory=1000000", buf.getvalue(), "application/x-tar")
    assert status == 400 and b"memory" in body
    status, body = bdaemon.request("POST", "/v1.41/build?dockerfile=../x", buf.getvalue(), "application/x-tar")
    assert status == 400 and b"within the build context" in body


def test_docker_commit_diff_and_history(bdaemon):
    bdaemon.docker("run", "--name", "bldh-cm", "busybox", "sh", "-c", "echo saved > /saved; rm /bin/ls",
                   check=True)
    diff = bdaemon.docker("diff", "bldh-cm", check=True).stdout.splitlines()
    assert "A /saved" in diff and "D /bin/ls" in diff
    out = bdaemon.docker("commit", "-m", "by docker", "-c", 'CMD ["cat", "/saved"]', "bldh-cm", "bldh-cm:v1",
                         check=True).stdout
    assert out.strip().startswith("sha256:")
    bdaemon.docker("rm", "bldh-cm", check=True)
    assert bdaemon.docker("run", "--rm", "bldh-cm:v1", check=True).stdout == "saved\n"
    hist = bdaemon.docker("history", "--format", "{{.Comment}}", "bldh-cm:v1", check=True).stdout
    assert hist.splitlines()[0] == "by docker"
    missing = bdaemon.docker("commit", "bldh-nothing", "x")
    assert missing.returncode != 0 and "No such container: bldh-nothing" in missing.stderr


def test_docker_py_build_then_push_to_a_registry(bdaemon, tmp_path, monkeypatch):
    import docker
    client = docker.DockerClient(base_url=bdaemon.unix_url, timeout=120)
    try:
        ctx = _ctx(tmp_path / "ctx")
        image, logs = client.images.build(path=ctx, tag="bldh-py:1", buildargs={"MSG": "py"})
        lines = "".join(chunk.get("stream", "") for chunk in logs)
        assert "Successfully built" in lines and image.tags == ["bldh-py:1"]
        assert client.containers.run("bldh-py:1", remove=True) == b"py from the build\n"
        with pytest.raises(docker.errors.BuildError) as failed:
            client.images.build(path=_ctx(tmp_path / "bad", "FROM busybox\nRUN exit 4\n"), tag="bldh-py:bad")
        assert "returned a non-zero code: 4" in str(failed.value)
        assert not client.images.list(name="bldh-py:bad")
        monkeypatch.setattr(R, "free_port", lambda: REGISTRY_PORT)
        reg = R.RegistryServer(str(tmp_path / "registry"))
        try:
            target = f"{reg.host}/bldh/app:1"
            image.tag(target)
            for _ in client.images.push(target, stream=True, decode=True):
                pass
            seen = json.loads(R.skopeo("inspect", "--tls-verify=false", f"docker://{target}"))
            assert len(seen["Layers"]) == 2 and seen["Digest"].startswith("sha256:")
            client.images.remove(target)
            client.images.remove("bldh-py:1")
            client.images.pull(target)
            assert client.containers.run(target, remove=True) == b"py from the build\n"
        finally:
            reg.stop()
    finally:
        client.close()


def test_a_client_that_goes_away_stops_the_build(bdaemon, tmp_path):
    import time
    ctx = _ctx(tmp_path / "ctx", "FROM busybox\nRUN echo started; sleep 60\n")
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_CONFIG=bdaemon.config, DOCKER_BUILDKIT="0")
    proc = subprocess.Popen([docker, "-H", bdaemon.unix_url, "build", "-t", "bldh-gone", ctx], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("started"):
                break
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15
    while bdaemon.leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bdaemon.leftovers() == []
    layers = os.path.join(bdaemon.root, "layers")
    assert not [n for n in os.listdir(layers) if ".tmp" in n]
    assert "bldh-gone" not in bdaemon.docker("images", check=True).stdout


def test_nsrun_remote_build_sends_the_context_without_ignored_files(bdaemon, tmp_path):
    from conftest import NSRUN
    ctx = _ctx(tmp_path / "ctx", "FROM busybox\nCOPY . /ctx/\n", {"secret.log": "no\n"})
    other = tmp_path / "Other.dockerfile"
    other.write_text("FROM busybox\nCOPY app /app\nCMD [\"ls\", \"/app\"]\n")

    def remote(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([NSRUN, "-H", bdaemon.unix_url, *args], capture_output=True, text=True, timeout=120)
    out = remote("build", "-t", "bldh-remote", ctx)
    assert out.returncode == 0 and "Successfully tagged bldh-remote:latest" in out.stdout, out.stderr
    listing = bdaemon.docker("run", "--rm", "bldh-remote", "find", "/ctx", "-type", "f", check=True).stdout
    assert sorted(listing.split()) == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/app/main.txt",
                                       "/ctx/secret.log"]  # */*.log excludes app/debug.log only
    iid = tmp_path / "iid"
    quiet = remote("build", "-q", "-f", str(other), "--iidfile", str(iid), "-t", "bldh-remote:2", ctx)
    assert quiet.returncode == 0 and quiet.stdout.strip() == iid.read_text()
    assert bdaemon.docker("run", "--rm", "bldh-remote:2", check=True).stdout == "main.txt\n"
    bad = remote("build", "-f", str(tmp_path / "nope"), ctx)
    assert bad.returncode == 125 and "Dockerfile" in bad.stderr and "Traceback" not in bad.stderr
