"""``nsrun -H`` runs every CLI command through the daemon with the embedded CLI's output and exit codes."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import NSRUN  # tests/compat/conftest.py
from nsrun._plugins import installed_plugins

# No bridge in these tests: with the net plugin installed its default network mode would make one.
NET = ("--network", "none") if "net" in installed_plugins() else ()


def nsrun(daemon, *args, remote: bool, input: str | None = None, env: dict | None = None):
    prefix = ["-H", daemon.unix_url] if remote else ["--root", daemon.root]
    return subprocess.run([NSRUN, *prefix, *args], capture_output=True, text=True, input=input, timeout=60,
                          env={**os.environ, **(env or {})})


def both(daemon, *args, input: str | None = None):
    return nsrun(daemon, *args, remote=False, input=input), nsrun(daemon, *args, remote=True, input=input)


def same(a, b) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), (a, b)


def timeless(result):
    """A ps result with its relative times blanked (the two runs may straddle a second)."""
    return result.returncode, re.sub(r"\d+ (second|minute)s", r"N \1s", result.stdout), result.stderr


@pytest.mark.parametrize("args", [
    ("run", *NET, "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"),
    ("run", *NET, "--rm", "--hostname", "boxy", "-e", "A=1", "busybox", "sh", "-c", "hostname; echo $A"),
    ("run", *NET, "--rm", "busybox", "nosuchcommand"),
    ("run", *NET, "--rm", "--pull", "never", "nosuch:image", "true"),  # never: no traffic to Docker Hub
    ("run", *NET, "--rm", "--name", "bad name", "busybox", "true"),
    ("--plugins", "nosuchplugin", "run", *NET, "--rm", "busybox", "true"),
    ("--plugins", "mnt", "run", "--rm", "--hostname", "x", "busybox", "true"),
    ("rm", "nosuch"), ("stop", "nosuch"), ("kill", "nosuch"), ("inspect", "nosuch"), ("logs", "nosuch"),
    ("exec", "nosuch", "true"), ("image", "rm", "nosuch:img"),
])
def test_same_output_and_exit_code(daemon, args):
    embedded, remote = both(daemon, *args)
    same(embedded, remote)


def test_piped_stdin_and_a_detached_lifecycle(daemon):
    same(*both(daemon, "run", *NET, "--rm", "-i", "busybox", "sh", "-c", "cat; echo end", input="a\nb\n"))
    cid = nsrun(daemon, "run", *NET, "-d", "--name", "svc", "busybox", "sh", "-c", "echo up; exec sleep 30",
                remote=True).stdout.strip()
    assert len(cid) == 64
    embedded, remote = both(daemon, "ps")
    assert timeless(embedded) == timeless(remote)
    assert "svc" in remote.stdout
    embedded, remote = both(daemon, "ps", "-a", "--format", "json")
    assert timeless(embedded) == timeless(remote)
    same(*both(daemon, "exec", "svc", "sh", "-c", "echo in; echo e >&2; exit 5"))
    same(*both(daemon, "exec", "-i", "svc", "cat", input="stdin-data\n"))
    same(*both(daemon, "logs", "svc"))
    same(*both(daemon, "inspect", "svc"))
    same(*both(daemon, "kill", "-s", "BOGUS", "svc"))
    r = nsrun(daemon, "rm", "svc", remote=True)
    assert r.returncode == 1 and "You cannot remove a running container" in r.stderr
    assert nsrun(daemon, "stop", "-t", "1", "svc", remote=True).stdout == "svc\n"
    embedded, remote = both(daemon, "ps", "-a")
    assert timeless(embedded) == timeless(remote)
    assert nsrun(daemon, "rm", "svc", remote=True).stdout == "svc\n"


def test_images_and_gc_through_the_daemon(daemon, tmp_path):
    import tarfile
    rootfs = tmp_path / "r"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "hello").write_text("#!/bin/sh\n")
    tar_path = tmp_path / "r.tar"
    with tarfile.open(tar_path, "w") as tf:
        tf.add(rootfs, arcname=".")
    r = nsrun(daemon, "image", "import", str(tar_path), "tiny:1", remote=True)
    assert r.returncode == 0 and r.stdout.startswith("sha256:"), r
    same(*both(daemon, "image", "ls"))
    # as the embedded `image rm` prints it (Docker's rmi list)
    assert nsrun(daemon, "image", "rm", "tiny:1", remote=True).stdout.startswith("Untagged: tiny:1\nDeleted: sha256:")
    assert nsrun(daemon, "gc", remote=True).returncode == 0


def test_nsrun_host_from_the_environment_and_an_unreachable_daemon(daemon):
    r = nsrun(daemon, "ps", remote=False, env={"NSRUN_HOST": daemon.unix_url})
    assert r.returncode == 0 and r.stdout.startswith("CONTAINER ID")
    r = subprocess.run([NSRUN, "-H", f"unix://{daemon.root}/nothing.sock", "ps"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 125 and "cannot connect to the nsrun daemon" in r.stderr
