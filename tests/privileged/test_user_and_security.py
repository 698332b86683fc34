"""user namespace (root inside is unprivileged outside) and the sec plugin's defaults."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from nsrun import Paths
from nsrun._images import Images

ALL_BUT_USER = "user,pid,mnt,ipc,uts,sec"
DOCKER_CAPS = 0x00000000A80425FB  # moby's default set
NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")


def _running_pid(nsrun, name: str) -> int:
    for _ in range(200):
        info = json.loads(nsrun("inspect", name).stdout)[0]
        if info["State"]["Running"]:
            return info["State"]["Pid"]
        time.sleep(0.05)
    raise AssertionError("not running")


def test_root_inside_is_an_unprivileged_uid_outside(nsrun, unique):
    name = f"u{unique}"
    nsrun("--plugins", ALL_BUT_USER, "run", "-d", "--name", name, "--userns-range", "200000:65536",
          "busybox", "sleep", "30", check=True)
    try:
        pid = _running_pid(nsrun, name)
        with open(f"/proc/{pid}/status") as f:
            uid_line = next(line for line in f if line.startswith("Uid:")).split()
        assert uid_line[1:] == ["200000"] * 4  # seen from the host
        inside = nsrun("exec", name, "sh", "-c", "id -u; cat /proc/self/uid_map", check=True).stdout.split()
        assert inside == ["0", "0", "200000", "65536"]
    finally:
        nsrun("rm", "-f", name)


def test_image_looks_root_owned_inside_and_is_untouched_on_the_host(nsrun, nsrun_root):
    out = nsrun("--plugins", ALL_BUT_USER, "run", "--rm", "busybox", "sh", "-c",
                "stat -c '%u %g' /bin/busybox /etc; echo new > /etc/new && echo wrote", check=True).stdout
    assert out.split("\n")[:2] == ["0 0", "0 0"] and "wrote" in out
    image = Images(Paths.from_root(nsrun_root)).rootfs("busybox")
    assert os.stat(os.path.join(image, "bin/busybox")).st_uid == 0
    assert not os.path.exists(os.path.join(image, "etc/new"))


def test_files_made_in_a_bind_mount_belong_to_the_mapped_uid(nsrun):
    # As with Docker's userns-remap, a volume is a directory the mapped root may reach: here one made with
    # `mktemp -d` (0700) and handed to that uid, nothing opened to other users.
    shared = tempfile.mkdtemp(prefix="nsrvol-", dir="/tmp")
    try:
        os.chown(shared, 100000, 100000)
        nsrun("--plugins", ALL_BUT_USER, "run", "--rm", "-v", f"{shared}:/shared", "busybox",
              "touch", "/shared/made", check=True)
        st = os.stat(os.path.join(shared, "made"))
        assert (st.st_uid, st.st_gid) == (100000, 100000)
    finally:
        shutil.rmtree(shared)


def _as(uid: int, gid: int, probe) -> str:
    """``probe()`` run by a process with only these ids (no supplementary group): its result or the error."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            try:
                out = repr(probe())
            except OSError as exc:
                out = type(exc).__name__
            os.write(write, out.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


def test_a_root_made_with_mktemp_works_and_stays_closed_to_everyone_else(nsrun, nsrun_root, unique):
    """The fixture's root is what `mktemp -d` makes (0700). The mapped root is given search permission on
    it (one ACL entry), so the container starts; no other user may list or read any of its state, and the
    mapped root itself may only pass through."""
    name = f"m{unique}"
    nsrun("--plugins", ALL_BUT_USER, "run", "-d", "--name", name, "busybox", "sleep", "30", check=True)
    try:
        _running_pid(nsrun, name)
        cid = json.loads(nsrun("inspect", name).stdout)[0]["Id"]
        cdir = os.path.join(nsrun_root, "containers", cid)
        config = os.path.join(cdir, "config.json")
        assert os.stat(nsrun_root).st_mode & 0o007 == 0  # nothing for others
        for uid, gid in ((65534, 65534), (1000, 0)):  # nobody; a user in the root's group
            assert _as(uid, gid, lambda: os.listdir(nsrun_root)) == "PermissionError"
            assert _as(uid, gid, lambda: os.stat(os.path.join(nsrun_root, "containers"))) == "PermissionError"
            assert _as(uid, gid, lambda: open(config).read()) == "PermissionError"
            assert _as(uid, gid, lambda: os.listdir(os.path.join(cdir, "upper"))) == "PermissionError"
        assert _as(100000, 100000, lambda: os.listdir(nsrun_root)) == "PermissionError"  # search only
        assert _as(100000, 100000, lambda: os.path.isdir(cdir)) == "True"
    finally:
        nsrun("rm", "-f", name)


def test_a_root_beneath_a_directory_the_mapped_root_cannot_traverse_fails_before_anything_exists(nsrun,
                                                                                                nsrun_root):
    nsrun("run", "--rm", "busybox", "true", check=True)  # the image, made by a run without the user plugin
    rootfs = Images(Paths.from_root(nsrun_root)).rootfs("busybox")
    inner = os.path.join(nsrun_root, "sub", "state")  # nsrun_root (0700) lies above this root: not its own
    os.makedirs(os.path.join(nsrun_root, "sub"), mode=0o755)
    res = subprocess.run([NSRUN, "--root", inner, "--plugins", ALL_BUT_USER, "run", "--rm", "--rootfs", rootfs,
                          "true"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"cannot traverse {nsrun_root} (mode 0700)" in res.stderr and "setfacl -m u:100000:x" in res.stderr
    assert not os.path.exists(inner)
    with pytest.raises(OSError):  # a directory that is not nsrun's is never changed
        os.getxattr(nsrun_root, "system.posix_acl_access")


def test_a_rootfs_the_kernel_will_not_idmap_is_refused_never_copied(nsrun, tmp_path):
    """``--rootfs /`` holds /proc, /sys and every other mount: no idmapped view of it, and a chowned copy of
    the host's whole tree is out of the question (nor beside the rootfs, in a directory that is not nsrun's)."""
    res = nsrun("--plugins", ALL_BUT_USER, "run", "--rm", "--rootfs", "/", "true")
    assert res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "copies only images of its store" in res.stderr
    assert not [n for n in os.listdir("/") if n.startswith("-100000")] and not os.path.exists("/-100000-100000")
    assert not [n for n in os.listdir(os.getcwd()) if n.startswith("-100000")]


def test_default_capabilities_no_new_privs_and_masked_paths(nsrun):
    out = nsrun("run", "--rm", "busybox", "sh", "-c",
                "grep -E 'CapBnd|CapEff|NoNewPrivs' /proc/self/status; echo keys:$(wc -c < /proc/keys); "
                "(echo 1 > /proc/sys/kernel/domainname) 2>&1; echo acpi:$(ls /proc/acpi | wc -l)",
                check=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if line.split(":")[0].isalpha())
    assert int(fields["CapBnd"], 16) == DOCKER_CAPS
    assert int(fields["CapEff"], 16) == DOCKER_CAPS
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["keys"].strip() == "0"  # /proc/keys reads as /dev/null
    assert "Read-only file system" in out  # /proc/sys
    assert fields["acpi"].strip() == "0"  # /proc/acpi is an empty tmpfs


def test_without_sec_the_container_keeps_every_capability(nsrun):
    out = nsrun("--plugins", "pid,mnt,ipc,uts", "run", "--rm", "busybox", "grep", "CapBnd", "/proc/self/status",
                check=True).stdout
    with open("/proc/self/status") as f:
        host = next(line for line in f if line.startswith("CapBnd")).split()[1]
    assert out.split()[1] == host


def test_chowned_copy_fallback_shifts_ids_and_is_cached(tmp_path):
    """Where idmapped mounts are refused, the user plugin lays the overlay over a copy of the image whose
    owners are shifted into the range; one copy per range, reused."""
    from nsrun_ns_ipc_uts_user.user import _chowned_copy
    image = tmp_path / "rootfs"
    (image / "etc").mkdir(parents=True)
    (image / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (image / "home").mkdir()
    os.chown(image / "home", 1000, 1000)
    os.symlink("/etc/passwd", image / "link")
    copy = _chowned_copy(str(image), 300000, 300000)
    assert os.stat(os.path.join(copy, "etc", "passwd")).st_uid == 300000
    assert os.stat(os.path.join(copy, "home")).st_uid == 301000
    assert os.lstat(os.path.join(copy, "link")).st_uid == 300000 and os.readlink(os.path.join(copy, "link")) == "/etc/passwd"
    assert os.stat(image / "etc" / "passwd").st_uid == 0  # the image itself is untouched
    assert _chowned_copy(str(image), 300000, 300000) == copy
