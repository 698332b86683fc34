"""``nsrun exec`` never hands a container the host's interpreter (runc's CVE-2019-5736 pattern).

The attacker is a process inside a running container that loops over ``/proc/[0-9]*``, opens every other
process's ``/proc/<pid>/exe`` and, once the exec is over, reopens what it got for writing. The interpreter
it hunts is a DECOY: a copy of the venv's Python in a scratch directory, which runs ``nsrun exec`` here, so
the joining process's exe is the decoy and the real interpreter is never at stake.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time

import pytest

ALL_BUT_USER = "user,ipc,uts,cgroup,pid,mnt,sec,seccomp"  # the default set (no net) plus user
EXECS = 40

# Inside the container. DECOY is "dev:ino" of the decoy as the host sees it (the same numbers inside).
ATTACKER = r"""
: > /tmp/err
n=0
while [ ! -e /tmp/stop ]; do
  for p in /proc/[0-9]*; do
    case ${p#/proc/} in 1|$$) continue;; esac
    command exec 5<$p/exe 2>>/tmp/err || continue
    n=$((n+1))
    if [ "$(stat -L -c %d:%i /proc/self/fd/5 2>/dev/null)" = "$DECOY" ]; then
      command exec 7<&5
      echo "opened decoy via $p" >> /tmp/got
    fi
    exec 5<&-
  done
done
if [ -e /proc/self/fd/7 ]; then
  (printf 'XX' >> /proc/self/fd/7) 2>>/tmp/got && echo "wrote decoy" >> /tmp/got
  (: > /proc/self/fd/7) 2>>/tmp/got && echo "truncated decoy" >> /tmp/got
fi
echo "opened-other=$n refused=$(grep -c 'denied' /tmp/err)" >> /tmp/got
touch /tmp/done
sleep 600
"""


def _decoy(root: str) -> str:
    """A copy of the real file behind the venv's python, in the test's scratch root."""
    real = os.path.realpath(sys.executable)
    d = os.path.join(root, "decoy")
    os.mkdir(d)
    copy = os.path.join(d, os.path.basename(real))
    shutil.copy2(real, copy)
    return copy


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _entry(decoy: str) -> list[str]:
    """The decoy running nsrun's CLI with the venv's packages."""
    site = sysconfig.get_paths()["purelib"]
    return [decoy, "-c", f"import site; site.addsitedir({site!r}); from nsrun.cli import main; main()"]


def _attack(nsrun, nsrun_root: str, unique: str, plugins: tuple[str, ...], decoy: str | None = None,
            via: tuple[str, ...] = (), foreground: bool = False) -> tuple[str, str]:
    """The attack. Embedded, the decoy starts the container (``run -d``: its supervisor, which forks the
    joining process of every exec, is the decoy) and runs each ``nsrun exec``; with ``foreground`` the
    container runs under a foreground ``nsrun run`` instead, so each exec joins from its own process (the
    decoy). With ``via`` = ``-H URL`` the decoy is the daemon's interpreter, and the daemon runs it for each
    exec."""
    decoy = decoy or _decoy(nsrun_root)
    before = _digest(decoy)
    st = os.stat(decoy)
    name = f"x{unique}"
    args = (*plugins, "run", "-d", "--name", name, "-e", f"DECOY={st.st_dev}:{st.st_ino}", "busybox",
            "sh", "-c", ATTACKER)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}  # the decoy's supervisor imports nsrun
    fg = None
    if via:
        nsrun(*via, *args, check=True)
    elif foreground:
        fg = subprocess.Popen([*_entry(decoy), "--root", nsrun_root, *[a for a in args if a != "-d"]],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
        for _ in range(200):  # polled by the decoy too: the attacker never meets the real interpreter
            if subprocess.run([*_entry(decoy), "--root", nsrun_root, "exec", name, "true"], capture_output=True,
                              timeout=60).returncode == 0:
                break
            time.sleep(0.05)
    else:
        started = subprocess.run([*_entry(decoy), "--root", nsrun_root, *args], capture_output=True, text=True,
                                 timeout=60, env=env)
        assert started.returncode == 0, started.stderr
        assert os.path.exists(os.path.join(nsrun_root, "containers", started.stdout.strip(), "exec.sock"))
    try:
        for _ in range(EXECS):
            if via:
                result = nsrun(*via, "exec", name, "true")
            else:
                result = subprocess.run([*_entry(decoy), "--root", nsrun_root, *plugins, "exec", name, "true"],
                                        capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        nsrun("exec", name, "touch", "/tmp/stop", check=True)
        for _ in range(100):
            if nsrun("exec", name, "test", "-e", "/tmp/done").returncode == 0:
                break
            time.sleep(0.1)
        report = nsrun("exec", name, "cat", "/tmp/got", check=True).stdout
    finally:
        nsrun("rm", "-f", name)
        if fg is not None:
            fg.wait(timeout=30)
    return before, _digest(decoy) + "\n" + report


@pytest.mark.parametrize("foreground", [False, True], ids=["supervised", "foreground"])
@pytest.mark.parametrize("plugins", [(), ("--plugins", ALL_BUT_USER)], ids=["default", "user"])
def test_a_container_cannot_open_or_rewrite_the_interpreter_that_runs_exec(nsrun, nsrun_root, unique, plugins,
                                                                           foreground):
    before, after = _attack(nsrun, nsrun_root, unique, plugins, foreground=foreground)
    digest, report = after.split("\n", 1)
    assert "opened decoy" not in report, report
    assert "wrote decoy" not in report and "truncated decoy" not in report, report
    assert digest == before, report
    assert "opened-other=" in report, report  # the loop ran (it opened the exec'd commands' busybox)


def test_the_daemons_exec_path_is_protected_too(nsrun, nsrun_root, unique):
    """The daemon runs each exec as ``<its interpreter> -c ... exec``: here its interpreter is the decoy."""
    decoy = _decoy(nsrun_root)
    sock = os.path.join(nsrun_root, "d.sock")
    log = open(os.path.join(nsrun_root, "daemon.log"), "ab")
    # PYTHONPATH: the daemon's own children (supervisors, execs) run the decoy with the venv's packages too
    daemon = subprocess.Popen([*_entry(decoy), "--root", nsrun_root, "daemon", "-H", f"unix://{sock}"],
                              stdout=log, stderr=log,
                              env={**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]})
    try:
        for _ in range(200):
            if os.path.exists(sock) or daemon.poll() is not None:
                break
            time.sleep(0.05)
        assert os.path.exists(sock), open(os.path.join(nsrun_root, "daemon.log")).read()
        before, after = _attack(nsrun, nsrun_root, unique, (), decoy=decoy, via=("-H", f"unix://{sock}"))
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
    digest, report = after.split("\n", 1)
    assert "opened decoy" not in report and "wrote decoy" not in report, report
    assert digest == before, report


def test_exec_of_proc_self_exe_runs_the_sealed_stub_not_the_interpreter(nsrun, unique):
    """``/proc/self/exe`` as the command resolves in the process that execs it. That is the sealed stub, which
    (given ``/bin/sh sh -c ...`` as its own arguments) execs the shell; with Python in its place the host's
    interpreter would start inside the container (here it would fail: the image has no ld.so)."""
    name = f"s{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    try:
        result = nsrun("exec", name, "/proc/self/exe", "/bin/sh", "sh", "-c", "echo via-stub")
    finally:
        nsrun("rm", "-f", name)
    assert (result.returncode, result.stdout) == (0, "via-stub\n"), result.stderr
