"""What a user sees of a container's life: exit codes, --rm, -d, logs, stop/kill/rm, signals, ttys, exec."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

from conftest import NSRUN


def _records(root: str) -> list[str]:
    try:
        return [d for d in os.listdir(os.path.join(root, "containers")) if len(d) == 64]
    except FileNotFoundError:
        return []


def test_exit_status_passes_through(nsrun):
    assert nsrun("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    killed = nsrun("run", "--rm", "busybox", "sh", "-c", "sleep 30 & kill -9 $!; wait $!; exit $?")
    assert killed.returncode == 137


def test_command_not_found_and_not_executable(nsrun, nsrun_root):
    missing = nsrun("run", "--rm", "busybox", "nosuchcmd")
    assert missing.returncode == 127
    assert missing.stderr.strip().count("\n") == 0 and "nosuchcmd" in missing.stderr
    assert nsrun("run", "--rm", "busybox", "/etc/passwd").returncode == 126
    assert _records(nsrun_root) == []


def test_without_rm_ps_a_keeps_the_exit_and_rm_removes_it(nsrun, nsrun_root, unique):
    name = f"k{unique}"
    assert nsrun("run", "--name", name, "busybox", "sh", "-c", "exit 4").returncode == 4
    ps = nsrun("ps", "-a", "--format", "json", check=True).stdout
    row = next(json.loads(line) for line in ps.splitlines() if json.loads(line)["Names"] == name)
    assert row["Status"].startswith("Exited (4)")
    assert name not in nsrun("ps", check=True).stdout  # not running
    nsrun("rm", name, check=True)
    assert _records(nsrun_root) == []


def test_detached_logs_stop_rm(nsrun, unique):
    name = f"d{unique}"
    cid = nsrun("run", "-d", "--name", name, "busybox", "sh", "-c",
                "echo out; echo err >&2; trap 'echo bye; exit 7' TERM; while :; do sleep 0.1; done",
                check=True).stdout.strip()
    assert len(cid) == 64
    try:
        deadline = time.monotonic() + 10
        while "out" not in nsrun("logs", name).stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        logs = nsrun("logs", name)
        assert logs.stdout == "out\n" and logs.stderr == "err\n"
        assert name in nsrun("ps", check=True).stdout
        assert nsrun("rm", name).returncode != 0  # running: refused
        nsrun("stop", name, check=True)
        assert nsrun("logs", name).stdout == "out\nbye\n"
        state = json.loads(nsrun("inspect", name).stdout)[0]["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 7)
    finally:
        nsrun("rm", "-f", name)


def test_logs_follow_ends_with_the_container(nsrun, unique):
    name = f"f{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done",
          check=True)
    try:
        out = nsrun("logs", "-f", name, timeout=20, check=True)
        assert out.stdout == "1\n2\n3\n"
    finally:
        nsrun("rm", "-f", name)


def test_kill_with_a_signal(nsrun, unique):
    name = f"s{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sh", "-c", "trap 'exit 9' USR1; while :; do sleep 0.1; done",
          check=True)
    try:
        time.sleep(0.3)
        nsrun("kill", "-s", "USR1", name, check=True)
        for _ in range(100):
            state = json.loads(nsrun("inspect", name).stdout)[0]["State"]
            if state["Status"] == "exited":
                break
            time.sleep(0.05)
        assert state["ExitCode"] == 9
    finally:
        nsrun("rm", "-f", name)


def test_sigterm_and_ctrl_c_to_a_foreground_run_reach_the_container(nsrun):
    for sig, expect in ((signal.SIGTERM, "TERM"), (signal.SIGINT, "INT")):
        proc = nsrun.popen("run", "--rm", "busybox", "sh", "-c",
                           "trap 'echo got-TERM; exit 3' TERM; trap 'echo got-INT; exit 4' INT; "
                           "echo ready; while :; do sleep 0.1; done", stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
        assert out == f"got-{expect}\n"
        assert proc.returncode == (3 if expect == "TERM" else 4)


def _pty_session(argv: list[str], script: bytes, timeout: float = 15) -> tuple[bytes, int]:
    """Drive ``argv`` on a terminal like a person: wait for the shell prompt, answer its cursor-position
    query, type ``script``, collect the screen until it exits."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True, start_new_session=True)
    os.close(slave)
    out, typed = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if b"\x1b[6n" in chunk:
                os.write(master, b"\x1b[1;1R")
            if not typed and b"# " in out:
                os.write(master, script)
                typed = True
        elif proc.poll() is not None:
            break
    os.close(master)
    return out, proc.wait(timeout=10)


def test_interactive_tty_shell(nsrun_root):
    out, code = _pty_session([NSRUN, "--root", nsrun_root, "run", "--rm", "-it", "busybox", "sh"],
                             b"tty; echo $((6*7)); exit 5\n")
    assert b"/dev/pts/0" in out and b"42" in out
    assert code == 5


def test_exec_into_a_running_container(nsrun, nsrun_root, unique):
    name = f"e{unique}"
    nsrun("run", "-d", "--name", name, "-e", "FOO=bar", "busybox", "sh", "-c", "echo x > /made; sleep 30", check=True)
    try:
        time.sleep(0.3)
        out = nsrun("exec", "-e", "BAR=baz", name, "sh", "-c", "cat /made; echo $FOO $BAR; ps -o pid,comm",
                    check=True).stdout
        assert out.startswith("x\nbar baz\n") and " 1 sleep" in out.replace("    ", " ")
        assert nsrun("exec", name, "sh", "-c", "exit 6").returncode == 6
        assert nsrun("exec", name, "nosuch").returncode == 127
        out, code = _pty_session([NSRUN, "--root", nsrun_root, "exec", "-it", name, "sh"], b"tty; exit 2\n")
        assert b"/dev/pts/" in out and code == 2
    finally:
        nsrun("rm", "-f", name)
    assert nsrun("exec", name, "true").returncode == 125


def test_env_workdir_user(nsrun):
    out = nsrun("run", "--rm", "-e", "A=1", "-w", "/tmp/wd", "-u", "1000:1000", "busybox", "sh", "-c",
                "echo $A; pwd; id -u; id -g; echo $PATH", check=True).stdout.split()
    assert out[:4] == ["1", "/tmp/wd", "1000", "1000"] and "/bin" in out[4]


def test_concurrent_runs_and_one_name(nsrun, nsrun_root, unique):
    procs = [nsrun.popen("run", "--rm", "busybox", "echo", str(i), stdout=subprocess.PIPE, text=True)
             for i in range(8)]
    outs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outs == sorted(str(i) for i in range(8)) and all(p.returncode == 0 for p in procs)
    name = f"n{unique}"
    racers = [nsrun.popen("run", "--name", name, "busybox", "true", stderr=subprocess.PIPE, text=True)
              for _ in range(4)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in racers]
    assert sorted(code for code, _ in results) == [0, 125, 125, 125]
    assert all("already in use" in err for code, err in results if code)
    nsrun("rm", name, check=True)
    assert _records(nsrun_root) == []


def test_a_detached_containers_supervisor_keeps_its_trace(nsrun, nsrun_root, unique):
    name = f"t{unique}"
    cid = nsrun("run", "-d", "--name", name, "busybox", "sleep", "30", env={"NSRUN_TRACE": "1"},
                check=True).stdout.strip()
    try:
        with open(os.path.join(nsrun_root, "containers", cid, "trace.txt")) as f:
            trace = f.read()
        assert "pre_clone:mnt" in trace and "exec" in trace
    finally:
        nsrun("rm", "-f", name)
