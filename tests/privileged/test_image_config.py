"""The image config applied to runs, through the real CLI: an image imported with ``--change`` (as
``docker import --change``) and run with Docker's rules for ENTRYPOINT/CMD/ENV/WORKDIR/USER/LABEL/STOPSIGNAL,
and ``-P`` publishing its EXPOSE on the default bridge."""
from __future__ import annotations

import json
import os
import tarfile
import time
import urllib.request

import pytest

from nsrun import Paths
from nsrun._images import Images

HTTPD = "mkdir -p /www && echo hello-from-P > /www/index.html && exec httpd -f -p 80 -h /www"


@pytest.fixture
def rootfs_tar(nsrun, nsrun_root, tmp_path) -> str:
    """busybox's root filesystem as a tar (the built-in image, made on first use)."""
    nsrun("run", "--rm", "busybox", "true", check=True)
    path = str(tmp_path / "rootfs.tar")
    with tarfile.open(path, "w") as tf:
        tf.add(Images(Paths.from_root(nsrun_root)).rootfs("busybox"), arcname=".")
    return path


def _import(nsrun, tar: str, name: str, *changes: str) -> None:
    args = [a for change in changes for a in ("--change", change)]
    nsrun("image", "import", *args, tar, name, check=True)


def _inspect(nsrun, name: str) -> dict:
    return json.loads(nsrun("inspect", name, check=True).stdout)[0]


def test_entrypoint_cmd_env_workdir_user_labels_from_the_image(nsrun, rootfs_tar):
    _import(nsrun, rootfs_tar, "cfg:1", 'ENTRYPOINT ["/bin/echo", "entry"]', 'CMD ["default"]',
            "ENV FOO=image BAR=image", "WORKDIR /work", "USER nobody", "LABEL maker=image kept=yes")
    assert nsrun("run", "--rm", "cfg:1", check=True).stdout == "entry default\n"
    assert nsrun("run", "--rm", "cfg:1", "mine", "too", check=True).stdout == "entry mine too\n"
    assert nsrun("run", "--rm", "--entrypoint", "/bin/echo", "cfg:1", check=True).stdout == "\n"  # CMD dropped
    shown = nsrun("run", "--rm", "--entrypoint", "", "-e", "BAR=user", "cfg:1", "sh", "-c",
                  'echo $FOO $BAR $PATH; pwd; id -u', check=True).stdout.split("\n")
    assert shown[:3] == ["image user /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/work",
                         "65534"]
    mine = nsrun("run", "--rm", "-w", "/tmp", "-u", "0", "--entrypoint", "sh", "cfg:1", "-c", "pwd; id -u",
                 check=True).stdout
    assert mine == "/tmp\n0\n"
    nsrun("run", "--name", "cfg-inspected", "cfg:1", check=True)
    try:
        config = _inspect(nsrun, "cfg-inspected")["Config"]
        assert config["Entrypoint"] == ["/bin/echo", "entry"] and config["Cmd"] == ["default"]
        assert config["Labels"] == {"maker": "image", "kept": "yes"}
        assert "FOO=image" in config["Env"] and config["WorkingDir"] == "/work"
    finally:
        nsrun("rm", "cfg-inspected", check=True)


def test_busybox_keeps_sh_as_its_default_command(nsrun):
    assert nsrun("run", "--rm", "-i", "busybox", input="echo from-sh\n", check=True).stdout == "from-sh\n"


def test_no_command_anywhere_is_one_line_exit_125_and_creates_nothing(nsrun, nsrun_root, rootfs_tar):
    _import(nsrun, rootfs_tar, "nocmd")
    for args in (["nocmd"], ["--entrypoint", "", "busybox"]):
        result = nsrun("run", "--rm", *args)
        assert result.returncode == 125 and result.stderr.strip() == "nsrun: No command specified", result.stderr
    assert nsrun("ps", "-a", "-q", check=True).stdout == ""
    containers = os.path.join(nsrun_root, "containers")
    assert [e for e in os.listdir(containers) if not e.startswith(".")] == []
    assert os.listdir(os.path.join(containers, ".names")) == []


