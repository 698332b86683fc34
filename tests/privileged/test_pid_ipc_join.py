"""Joining another container's namespaces, with real containers: ``--pid container:NAME`` (the pid plugin hands
the namespace to the core's fork protocol: each container sees the other's processes, and the joiner dies with
the first one's init, as with runc; an OCI config's pid ``path`` the same way) and ``--ipc container:NAME`` of a
``shareable`` container (its SysV objects, message queues and its /dev/shm files, both ways; a ``private`` one
is refused, Docker's rule). Refusals are one line, exit 125, nothing left (the leak check). Names pi4-*."""
from __future__ import annotations

import json
import os
import subprocess

from test_oci_runtime import make_bundle, oci, records
from waiting import wait_for

NONE = ("--network", "none")


def _one_line(res, words):
    assert res.returncode == 125 and words in res.stderr and res.stderr.count("\n") == 1, res.stderr


def _pid(nsrun, name: str) -> int:
    return json.loads(nsrun("inspect", name, check=True).stdout)[0]["State"]["Pid"]


def test_pid_container_shares_processes_both_ways_and_dies_with_the_first(nsrun, unique):
    first, joiner = f"pi4-p{unique}", f"pi4-pj{unique}"
    nsrun("run", "-d", "--name", first, *NONE, "busybox", "sleep", "61", check=True)
    try:
        pid = _pid(nsrun, first)
        res = nsrun("run", "--rm", *NONE, "--pid", f"container:{first}", "busybox", "sh", "-c",
                    "readlink /proc/self/ns/pid; echo $$; ps -o args", check=True)
        ns, me, *ps = res.stdout.split("\n")
        assert ns == os.readlink(f"/proc/{pid}/ns/pid") and me != "1"   # its namespace, not PID 1 there
        assert "sleep 61" in ps                                       # the first container's init, in a fresh /proc
        nsrun("run", "-d", "--name", joiner, *NONE, "--pid", f"container:{first}", "busybox", "sleep", "62",
              check=True)
        seen = nsrun("exec", first, "ps", "-o", "args", check=True).stdout.split("\n")
        assert "sleep 61" in seen and "sleep 62" in seen              # and the first sees the joiner's
        view = json.loads(nsrun("inspect", joiner, check=True).stdout)[0]
        joined = view["State"]["Pid"]
        assert os.readlink(f"/proc/{joined}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")
        nsrun("stop", "-t", "1", first, check=True)                   # its init exits: the kernel kills the rest
        assert nsrun("wait", joiner, timeout=20, check=True).stdout.strip() == "137"
        # a private namespace still is one of its own
        own = nsrun("run", "--rm", *NONE, "busybox", "sh", "-c", "echo $$", check=True)
        assert own.stdout.strip() == "1"
    finally:
        nsrun("rm", "-f", joiner, first)


def test_pid_container_refusals_are_one_line(nsrun, unique):
    name = f"pi4-pr{unique}"
    _one_line(nsrun("run", "--rm", *NONE, "--pid", "container:pi4-nosuch", "busybox", "true"),
              "No such container: pi4-nosuch")
    nsrun("create", "--name", name, *NONE, "busybox", "true", check=True)
    try:
        _one_line(nsrun("run", "--rm", *NONE, "--pid", f"container:{name}", "busybox", "true"),
                  f"cannot join PID of a non running container: {name}")
    finally:
        nsrun("rm", name, check=True)
    nsrun("run", "-d", "--name", name, *NONE, "busybox", "sleep", "60", check=True)
    try:  # a user namespace of its own could not mount that namespace's /proc: refused before anything exists
        _one_line(nsrun("--plugins", "user,pid,mnt,ipc,uts,sec", "run", "--rm", "--pid", f"container:{name}",
                        "busybox", "true"), "cannot be combined with a user namespace")
    finally:
        nsrun("rm", "-f", name, check=True)


def test_another_ipc_namespace_with_a_user_namespace_is_refused_before_anything_exists(nsrun, unique):
    """The user plugin's namespace may neither join the host's or a donor's IPC namespace nor mount its
    /dev/mqueue: one line up front, instead of a mount failing inside the setup."""
    name = f"pi4-iu{unique}"
    nsrun("run", "-d", "--name", name, *NONE, "--ipc", "shareable", "busybox", "sleep", "60", check=True)
    try:
        for mode in ("host", f"container:{name}"):
            _one_line(nsrun("--plugins", "user,pid,mnt,ipc,uts,sec", "run", "--rm", "--ipc", mode, "busybox",
                            "true"), f"--ipc {mode}: another IPC namespace cannot be combined with a user namespace")
    finally:
        nsrun("rm", "-f", name, check=True)


