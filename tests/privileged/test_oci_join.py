"""nsrun-oci joins the ipc and uts namespaces a config.json names by ``path`` (as a Kubernetes pod's containers
join their sandbox's), each through the plugin that owns it; a path that does not exist is one line, exit 1,
nothing left. The namespaces are real: made by util-linux ``unshare --ipc=FILE`` / ``--uts=FILE`` (held by a bind
mount on a file under the test's root, unmounted at the end), not the host's."""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from test_oci_runtime import make_bundle, oci, records

NEW = [{"type": t} for t in ("pid", "network", "mount")]


def _held(root: str, kind: str, *then: str) -> str:
    """A new ``kind`` namespace held by a bind mount on ``<root>/<kind>.ns``, after running ``then`` in it."""
    path = os.path.join(root, f"{kind}.ns")
    open(path, "w").close()
    subprocess.run(["unshare", f"--{kind}={path}", *(then or ["true"])], check=True, capture_output=True)
    return path


def _release(path: str) -> None:
    subprocess.run(["umount", path], capture_output=True)


def test_a_uts_namespace_path_is_joined_and_keeps_its_hostname(nsrun_root, unique):
    bundle = os.path.join(nsrun_root, "bundle")
    name = f"o13b{unique}"
    held = _held(nsrun_root, "uts", "hostname", name)
    try:
        make_bundle(bundle, ["hostname"], hostname="",  # no name of its own: the joined one's stays
                    linux={"namespaces": NEW + [{"type": "ipc"}, {"type": "uts", "path": held}]})
        result = oci(nsrun_root, "run", "--bundle", bundle, f"o13b{unique}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == name and socket.gethostname() != name
        # and a container of its own uts namespace still gets its own name, not the joined one's
        make_bundle(bundle, ["hostname"], hostname=f"o13bown{unique}",
                    linux={"namespaces": NEW + [{"type": "ipc"}, {"type": "uts"}]})
        own = oci(nsrun_root, "run", "--bundle", bundle, f"o13b{unique}b")
        assert own.returncode == 0 and own.stdout.strip() == f"o13bown{unique}", own.stderr
        joined = subprocess.run(["nsenter", f"--uts={held}", "hostname"], capture_output=True, text=True)
        assert joined.stdout.strip() == name
    finally:
        _release(held)
    assert records(nsrun_root) == []


def test_an_ipc_namespace_path_is_joined_and_its_objects_are_seen(nsrun_root, unique):
    bundle = os.path.join(nsrun_root, "bundle")
    held = _held(nsrun_root, "ipc", "ipcmk", "-M", "4096", "-p", "0600")
    try:
        made = subprocess.run(["nsenter", f"--ipc={held}", "cat", "/proc/sysvipc/shm"], capture_output=True,
                              text=True, check=True).stdout.splitlines()[1:]
        assert len(made) == 1  # the segment ipcmk made, alone in its namespace
        shmid = made[0].split()[1]
        make_bundle(bundle, ["cat", "/proc/sysvipc/shm"],
                    linux={"namespaces": NEW + [{"type": "uts"}, {"type": "ipc", "path": held}]})
        result = oci(nsrun_root, "run", "--bundle", bundle, f"o13b{unique}")
        assert result.returncode == 0, result.stderr
        assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == [shmid]
        # the same bundle with a namespace of its own sees none of them
        make_bundle(bundle, ["cat", "/proc/sysvipc/shm"], linux={"namespaces": NEW + [{"type": "uts"},
                                                                                      {"type": "ipc"}]})
        own = oci(nsrun_root, "run", "--bundle", bundle, f"o13b{unique}b")
        assert own.returncode == 0 and own.stdout.splitlines()[1:] == [], own.stdout
    finally:
        _release(held)
    assert records(nsrun_root) == []


@pytest.mark.parametrize("kind", ["ipc", "uts"])
def test_a_missing_namespace_path_is_one_line_exit_1_and_leaves_nothing(nsrun_root, unique, kind):
    bundle = os.path.join(nsrun_root, "bundle")
    missing = f"/proc/1/ns/{kind}-o13b-nosuch"
    make_bundle(bundle, ["true"], linux={"namespaces": NEW + [{"type": "ipc" if kind == "uts" else "uts"},
                                                              {"type": kind, "path": missing}]})
    result = oci(nsrun_root, "create", "--bundle", bundle, f"o13b{unique}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"{kind} namespace {missing}: no such file or directory" in result.stderr
    assert records(nsrun_root) == []


@pytest.mark.parametrize("kind", ["mount", "user", "cgroup"])  # pid: test_pid_ipc_join
def test_other_namespace_paths_are_still_refused_by_name(nsrun_root, unique, kind):
    bundle = os.path.join(nsrun_root, "bundle")
    others = [ns for ns in NEW + [{"type": "ipc"}, {"type": "uts"}] if ns["type"] != kind]
    make_bundle(bundle, ["true"], linux={"namespaces": others + [{"type": kind, "path": f"/proc/1/ns/{kind}"}]})
    result = oci(nsrun_root, "create", "--bundle", bundle, f"o13b{unique}")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "not supported" in result.stderr and (kind in result.stderr or "mnt" in result.stderr)
    assert records(nsrun_root) == []
