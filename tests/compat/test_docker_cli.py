"""The real docker CLI (28.x) against nsrun's daemon, over the unix socket and loopback TCP."""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time

import pytest

NONE = ("--network", "none")


def test_version_and_info(daemon):
    assert os.stat(daemon.sock).st_mode & 0o777 == 0o660
    out = daemon.docker("version", check=True).stdout
    assert "API version:      1.41" in out and "Server: nsrun" in out
    info = daemon.docker("info", "--format", "{{.OperatingSystem}} {{.NCPU}} {{.Containers}}", check=True)
    assert info.stdout.split()[-1] == "0"
    assert " GET /v1.41/info 200 " in daemon.log()      # one line per request


@pytest.mark.parametrize("via", ["unix", "tcp"])
def test_run_streams_output_and_returns_the_exit_code(daemon, via):
    host = daemon.unix_url if via == "unix" else daemon.tcp_url
    r = daemon.docker("run", "--rm", *NONE, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", host=host)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert daemon.leftovers() == []


def test_run_without_rm_keeps_an_exited_container(daemon):
    r = daemon.docker("run", "--name", "keep", *NONE, "busybox", "sh", "-c", "echo kept; exit 4")
    assert (r.returncode, r.stdout) == (4, "kept\n")
    ps = daemon.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout
    assert "keep Exited (4)" in ps
    assert daemon.docker("ps", "--format", "{{.Names}}", check=True).stdout.strip() == ""
    daemon.docker("rm", "keep", check=True)


def test_run_hostname_env_and_piped_stdin(daemon):
    r = daemon.docker("run", "--rm", *NONE, "--hostname", "boxy", "-e", "FOO=bar", "busybox", "sh", "-c",
                      "hostname; echo $FOO", check=True)
    assert r.stdout == "boxy\nbar\n"
    r = daemon.docker("run", "--rm", "-i", *NONE, "busybox", "sh", "-c", "cat; echo done",
                      input="line1\nline2\n", check=True)
    assert r.stdout == "line1\nline2\ndone\n"


def in_terminal(daemon, docker_args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """The docker CLI on a pseudo-terminal (util-linux ``script``), as a person at a terminal runs it."""
    if shutil.which("script") is None:
        pytest.fail("`script` (util-linux) is needed to give the docker CLI a terminal")
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    env = {**os.environ, "DOCKER_CONFIG": daemon.config}
    return subprocess.run(["script", "-qec", f"{docker} -H {daemon.unix_url} {docker_args}", "/dev/null"],
                          capture_output=True, text=True, timeout=60, env=env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)


def test_run_and_exec_with_a_tty(daemon):
    r = in_terminal(daemon, "run --rm -it --network none busybox sh -c 'echo in-tty; exit 5'")
    assert r.returncode == 5 and "in-tty" in r.stdout, r
    daemon.docker("run", "-d", "--name", "term", *NONE, "busybox", "sleep", "60", check=True)
    r = in_terminal(daemon, "exec -it term sh", input="echo typed-$((6*7)); exit 7\n")
    assert r.returncode == 7 and "typed-42" in r.stdout, r
    daemon.docker("rm", "-f", "term", check=True)


def test_detached_lifecycle_logs_exec_stop_start_restart_kill_rm(daemon):
    script = 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.05; done'
    cid = daemon.docker("run", "-d", "--name", "web", *NONE, "busybox", "sh", "-c", script, check=True).stdout.strip()
    assert len(cid) == 64
    assert daemon.docker("ps", "--format", "{{.ID}} {{.Names}}", check=True).stdout.split() == [cid[:12], "web"]
    for _ in range(100):
        if daemon.docker("logs", "web").stdout == "started\n":
            break
        time.sleep(0.05)
    assert daemon.docker("logs", "web", check=True).stdout == "started\n"
    r = daemon.docker("exec", "web", "sh", "-c", "echo in-exec; echo e >&2; exit 6")
    assert (r.returncode, r.stdout, r.stderr) == (6, "in-exec\n", "e\n")
    assert daemon.docker("exec", "-i", "web", "cat", input="via-stdin\n", check=True).stdout == "via-stdin\n"
    inspect = daemon.docker("inspect", "--format", "{{.State.Status}} {{.Name}} {{.Config.Tty}}", "web", check=True)
    assert inspect.stdout.strip() == "running /web false"
    assert daemon.docker("stop", "web", check=True).stdout.strip() == "web"
    assert daemon.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web").stdout.strip() \
        == "exited 0"
    assert daemon.docker("logs", "web", check=True).stdout == "started\nbye\n"
    daemon.docker("start", "web", check=True)
    daemon.docker("restart", "-t", "1", "web", check=True)
    assert daemon.docker("inspect", "--format", "{{.State.Running}}", "web").stdout.strip() == "true"
    daemon.docker("kill", "web", check=True)    # returns once signalled, as dockerd's does
    assert daemon.docker("wait", "web", check=True).stdout.strip() == "137"
    assert daemon.docker("inspect", "--format", "{{.State.ExitCode}}", "web").stdout.strip() == "137"
    daemon.docker("start", "web", check=True)
    r = daemon.docker("rm", "web")
    assert r.returncode != 0 and "running" in r.stderr
    daemon.docker("rm", "-f", "web", check=True)
    assert daemon.docker("ps", "-aq").stdout == ""


def test_logs_follow_streams_until_exit(daemon):
    daemon.docker("run", "-d", "--name", "counter", *NONE, "busybox", "sh", "-c",
                  "for i in 1 2 3; do echo $i; sleep 0.1; done", check=True)
    assert daemon.docker("logs", "-f", "counter", check=True).stdout == "1\n2\n3\n"
    daemon.docker("rm", "counter", check=True)


def test_errors_and_exit_codes(daemon):
    r = daemon.docker("run", "--rm", *NONE, "busybox", "nosuchcommand")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    r = daemon.docker("run", "--rm", "--pull", "never", *NONE, "nosuch:img", "true")
    assert r.returncode == 125 and "Error response from daemon" in r.stderr and "nosuch" in r.stderr
    r = daemon.docker("inspect", "nosuchcontainer")
    assert r.returncode == 1 and "No such object: nosuchcontainer" in r.stderr
    r = daemon.docker("run", "--name", "bad name", *NONE, "busybox", "true")
    assert r.returncode == 125 and "Invalid container name" in r.stderr
    assert daemon.leftovers() == []


def test_import_images_and_image_rm(daemon, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for applet in ("sh", "echo"):
        os.symlink("busybox", rootfs / "bin" / applet)
    tar_path = tmp_path / "root.tar"
    with tarfile.open(tar_path, "w") as tf:
        tf.add(rootfs, arcname=".")
    with open(tar_path, "rb") as f:
        docker = shutil.which("docker") or "/usr/local/bin/docker"
        r = subprocess.run([docker, "-H", daemon.unix_url, "import", "-", "mini:v1"], stdin=f, capture_output=True,
                           text=True, timeout=60, env={**os.environ, "DOCKER_CONFIG": daemon.config})
    assert r.returncode == 0 and r.stdout.startswith("sha256:"), r
    images = daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert "mini:v1" in images
    assert daemon.docker("run", "--rm", *NONE, "mini:v1", "echo", "imported", check=True).stdout == "imported\n"
    assert "Untagged: mini:v1" in daemon.docker("image", "rm", "mini:v1", check=True).stdout
    assert "mini:v1" not in daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_network_ls_create_rm(daemon):
    names = daemon.docker("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    assert {"none", "host"} <= set(names)
    r = daemon.docker("network", "create", "--subnet", "10.130.77.0/24", "nsrtestnet")
    from nsrun._plugins import installed_plugins
    if "net" not in installed_plugins():
        assert r.returncode != 0 and "net plugin" in r.stderr
        assert daemon.docker("network", "rm", "none").returncode != 0
        return
    assert r.returncode == 0, r
    assert "nsrtestnet" in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout
    daemon.docker("network", "rm", "nsrtestnet", check=True)
