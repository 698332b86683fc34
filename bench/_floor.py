"""The Python floor: the least a Python runtime must do to run /bin/true in pid+mnt+uts+ipc namespaces.

``python -I -S _floor.py ROOTFS``: ctypes unshare, fork (PID 1 of the new namespace), private mounts, /proc,
chroot, exec. No plugins, no CLI, no overlay, no state: what is left is interpreter start plus kernel work.
"""
import ctypes
import os
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x04000000, 0x08000000, 0x20000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18

libc = ctypes.CDLL(None, use_errno=True)


def check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def main(rootfs: str) -> int:
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID), "unshare")
    pid = os.fork()
    if pid == 0:
        try:
            check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
            check(libc.mount(b"proc", os.path.join(rootfs, "proc").encode(), b"proc", 0, None), "mount /proc")
            os.chroot(rootfs)
            os.chdir("/")
            os.execv("/bin/true", ["/bin/true"])
        finally:
            os._exit(127)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
