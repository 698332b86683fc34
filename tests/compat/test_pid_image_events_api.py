"""Through ``nsrun daemon`` with the real docker CLI: ``--pid host`` (the pid plugin's ``HostConfig.PidMode``,
inspect showing it back, a 400 naming the field for what it refuses) and image events (``docker tag``, ``rmi``,
``image load`` seen by ``events --since`` with ``type=image``/``image=NAME`` filters). Names pdv*, TCP ports
19050-19099."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time


from conftest import Daemon

NONE = ("--network", "none")


def test_pid_host_with_init_and_inspect(daemon):
    d = daemon
    host_ns = os.readlink("/proc/self/ns/pid")
    out = d.docker("run", "--rm", *NONE, "--pid", "host", "--init", "busybox", "sh", "-c",
                   f"readlink /proc/self/ns/pid; test -d /proc/{os.getpid()} && echo seen", check=True).stdout
    assert out.split() == [host_ns, "seen"]
    d.docker("create", "--name", "pdvpid", *NONE, "--pid", "host", "busybox", "true", check=True)
    d.docker("create", "--name", "pdvpriv", *NONE, "busybox", "true", check=True)
    try:
        views = json.loads(d.docker("inspect", "pdvpid", "pdvpriv", check=True).stdout)
        assert [v["HostConfig"]["PidMode"] for v in views] == ["host", ""]
    finally:
        d.docker("rm", "pdvpid", "pdvpriv", check=True)
    res = d.docker("create", *NONE, "--pid", "container:pdvpid", "busybox", "true")
    assert res.returncode != 0 and "No such container: pdvpid" in res.stderr
    status, body = d.post_json("/containers/create?name=pdvbad", {"Image": "busybox", "HostConfig": {"PidMode": "bogus"}})
    assert status == 400 and "HostConfig.PidMode 'bogus'" in body["message"], body   # the CLI checks this itself


def _events(d: Daemon, *args: str) -> list[dict]:
    out = d.docker("events", *args, "--format", "{{json .}}", check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_image_events_replayed_by_since_and_filtered(daemon, tmp_path):
    d = daemon
    since = str(int(time.time()) - 1)
    image_id = d.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip()
    d.docker("tag", "busybox", "pdvimg:1", check=True)
    saved = str(tmp_path / "pdv.tar")
    d.docker("save", "-o", saved, "pdvimg:1", check=True)
    d.docker("rmi", "pdvimg:1", check=True)                       # busybox keeps its tag: untag only
    d.docker("image", "load", "-i", saved, check=True)
    d.docker("rmi", "pdvimg:1", check=True)
    root = tmp_path / "rootfs.tar"
    with tarfile.open(root, "w") as tf:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    new_id = d.docker("import", str(root), "pdvimp", check=True).stdout.strip()
    d.docker("rmi", "pdvimp", check=True)                         # its only tag: untag and delete
    until = str(int(time.time()) + 1)
    evs = _events(d, "--since", since, "--until", until, "--filter", "type=image")
    got = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in evs]
    assert got == [("tag", image_id, "pdvimg:1"), ("save", image_id, image_id), ("untag", image_id, image_id),
                   ("load", image_id, image_id), ("untag", image_id, image_id), ("import", new_id, new_id),
                   ("untag", new_id, new_id), ("delete", new_id, new_id)], got
    assert all(e["Type"] == "image" and e["scope"] == "local" and e["timeNano"] // 10**9 == e["time"] for e in evs)
    named = _events(d, "--since", since, "--until", until, "--filter", "image=pdvimg")
    assert [e["Action"] for e in named] == ["tag"]                  # pdvimg:1 by name, without a tag
    assert _events(d, "--since", since, "--until", until, "--filter", "type=container") == []


def test_image_events_in_the_live_stream(daemon):
    d = daemon
    d.docker("image", "inspect", "busybox", check=True)             # the built-in busybox, made on first use
    until = str(int(time.time()) + 4)
    docker = [shutil.which("docker") or "/usr/local/bin/docker", "-H", d.unix_url, "events", "--until", until, "--filter", "type=image",
              "--filter", "event=tag", "--filter", "event=untag", "--format", "{{json .}}"]
    proc = subprocess.Popen(docker, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        d.docker("tag", "busybox", "pdvlive", check=True)
        d.docker("rmi", "pdvlive", check=True)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in map(json.loads, out.splitlines())]
    assert got[0] == ("tag", "pdvlive:latest") and got[1][0] == "untag" and len(got) == 2, got
