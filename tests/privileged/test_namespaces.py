"""Each namespace plugin, seen from inside the container and from the host."""
from __future__ import annotations

import os
import socket
import subprocess
import time



def _wait_running(nsrun, name: str, timeout: float = 10) -> dict:
    import json
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = nsrun("inspect", name)
        if out.returncode == 0:
            info = json.loads(out.stdout)[0]
            if info["State"]["Running"]:
                return info
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start")


# --- pid ---------------------------------------------------------------------------------------------------
def test_command_is_pid1_and_sees_only_its_own_processes(nsrun):
    out = nsrun("run", "--rm", "busybox", "sh", "-c", "echo $$; ps -o pid,comm; true", check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "1"
    rows = [line.split() for line in lines[2:] if line.strip()]
    assert [r[1] for r in rows] == ["sh", "ps"] and rows[0][0] == "1"  # nothing of the host


def test_host_sees_the_container_init_under_another_pid(nsrun, unique):
    nsrun("run", "-d", "--name", f"p{unique}", "busybox", "sleep", "30", check=True)
    try:
        info = _wait_running(nsrun, f"p{unique}")
        host_pid = info["State"]["Pid"]
        assert host_pid > 1
        with open(f"/proc/{host_pid}/status") as f:
            nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
        assert nspid == [str(host_pid), "1"]
        assert os.readlink(f"/proc/{host_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    finally:
        nsrun("rm", "-f", f"p{unique}")


def test_init_reaps_zombies_and_forwards_signals(nsrun, unique):
    name = f"i{unique}"
    # sh double-forks an orphan that exits at once: without a reaper it would stay a zombie child of PID 1.
    nsrun("run", "-d", "--init", "--name", name, "busybox", "sh", "-c",
          "(sleep 0.1 &) ; exec sleep 30", check=True)
    try:
        _wait_running(nsrun, name)
        time.sleep(0.5)
        ps = nsrun("exec", name, "ps", "-o", "pid,stat,comm", check=True).stdout
        assert " Z " not in ps, ps  # without the reaper, the orphaned sleep would stay a zombie of PID 1
        rows = {line.split()[0]: line.split()[-1] for line in ps.splitlines()[1:]}
        assert rows["1"] != "sleep" and "sleep" in rows.values(), ps  # PID 1 is the reaper, not the command
        start = time.monotonic()
        nsrun("stop", "-t", "10", name, check=True)  # TERM reaches `sleep` through the reaper: no 10 s wait
        assert time.monotonic() - start < 5
    finally:
        nsrun("rm", "-f", name)


def test_stop_kills_after_the_timeout_when_term_is_ignored(nsrun, unique):
    name = f"s{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done", check=True)
    try:
        _wait_running(nsrun, name)
        start = time.monotonic()
        nsrun("stop", "-t", "1", name, check=True)
        took = time.monotonic() - start
        assert 0.9 < took < 8
        import json
        state = json.loads(nsrun("inspect", name).stdout)[0]["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137
    finally:
        nsrun("rm", "-f", name)


# --- uts ---------------------------------------------------------------------------------------------------
def test_hostname_defaults_to_the_short_id(nsrun, unique):
    name = f"h{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sleep", "30", check=True)
    try:
        info = _wait_running(nsrun, name)
        inside = nsrun("exec", name, "hostname", check=True).stdout.strip()
        assert inside == info["Id"][:12]
        assert nsrun("exec", name, "cat", "/etc/hostname", check=True).stdout.strip() == inside
        assert socket.gethostname() != inside
    finally:
        nsrun("rm", "-f", name)


def test_hostname_option_is_private_to_the_container(nsrun):
    before = socket.gethostname()
    out = nsrun("run", "--rm", "--hostname", "box.example", "busybox", "hostname", check=True)
    assert out.stdout.strip() == "box.example"
    assert socket.gethostname() == before


# --- ipc (runs without mnt: the host's ipcmk/ipcs are used, which also shows run without a root switch) ---
def test_sysv_ipc_objects_are_invisible_both_ways(nsrun):
    host_id = subprocess.run(["ipcmk", "-M", "4093"], capture_output=True, text=True, check=True).stdout.split()[-1]
    try:
        assert "4093" in subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
        inside = nsrun("--plugins", "ipc", "run", "--rm", "--rootfs", "/", "sh", "-c",
                       "ipcs -m; ipcmk -M 8192 >/dev/null; ipcs -m", check=True).stdout
        assert "4093" not in inside.split()  # the host's segment (by its size) is not there
        assert "8192" in inside  # the object made inside exists inside ...
        host_view = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
        assert "8192" not in host_view.split()  # ... and never on the host; it died with the namespace
    finally:
        subprocess.run(["ipcrm", "-m", host_id], capture_output=True)


def test_posix_message_queues_are_private(nsrun):
    out = nsrun("run", "--rm", "busybox", "sh", "-c", "touch /dev/mqueue/nsrtestq && ls /dev/mqueue", check=True)
    assert "nsrtestq" in out.stdout
    subprocess.run(["mkdir", "-p", "/dev/mqueue"])
    host = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t mqueue none /dev/mqueue && ls /dev/mqueue"],
                          capture_output=True, text=True)
    assert "nsrtestq" not in host.stdout


# --- without mnt --------------------------------------------------------------------------------------------
def test_without_mnt_the_command_runs_in_the_hosts_file_system(nsrun, tmp_path):
    marker = tmp_path / "marker"
    marker.write_text("on the host\n")
    out = nsrun("--plugins", "pid,uts", "run", "--rm", "busybox", "cat", str(marker), check=True)
    assert out.stdout == "on the host\n"
