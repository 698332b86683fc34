"""The mnt plugin: overlay over the image, pivot_root, /proc, /dev, /sys, volumes, /etc files."""
from __future__ import annotations

import os

from nsrun import Paths
from nsrun._images import Images



def _image_root(root: str) -> str:
    return Images(Paths.from_root(root)).rootfs("busybox")


def test_writes_go_to_the_overlay_never_to_the_image(nsrun, nsrun_root):
    nsrun("run", "--rm", "busybox", "sh", "-c", "echo x > /etc/written; rm /bin/ls", check=True)
    image = _image_root(nsrun_root)
    assert not os.path.exists(os.path.join(image, "etc/written"))
    assert os.path.lexists(os.path.join(image, "bin/ls"))
    out = nsrun("run", "--rm", "busybox", "sh", "-c", "ls /etc/written /bin/ls 2>&1; true", check=True).stdout
    assert "/etc/written" in out and "No such file" in out and "/bin/ls\n" in out


def test_the_old_root_is_gone_not_hidden(nsrun, tmp_path):
    (tmp_path / "host-only").write_text("secret")
    out = nsrun("run", "--rm", "busybox", "sh", "-c",
                f"cat {tmp_path}/host-only 2>&1; cat /proc/self/mountinfo", check=True).stdout
    assert "secret" not in out and "No such file" in out
    points = [line.split()[4] for line in out.splitlines()[1:]]
    assert points[0] == "/"
    assert not [p for p in points if p.startswith(("/work", "/tmp", "/var", "/home"))]  # no host mount left


def test_host_mount_table_does_not_change_while_a_container_runs(nsrun, unique, nsrun_root):
    with open("/proc/self/mountinfo") as f:
        before = f.read()
    nsrun("run", "-d", "--name", f"m{unique}", "busybox", "sleep", "30", check=True)
    try:
        with open("/proc/self/mountinfo") as f:
            during = f.read()
        assert nsrun_root not in during  # the overlay, /proc, /dev ... exist only in the container's namespace
        new = {line.split()[4] for line in during.splitlines()} - {line.split()[4] for line in before.splitlines()}
        assert not [m for m in new if "nsrun" in m or m.startswith(nsrun_root)], new
    finally:
        nsrun("rm", "-f", f"m{unique}")


def test_dev_proc_sys(nsrun):
    out = nsrun("run", "--rm", "busybox", "sh", "-c",
                "ls /dev; echo ---; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; "
                "touch /sys/x 2>&1; echo ---; grep -c . /proc/self/status >/dev/null && echo proc-ok",
                check=True).stdout
    devs, rest = out.split("---", 1)
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm"):
        assert name in devs.split(), name
    assert "sda" not in devs and "vda" not in devs  # only the minimal set
    assert "null-ok" in rest and "Read-only file system" in rest and "proc-ok" in rest


def test_volumes_rw_and_ro(nsrun, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "given").write_text("from host\n")
    out = nsrun("run", "--rm", "-v", f"{rw}:/rw", "-v", f"{ro}:/ro:ro", "busybox", "sh", "-c",
                "echo made > /rw/made; cat /ro/given; touch /ro/nope 2>&1; true", check=True).stdout
    assert (rw / "made").read_text() == "made\n"
    assert "from host" in out and "Read-only file system" in out
    assert not (ro / "nope").exists()


def test_etc_files(nsrun):
    out = nsrun("run", "--rm", "--hostname", "etcbox", "busybox", "sh", "-c",
                "cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf", check=True).stdout
    assert out.startswith("etcbox\n")
    assert "127.0.0.1\tlocalhost" in out and "etcbox" in out.split("\n", 1)[1]
    assert "nameserver" in out


def test_rootfs_option_uses_a_directory_and_never_writes_it(nsrun, nsrun_root, tmp_path):
    nsrun("run", "--rm", "busybox", "true", check=True)
    import shutil
    rootfs = tmp_path / "rootfs"
    shutil.copytree(_image_root(nsrun_root), rootfs, symlinks=True)
    out = nsrun("run", "--rm", "--rootfs", str(rootfs), "sh", "-c", "echo hi > /hi; cat /hi", check=True)
    assert out.stdout == "hi\n" and not (rootfs / "hi").exists()
