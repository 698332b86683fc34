"""A stand-in for conmon or containerd's shim, for the nsrun-oci tests: a child subreaper that runs
``nsrun-oci create`` with stdio of its own (OUT: a file the container writes to) and then reaps the container.

Usage: ``ocicaller.py NSRUN_OCI ROOT BUNDLE ID OUT [create options...]``. Prints one JSON line once create
returned: ``{"rc", "stderr", "pid", "ppid", "me"}`` (``ppid``: the container process's parent, which must be
this process); then for each ``wait`` line on stdin one ``{"status": N}`` line (the container's exit status).
"""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def main() -> None:
    oci, root, bundle, cid, out, *extra = sys.argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl")
    pid_file = os.path.join(root, f"{cid}.pid")
    with open(out, "ab") as f, open(out + ".err", "w+b") as err:  # the container keeps both: files, not pipes
        proc = subprocess.run([oci, "--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, *extra,
                               cid], stdin=subprocess.DEVNULL, stdout=f, stderr=err)
        err.seek(0)
        stderr = err.read().decode()
    pid = ppid = 0
    if proc.returncode == 0:
        with open(pid_file) as f:
            pid = int(f.read())
        os.unlink(pid_file)
        ppid = _ppid(pid)
    print(json.dumps({"rc": proc.returncode, "stderr": stderr, "pid": pid, "ppid": ppid,
                      "me": os.getpid()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "wait" and pid:
            _, status = os.waitpid(pid, 0)
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            print(json.dumps({"status": code}), flush=True)
            pid = 0


if __name__ == "__main__":
    main()
