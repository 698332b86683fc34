"""nsrun-oci driven directly, as an engine drives runc: a bundle (busybox rootfs + config.json), real
namespaces, a subreaper caller standing in for conmon (``ocicaller.py``). Leak-checked like every privileged
test: the bundle lies under the test's root, so a container process left behind is seen."""
from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import sys
import time

import pytest

BIN = os.path.dirname(sys.executable)  # the venv's bin (as tests/conftest.py has it: "conftest" may be compat's here)

OCI = os.path.join(BIN, "nsrun-oci")
CALLER = os.path.join(os.path.dirname(__file__), "ocicaller.py")
APPLETS = ("sh", "stty", "echo", "cat", "sleep", "id", "hostname", "tty", "ls", "true", "grep", "mkdir")


def make_bundle(path: str, args: list[str], **changes) -> str:
    """A bundle at ``path``: a busybox rootfs and ``nsrun-oci spec``'s config.json with ``args``, no terminal,
    a writable root; ``changes`` update the config (``process=...`` is merged into process)."""
    os.makedirs(os.path.join(path, "rootfs", "bin"), exist_ok=True)
    busybox = os.path.join(path, "rootfs", "bin", "busybox")
    if not os.path.exists(busybox):
        subprocess.run(["cp", "/bin/busybox", busybox], check=True)
        for applet in APPLETS:
            os.symlink("busybox", os.path.join(path, "rootfs", "bin", applet))
    if os.path.exists(os.path.join(path, "config.json")):
        os.unlink(os.path.join(path, "config.json"))
    subprocess.run([OCI, "spec", "--bundle", path], check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["process"].update({"terminal": False, "args": args, **changes.pop("process", {})})
    config["root"]["readonly"] = False
    config.update(changes)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def oci(root: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([OCI, "--root", root, *args], capture_output=True, text=True, timeout=timeout)


class Caller:
    """One container created by a subreaper caller process (``ocicaller.py``)."""

    def __init__(self, root: str, bundle: str, cid: str, *extra: str) -> None:
        self.root, self.cid, self.out = root, cid, os.path.join(root, f"{cid}.out")
        self.proc = subprocess.Popen([sys.executable, CALLER, OCI, root, bundle, cid, self.out, *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.created = json.loads(self.proc.stdout.readline())

    def wait(self) -> int:
        self.proc.stdin.write("wait\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["status"]

    def output(self) -> str:
        with open(self.out) as f:
            return f.read()

    def close(self) -> None:
        """Delete the container (forced: a test that failed half-way leaves no process) and end the caller."""
        oci(self.root, "delete", "--force", self.cid)
        self.proc.stdin.close()
        self.proc.wait(10)


def state(root: str, cid: str) -> dict:
    result = oci(root, "state", cid)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def records(root: str) -> list[str]:
    try:
        return [d for d in os.listdir(os.path.join(root, "containers")) if len(d) == 64]
    except FileNotFoundError:
        return []


def oci_processes(root: str, *but: int) -> list[str]:
    """nsrun-oci processes of this root still running but ``but`` (the caller, and the parked container
    process: nsrun's Python until its execve)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if int(pid) not in but and any(part.endswith(b"nsrun-oci") for part in cmd) and root.encode() in cmd:
            found.append(pid)
    return found


@pytest.fixture
def bundle(nsrun_root: str) -> str:
    return os.path.join(nsrun_root, "bundle")


def test_create_parks_start_runs_and_the_caller_reaps(nsrun_root, bundle, unique):
    make_bundle(bundle, ["sh", "-c", "echo hello from $(hostname); id -u; exit 3"])
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert caller.created["rc"] == 0, caller.created["stderr"]
        assert caller.created["ppid"] == caller.created["me"]  # the caller's child: nothing of nsrun in between
        assert oci_processes(nsrun_root, caller.created["me"], caller.created["pid"]) == []
        st = state(nsrun_root, cid)
        assert st["status"] == "created" and st["pid"] == caller.created["pid"] and st["bundle"] == bundle
        assert st["rootfs"] == os.path.join(bundle, "rootfs") and st["ociVersion"] and st["created"].endswith("Z")
        assert caller.output() == ""  # parked before execve
        assert oci(nsrun_root, "start", cid).returncode == 0
        assert caller.wait() == 3
        assert caller.output() == "hello from runc\n0\n"
        st = state(nsrun_root, cid)
        assert st["status"] == "stopped" and st["pid"] == 0
        assert [s["id"] for s in json.loads(oci(nsrun_root, "list", "--format", "json").stdout)] == [cid]
        second = oci(nsrun_root, "start", cid)
        assert second.returncode == 1 and "stopped" in second.stderr
        assert oci(nsrun_root, "delete", cid).returncode == 0
        assert records(nsrun_root) == []
        assert oci(nsrun_root, "state", cid).returncode == 1
    finally:
        caller.close()


def test_kill_by_name_or_number_reaches_a_trap_and_kill_of_a_stopped_one_fails(nsrun_root, bundle, unique):
    make_bundle(bundle, ["sh", "-c", "trap 'echo got USR1; exit 7' USR1; echo ready; while true; do sleep 0.05; done"])
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert oci(nsrun_root, "start", cid).returncode == 0
        deadline = time.monotonic() + 10
        while "ready" not in caller.output() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state(nsrun_root, cid)["status"] == "running"
        assert oci(nsrun_root, "kill", cid, "USR1").returncode == 0
        assert caller.wait() == 7 and "got USR1" in caller.output()
        late = oci(nsrun_root, "kill", cid, "SIGKILL")
        assert late.returncode == 1 and "not running" in late.stderr and late.stderr.count("\n") == 1
    finally:
        caller.close()
        oci(nsrun_root, "delete", "--force", cid)
    assert records(nsrun_root) == []


@pytest.mark.parametrize("sig", ["9", "KILL", "SIGKILL"])
def test_delete_refuses_a_running_one_and_force_kills_it(nsrun_root, bundle, unique, sig):
    make_bundle(bundle, ["sleep", "60"])
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert oci(nsrun_root, "start", cid).returncode == 0
        again = oci(nsrun_root, "start", cid)
        assert again.returncode == 1 and "running" in again.stderr
        refused = oci(nsrun_root, "delete", cid)
        assert refused.returncode == 1 and "not stopped" in refused.stderr
        if sig == "9":
            assert oci(nsrun_root, "delete", "--force", cid).returncode == 0
            assert caller.wait() == 137
        else:
            assert oci(nsrun_root, "kill", cid, sig).returncode == 0
            assert caller.wait() == 137
            assert oci(nsrun_root, "delete", cid).returncode == 0
        assert records(nsrun_root) == []
        assert oci(nsrun_root, "delete", "--force", cid).returncode == 0  # a missing one, forced: nothing to do
        missing = oci(nsrun_root, "delete", cid)
        assert missing.returncode == 1 and "does not exist" in missing.stderr
    finally:
        caller.close()


def test_delete_of_a_created_one_kills_the_parked_process(nsrun_root, bundle, unique):
    make_bundle(bundle, ["true"])
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert caller.created["rc"] == 0
        assert oci(nsrun_root, "delete", cid).returncode == 0
        assert caller.wait() == 137 and records(nsrun_root) == []
    finally:
        caller.close()


def test_a_missing_executable_fails_create_with_the_phrase_engines_map_to_127(nsrun_root, bundle, unique):
    make_bundle(bundle, ["nosuchcmd"])
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert caller.created["rc"] == 1
        assert "executable file not found" in caller.created["stderr"]
        assert caller.created["stderr"].count("\n") == 1
        assert records(nsrun_root) == []
    finally:
        caller.close()


def test_run_waits_and_passes_the_status_through(nsrun_root, bundle, unique):
    make_bundle(bundle, ["sh", "-c", "echo out; exit 5"])
    result = oci(nsrun_root, "run", "--bundle", bundle, f"ocih{unique}")
    assert result.returncode == 5 and result.stdout == "out\n"
    assert records(nsrun_root) == []


def test_process_fields_reach_the_command(nsrun_root, bundle, unique):
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    make_bundle(bundle, ["sh", "-c", "cd; pwd; id; grep -E 'CapEff|CapBnd' /proc/self/status; cat /proc/self/oom_score_adj;"
                                     " echo $FOO; ulimit -n; umask"],
                process={"cwd": "/tmp", "env": ["FOO=bar", "PATH=/bin"], "user": {"uid": 1000, "gid": 1000,
                                                                                  "additionalGids": [20], "umask": 23},
                         "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                         "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}], "oomScoreAdj": 300},
                hostname=f"h{unique}")
    result = oci(nsrun_root, "run", "--bundle", bundle, f"ocih{unique}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "uid=1000 gid=1000 groups=20"
    assert lines[2].split() == ["CapEff:", "0000000000000000"]  # a non-root user keeps none (nsrun's rule)
    assert lines[3].split() == ["CapBnd:", f"{(1 << 5) | (1 << 10):016x}"]
    assert lines[4:] == ["300", "bar", "512", "0027"]


def test_terminal_goes_to_the_console_socket(nsrun_root, bundle, unique):
    make_bundle(bundle, ["sh", "-c", "tty; echo cols $(stty size 2>/dev/null || echo none)"],
                process={"terminal": True, "consoleSize": {"height": 30, "width": 100}})
    path = os.path.join(nsrun_root, "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid, "--console-socket", path)
    try:
        assert caller.created["rc"] == 0, caller.created["stderr"]
        conn, _ = server.accept()
        fds = array.array("i")
        msg, ancillary, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
        fds.frombytes(ancillary[0][2])
        master = fds[0]
        assert msg.startswith(b"/dev/pts/")
        assert oci(nsrun_root, "start", cid).returncode == 0
        assert caller.wait() == 0
        data = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the slave side is closed
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        conn.close()
        assert b"/dev/pts/0" in data
    finally:
        server.close()
        caller.close()
        oci(nsrun_root, "delete", "--force", cid)
    assert records(nsrun_root) == []


def test_resources_give_the_container_its_own_cgroup_and_delete_removes_it(nsrun_root, bundle, unique):
    make_bundle(bundle, ["sh", "-c", "cat /proc/self/cgroup | grep pids; sleep 60"],
                linux={"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
                       "resources": {"pids": {"limit": 50}}, "cgroupsPath": f"/ocih/{unique}"})
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert caller.created["rc"] == 0, caller.created["stderr"]
        pid = caller.created["pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            own = [line for line in f.read().splitlines() if ":pids:" in line][0]
        with open("/proc/self/cgroup") as f:
            mine = [line for line in f.read().splitlines() if ":pids:" in line][0]
        assert own != mine and own.startswith(mine)
        directory = "/sys/fs/cgroup/pids" + own.split(":", 2)[2]
        with open(os.path.join(directory, "pids.max")) as f:
            assert f.read().strip() == "50"
        assert oci(nsrun_root, "start", cid).returncode == 0
        assert oci(nsrun_root, "delete", "--force", cid).returncode == 0
        assert caller.wait() == 137
        assert not os.path.exists(directory)
    finally:
        caller.close()


def _record_state(root: str) -> tuple[str, dict]:
    [cid] = records(root)
    with open(os.path.join(root, "containers", cid, "state.json")) as f:
        return os.path.join(root, "containers", cid, "state.json"), json.load(f)


def _started(root: str, bundle: str, cid: str) -> tuple["Caller", list[str]]:
    """A container with its own cgroups, started and gone (``true``): its caller and its cgroup directories."""
    make_bundle(bundle, ["true"], linux={"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
                                        "resources": {"pids": {"limit": 50}}})
    caller = Caller(root, bundle, cid)
    assert caller.created["rc"] == 0, caller.created["stderr"]
    assert oci(root, "start", cid).returncode == 0
    assert caller.wait() == 0
    dirs = sorted(set(_record_state(root)[1]["info"]["Cgroup"]["dirs"].values()))
    assert dirs and all(os.path.isdir(d) for d in dirs)
    return caller, dirs


def test_delete_collects_what_the_record_names_without_a_plugin_manager(nsrun_root, bundle, unique):
    cid = f"ocih{unique}"
    caller, dirs = _started(nsrun_root, bundle, cid)
    try:
        plan = _record_state(nsrun_root)[1]["collect"]  # resolved at create: the cgroup plugin's collect first
        assert plan[0][:4] == ["cgroup", "collect", "nsrun_cgroup", "collect"]
        site = os.path.dirname(os.path.dirname(__import__("nsrun").__file__))  # the venv's site-packages
        code = (f"import sys; sys.path.append({site!r}); from nsrun.oci._entry import main; "
                f"rc = main(['--root', {nsrun_root!r}, 'delete', {cid!r}]); "
                f"print(rc, sorted(m for m in ('pluggy', 'inspect', 'typing', 'json', 're', 'ctypes') "
                f"if m in sys.modules))")
        out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "0 []", out.stderr
        assert records(nsrun_root) == [] and not any(os.path.exists(d) for d in dirs)
    finally:
        caller.close()


def test_a_record_without_a_plan_is_collected_through_the_plugins_as_before(nsrun_root, bundle, unique):
    cid = f"ocih{unique}"
    caller, dirs = _started(nsrun_root, bundle, cid)
    try:
        path, st = _record_state(nsrun_root)
        del st["collect"]  # made by an nsrun before the plan, or a create cut short before it was written
        with open(path, "w") as f:
            json.dump(st, f)
        result = oci(nsrun_root, "delete", cid)
        assert result.returncode == 0, result.stderr
        assert records(nsrun_root) == [] and not any(os.path.exists(d) for d in dirs)
    finally:
        caller.close()


def _namespaces(extra: dict) -> list[dict]:
    return [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")] + [extra]


@pytest.mark.parametrize("setup, words", [
    (lambda b: os.unlink(os.path.join(b, "config.json")), "config.json not found"),
    (lambda b: open(os.path.join(b, "config.json"), "w").write("{not json"), "malformed"),
    (lambda b: _edit(b, lambda c: c.update(ociVersion="0.9.0")), "unsupported ociVersion"),
    (lambda b: _edit(b, lambda c: c["linux"]["namespaces"].append({"type": "bogus"})), "bogus"),
    (lambda b: _edit(b, lambda c: c["mounts"].append({"destination": "/x", "type": "nfs", "source": "h:/x"})),
     "mounts"),
    (lambda b: _edit(b, lambda c: c["linux"].update(namespaces=_namespaces({"type": "network",
                                                                            "path": "/proc/1/ns/nosuch"}))),
     "network namespace"),
])
def test_bad_input_is_one_line_exit_1_and_leaves_nothing(nsrun_root, bundle, unique, setup, words):
    make_bundle(bundle, ["true"])
    setup(bundle)
    log = os.path.join(nsrun_root, "log.json")
    result = subprocess.run([OCI, "--root", nsrun_root, "--log", log, "--log-format", "json", "create", "--bundle",
                             bundle, f"ocih{unique}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    with open(log) as f:
        entry = json.loads(f.read().splitlines()[-1])
    assert entry["level"] == "error" and words in entry["msg"]
    assert records(nsrun_root) == []


def test_an_id_in_use_is_refused_and_the_first_stays(nsrun_root, bundle, unique):
    make_bundle(bundle, ["true"])
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        again = oci(nsrun_root, "create", "--bundle", bundle, cid)
        assert again.returncode == 1 and "exists" in again.stderr
        assert state(nsrun_root, cid)["status"] == "created"
        assert oci(nsrun_root, "delete", "--force", cid).returncode == 0
        caller.wait()
    finally:
        caller.close()
    assert records(nsrun_root) == []


def test_systemd_cgroup_and_unknown_commands_are_refused_clearly(nsrun_root):
    refused = oci(nsrun_root, "--systemd-cgroup", "state", "x")
    assert refused.returncode == 1 and "--systemd-cgroup" in refused.stderr
    unknown = oci(nsrun_root, "frobnicate")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    version = subprocess.run([OCI, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "spec: 1.0" in version.stdout


def _edit(bundle: str, change) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    change(config)
    with open(path, "w") as f:
        json.dump(config, f)


def test_hooks_run_with_the_state_on_stdin_and_a_failing_prestart_fails_create(nsrun_root, bundle, unique):
    out = os.path.join(nsrun_root, "hooks.log")
    record = ["/bin/sh", "-c", f"cat >> {out}; echo >> {out}"]
    hooks = {point: [{"path": "/bin/sh", "args": record}] for point in ("prestart", "createRuntime", "poststart",
                                                                         "poststop")}
    make_bundle(bundle, ["true"], hooks=hooks)
    cid = f"ocih{unique}"
    caller = Caller(nsrun_root, bundle, cid)
    try:
        assert caller.created["rc"] == 0, caller.created["stderr"]
        assert oci(nsrun_root, "start", cid).returncode == 0
        assert caller.wait() == 0
        assert oci(nsrun_root, "delete", cid).returncode == 0
    finally:
        caller.close()
    states = [json.loads(line) for line in open(out).read().splitlines()]
    assert [s["status"] for s in states] == ["creating", "creating", "running", "stopped"]
    assert {s["id"] for s in states} == {cid} and states[0]["pid"] == caller.created["pid"]
    make_bundle(bundle, ["true"], hooks={"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no >&2; exit 2"]}],
                                         "poststop": [{"path": "/bin/sh", "args": record}]})
    failed = oci(nsrun_root, "create", "--bundle", bundle, f"ocih{unique}x")
    assert failed.returncode == 1 and "prestart hook /bin/sh failed: exit status 2: no" in failed.stderr
    assert records(nsrun_root) == []


def test_a_network_namespace_path_is_joined(nsrun_root, bundle, unique):
    netns = f"ocih{unique}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "add", f"ocihd{unique[:4]}", "type", "veth", "peer", "name",
                        f"ocihe{unique[:4]}"], check=True)  # both ends inside: nothing on the host
        make_bundle(bundle, ["cat", "/proc/net/dev"],
                    linux={"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
                           + [{"type": "network", "path": f"/run/netns/{netns}"}]})
        result = oci(nsrun_root, "run", "--bundle", bundle, f"ocih{unique}")
        assert result.returncode == 0, result.stderr
        assert f"ocihd{unique[:4]}" in result.stdout
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=True)
    assert records(nsrun_root) == []


def test_a_create_killed_half_way_is_stopped_and_delete_collects_it(nsrun_root, bundle, unique):
    marker = os.path.join(nsrun_root, "hook.pid")
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {marker}; exec sleep 30"]}
    make_bundle(bundle, ["true"], hooks={"prestart": [hook]},
                linux={"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
                       "resources": {"pids": {"limit": 20}}})
    cid = f"ocih{unique}"
    proc = subprocess.Popen([OCI, "--root", nsrun_root, "create", "--bundle", bundle, cid],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)
    proc.kill()  # kill -9 while its prestart hook runs: the child is parked before GO
    proc.wait()
    with open(marker) as f:
        os.kill(int(f.read()), 9)
    assert state(nsrun_root, cid)["status"] == "stopped"
    assert oci(nsrun_root, "delete", cid).returncode == 0
    assert records(nsrun_root) == []
