"""Every user mistake: one line on stderr, exit 125 (126/127 for the command), nothing created."""
from __future__ import annotations

import os

import pytest


def _nothing_created(root: str) -> None:
    cdir = os.path.join(root, "containers")
    assert not os.path.isdir(cdir) or [d for d in os.listdir(cdir) if not d.startswith(".")] == []


@pytest.mark.parametrize("args, words", [
    (["--plugins", "pid,nope", "run", "busybox", "true"], "unknown plugin 'nope'"),
    (["--plugins", "motd", "run", "busybox", "true"], "requires 'mnt'"),
    (["run", "--pull", "never", "nosuchimage", "true"], "Unable to find image"),  # never: no traffic to Hub
    (["run", "--rootfs", "/nonexistent-nsrun", "true"], "no such directory"),
    (["run", "-v", "./relative:/x", "busybox", "true"], "absolute"),
    (["run", "-v", "/nonexistent-nsrun:/x", "busybox", "true"], "does not exist"),
    (["run", "-v", "/tmp:/x:rw:x", "busybox", "true"], "invalid volume"),
    (["run", "-e", "=oops", "busybox", "true"], "invalid environment variable"),
    (["run", "--name", "a/b", "busybox", "true"], "Invalid container name"),
    (["run", "--name", "a b", "busybox", "true"], "Invalid container name"),
    (["run", "--hostname", "not_valid!", "busybox", "true"], "invalid hostname"),
    (["run", "-w", "relative", "busybox", "true"], "absolute path"),
    (["--plugins", "pid,mnt", "run", "--hostname", "x", "busybox", "true"], "needs the 'uts' plugin"),
    (["run", "-u", "ghost", "busybox", "true"], "unable to find user"),
    (["run", "--no-such-flag", "busybox", "true"], "No such option"),
    (["run"], "requires at least 1 argument"),
    (["rm", "ghost"], "No such container"),
    (["image", "import", "/nonexistent-nsrun.tar", "x"], "no such file"),
])
def test_one_line_exit_125_nothing_created(nsrun, nsrun_root, args, words):
    result = nsrun(*args)
    assert result.returncode in (125, 1) if args[0] == "rm" else result.returncode == 125, result
    err = result.stderr.strip()
    assert words in err, err
    assert "Traceback" not in err
    if "Usage" not in err:
        assert err.count("\n") == 0, err
    _nothing_created(nsrun_root)


def test_duplicate_name_is_refused_and_the_first_is_kept(nsrun, nsrun_root, unique):
    nsrun("run", "--name", f"dup{unique}", "busybox", "true", check=True)
    second = nsrun("run", "--name", f"dup{unique}", "busybox", "true")
    assert second.returncode == 125 and "already in use" in second.stderr
    assert len([d for d in os.listdir(os.path.join(nsrun_root, "containers")) if len(d) == 64]) == 1
    nsrun("rm", f"dup{unique}", check=True)


@pytest.mark.parametrize("argv, code", [(["nosuchcmd"], 127), (["/etc/passwd"], 126), (["/"], 126)])
def test_command_failures_map_to_docker_codes(nsrun, nsrun_root, argv, code):
    result = nsrun("run", "--rm", "busybox", *argv)
    assert result.returncode == code and result.stderr.count("\n") == 1
    _nothing_created(nsrun_root)