def test_ipc_of_a_shareable_container_shares_sysv_and_dev_shm_both_ways(nsrun, unique):
    donor = f"pi4-i{unique}"
    nsrun("run", "-d", "--name", donor, *NONE, "--ipc", "shareable", "busybox", "sh", "-c",
          "echo from-donor > /dev/shm/donor.txt; exec sleep 60", check=True)
    try:
        pid = _pid(nsrun, donor)
        assert wait_for(lambda: os.path.exists(f"/proc/{pid}/root/dev/shm/donor.txt"))
        subprocess.run(["nsenter", f"--ipc=/proc/{pid}/ns/ipc", "ipcmk", "-M", "4096"], check=True,
                       capture_output=True)                           # a SysV segment in the donor's namespace
        res = nsrun("run", "--rm", *NONE, "--ipc", f"container:{donor}", "busybox", "sh", "-c",
                    "cat /dev/shm/donor.txt; echo from-joiner > /dev/shm/joiner.txt; "
                    "tail -n +2 /proc/sysvipc/shm | wc -l; grep -c ' /dev/shm ' /proc/self/mounts", check=True)
        assert res.stdout.split() == ["from-donor", "1", "1"]       # one /dev/shm: the donor's, in place of its own
        back = nsrun("exec", donor, "cat", "/dev/shm/joiner.txt", check=True)
        assert back.stdout == "from-joiner\n"                         # the same tmpfs, not a copy
        alone = nsrun("run", "--rm", *NONE, "busybox", "sh", "-c", "ls /dev/shm; tail -n +2 /proc/sysvipc/shm",
                      check=True)
        assert alone.stdout == ""                                     # a private one sees none of it
    finally:
        nsrun("rm", "-f", donor)
    assert not os.path.exists(f"/proc/{pid}")


def test_ipc_of_a_private_container_is_refused_as_docker_does(nsrun, unique):
    name = f"pi4-ip{unique}"
    nsrun("run", "-d", "--name", name, *NONE, "busybox", "sleep", "60", check=True)
    try:
        _one_line(nsrun("run", "--rm", *NONE, "--ipc", f"container:{name}", "busybox", "true"),
                  f"cannot join IPC of container {name}: non-shareable IPC")
    finally:
        nsrun("rm", "-f", name, check=True)


def test_an_oci_pid_namespace_path_is_joined(nsrun_root, unique):
    """A pid namespace with a live init (util-linux ``unshare --pid --fork``), joined by path; once its init
    is gone the namespace cannot take new processes: one line, exit 1, nothing left."""
    bundle = os.path.join(nsrun_root, "bundle")
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sleep", "60"])
    try:
        assert wait_for(lambda: _child_of(holder.pid) is not None)
        init = _child_of(holder.pid)
        path = f"/proc/{init}/ns/pid"
        want = os.readlink(path)
        linux = {"namespaces": [{"type": "pid", "path": path}] + [{"type": t} for t in ("network", "mount", "ipc",
                                                                                     "uts")]}
        make_bundle(bundle, ["sh", "-c", "readlink /proc/self/ns/pid; ps -o args"], linux=linux)
        res = oci(nsrun_root, "run", "--bundle", bundle, f"pi4-o{unique}")
        assert res.returncode == 0, res.stderr
        ns, *ps = res.stdout.split("\n")
        assert ns == want and "sleep 60" in ps
        held = os.path.join(nsrun_root, "pid.ns")
        open(held, "w").close()
        subprocess.run(["mount", "--bind", path, held], check=True)
    finally:
        holder.kill()
        holder.wait()
    try:
        assert wait_for(lambda: _reap(init) or not os.path.exists(path))
        make_bundle(bundle, ["true"], linux={**linux, "namespaces": [{"type": "pid", "path": held}]
                                             + linux["namespaces"][1:]})
        res = oci(nsrun_root, "run", "--bundle", bundle, f"pi4-o{unique}b")
        assert res.returncode == 1 and "has no init any more" in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1, res.stderr
    finally:
        subprocess.run(["umount", held], capture_output=True)
    assert records(nsrun_root) == []


def _reap(pid: int) -> bool:
    """False, after reaping ``pid`` if it became our zombie: an earlier test in this process may have made
    it a child subreaper (in-process unit tests of the fork protocol), and then the killed init is ours."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return False


def _child_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None