@pytest.mark.parametrize("change, words", [("RUN true", "RUN is not supported"),
                                           ("STOPSIGNAL NOPE", "invalid signal"),
                                           ('CMD ["x", 1]', "JSON array")])
def test_bad_change_is_refused_before_anything_is_imported(nsrun, rootfs_tar, change, words):
    result = nsrun("image", "import", "--change", change, rootfs_tar, "badcfg")
    assert result.returncode == 125 and words in result.stderr and len(result.stderr.splitlines()) == 1
    assert "badcfg" not in nsrun("image", "ls", check=True).stdout


def test_stop_sends_the_images_stop_signal_and_stop_signal_overrides_it(nsrun, rootfs_tar):
    trap = 'trap "exit 7" USR1; trap "exit 8" USR2; while :; do sleep 0.05; done'
    _import(nsrun, rootfs_tar, "stopper", f'CMD ["sh", "-c", {json.dumps(trap)}]', "STOPSIGNAL SIGUSR1")
    nsrun("run", "-d", "--name", "by-image", "stopper", check=True)
    nsrun("run", "-d", "--name", "by-flag", "--stop-signal", "USR2", "stopper", check=True)
    try:
        time.sleep(0.3)  # the traps are set
        started = time.monotonic()
        nsrun("stop", "by-image", "by-flag", check=True)
        assert time.monotonic() - started < 5  # not the 10 s of a SIGKILL after an ignored SIGTERM
        assert _inspect(nsrun, "by-image")["State"]["ExitCode"] == 7
        assert _inspect(nsrun, "by-flag")["State"]["ExitCode"] == 8
        assert _inspect(nsrun, "by-image")["Config"]["StopSignal"] == "SIGUSR1"
    finally:
        nsrun("rm", "-f", "by-image", "by-flag", check=True)
    bad = nsrun("run", "--rm", "--stop-signal", "NOPE", "stopper")
    assert bad.returncode == 125 and "invalid signal" in bad.stderr


def _fetch(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_publish_all_publishes_the_images_and_exposed_ports_to_free_host_ports(nsrun, rootfs_tar, unique):
    _import(nsrun, rootfs_tar, "web", f'CMD ["sh", "-c", {json.dumps(HTTPD)}]', "EXPOSE 80")
    name = f"web{unique}"
    nsrun("run", "-d", "--name", name, "-P", "--expose", "5353/udp", "web", check=True)
    try:
        info = _inspect(nsrun, name)
        assert info["Config"]["ExposedPorts"] == {"80/tcp": {}, "5353/udp": {}}
        ports = info["Info"]["NetworkSettings"]["Ports"]
        assert set(ports) == {"80/tcp", "5353/udp"}
        host_port = int(ports["80/tcp"][0]["HostPort"])
        assert ports["80/tcp"][0]["HostIp"] == "0.0.0.0" and 32768 <= host_port <= 60999
        assert _fetch(host_port) == b"hello-from-P\n"
        listed = nsrun("port", name, check=True).stdout.splitlines()
        assert f"80/tcp -> 0.0.0.0:{host_port}" in listed and len(listed) == 2
        assert nsrun("port", name, "80", check=True).stdout == f"0.0.0.0:{host_port}\n"
        missing = nsrun("port", name, "81/tcp")
        assert missing.returncode == 125 and "No public port '81/tcp'" in missing.stderr
    finally:
        nsrun("rm", "-f", name, check=True)
    # Without -P the image's EXPOSE is only recorded
    nsrun("run", "-d", "--name", name, "web", check=True)
    try:
        info = _inspect(nsrun, name)
        assert info["Config"]["ExposedPorts"] == {"80/tcp": {}} and not info["Info"]["NetworkSettings"]["Ports"]
    finally:
        nsrun("rm", "-f", name, check=True)
