"""user namespace (root inside is unprivileged outside) and the sec plugin's defaults."""
from __future__ import annotations

import json
import os
import time

ALL_BUT_USER = "user,pid,mnt,ipc,uts,sec"
DOCKER_CAPS = 0x00000000A80425FB  # moby's default set


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
    image = os.path.join(nsrun_root, "images", "busybox", "rootfs")
    assert os.stat(os.path.join(image, "bin/busybox")).st_uid == 0
    assert not os.path.exists(os.path.join(image, "etc/new"))


def test_files_made_in_a_bind_mount_belong_to_the_mapped_uid(nsrun, nsrun_root):
    # pytest's tmp_path sits under a 0700 directory the mapped root may not traverse (as with Docker's
    # userns-remap), so the shared directory lives in the test's (0755) root.
    import pathlib
    shared = pathlib.Path(nsrun_root) / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    nsrun("--plugins", ALL_BUT_USER, "run", "--rm", "-v", f"{shared}:/shared", "busybox",
          "touch", "/shared/made", check=True)
    st = os.stat(shared / "made")
    assert (st.st_uid, st.st_gid) == (100000, 100000)


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
