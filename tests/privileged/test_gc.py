"""`kill -9` of nsrun at any point, then `nsrun gc`: nothing of the container is left and `ps -a` is true."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import leakcheck


def _wait_for(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _ps(nsrun) -> list[dict]:
    return [json.loads(line) for line in nsrun("ps", "-a", "--format", "json", check=True).stdout.splitlines()]


def test_kill_9_of_a_foreground_run_then_gc(nsrun, nsrun_root, unique):
    proc = nsrun.popen("run", "--rm", "--name", f"g{unique}", "busybox", "sleep", "60")
    _wait_for(lambda: any(r["State"] == "running" for r in _ps(nsrun)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not leakcheck.processes(nsrun_root))  # the container died with its parent
    assert [r["State"] for r in _ps(nsrun)] == ["dead"]  # ps -a tells the truth before gc ...
    out = nsrun("gc", check=True).stdout
    assert f"g{unique}" in out
    assert _ps(nsrun) == []  # ... and after it (a --rm container is gone)


def test_kill_9_of_a_supervisor_then_gc_keeps_a_non_rm_container_as_exited(nsrun, nsrun_root, unique):
    name = f"v{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    cid = json.loads(nsrun("inspect", name, check=True).stdout)[0]["Id"]
    with open(os.path.join(nsrun_root, "containers", cid, "state.json")) as f:
        owner = json.load(f)["owner_pid"]
    assert f"supervisor pid {owner}" in leakcheck.supervisors(nsrun_root)
    os.kill(owner, signal.SIGKILL)
    _wait_for(lambda: not leakcheck.processes(nsrun_root))
    nsrun("gc", check=True)
    rows = _ps(nsrun)
    assert [(r["Names"], r["State"]) for r in rows] == [(name, "exited")]
    nsrun("rm", name, check=True)


def test_kill_9_at_random_points_of_a_user_namespace_start(nsrun, nsrun_root):
    """The user plugin mounts an idmapped view of the image on the host between post_userns and post_start:
    the riskiest window. Kill nsrun at random moments of many starts; gc must leave nothing."""
    rng = random.Random(1234)
    for _ in range(12):
        proc = nsrun.popen("--plugins", "user,pid,mnt,ipc,uts,sec", "run", "--rm", "busybox", "true",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.12))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _wait_for(lambda: not leakcheck.processes(nsrun_root))
    nsrun("gc", check=True)
    assert _ps(nsrun) == []
    assert not leakcheck.mounts(nsrun_root)
    assert not leakcheck.state(nsrun_root)
    assert not leakcheck.staging(nsrun_root)  # kills during the first start's busybox build: gc removed them


def test_gc_removes_an_image_being_made_only_once_its_maker_is_dead(nsrun, nsrun_root):
    """The first start builds the busybox image in a staging directory; killed there, nsrun leaves it. gc
    removes it, but never one whose maker is alive (it holds a flock on it), as another process's is."""
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3):  # somewhere in the interpreter's start and the build
        proc = nsrun.popen("run", "--rm", "busybox", "true", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if leakcheck.staging(nsrun_root):
            break
    images = os.path.join(nsrun_root, "images")
    os.makedirs(images, exist_ok=True)
    held = os.path.join(images, "other.tmpalive")
    os.mkdir(held)
    holder = subprocess.Popen(["flock", "--no-fork", held, "sleep", "30"])  # a live maker, as _staging locks
    try:
        _wait_for(lambda: subprocess.run(["flock", "-n", held, "true"]).returncode != 0)
        nsrun("gc", check=True)
        assert leakcheck.staging(nsrun_root) == {held}
    finally:
        holder.kill()
        holder.wait()
    nsrun("gc", check=True)
    assert not leakcheck.staging(nsrun_root)
