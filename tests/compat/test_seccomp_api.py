"""``HostConfig.SecurityOpt`` through real clients: the docker CLI's ``--security-opt`` (it reads a profile
file itself and sends its content inline) and docker-py's ``security_opt``."""
from __future__ import annotations

import json

NONE = ("--network", "none")
SECCOMP = ("grep", "^Seccomp:", "/proc/self/status")


def test_docker_cli_default_unconfined_and_an_inline_profile(daemon, tmp_path):
    r = daemon.docker("run", "--rm", *NONE, "busybox", *SECCOMP, check=True)
    assert r.stdout.split() == ["Seccomp:", "2"]
    r = daemon.docker("run", "--rm", *NONE, "--security-opt", "seccomp=unconfined", "busybox", *SECCOMP,
                      check=True)
    assert r.stdout.split() == ["Seccomp:", "0"]
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}))
    r = daemon.docker("run", "--rm", *NONE, "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
                      "mkdir /tmp/d; echo mkdir=$?")
    assert (r.returncode, r.stdout) == (0, "mkdir=1\n") and "Operation not permitted" in r.stderr
    assert daemon.leftovers() == []


def test_docker_cli_refuses_other_security_options_and_bad_profiles_with_400(daemon, tmp_path):
    r = daemon.docker("run", "--rm", *NONE, "--security-opt", "apparmor=x", "busybox", "true")
    assert r.returncode == 125 and "SecurityOpt: apparmor=x is not supported" in r.stderr
    assert " POST /v1.41/containers/create 400 " in daemon.log()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                               "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_ALLOW"}]}))
    r = daemon.docker("run", "--rm", *NONE, "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode == 125 and "unknown syscall 'mkdri'" in r.stderr
    assert daemon.leftovers() == []


def test_docker_py_security_opt(docker_client, daemon):
    import docker
    out = docker_client.containers.run("busybox", list(SECCOMP), remove=True, network_mode="none",
                                       security_opt=["seccomp=unconfined"])
    assert out.split() == [b"Seccomp:", b"0"]
    try:
        docker_client.containers.run("busybox", ["true"], remove=True, network_mode="none",
                                     security_opt=["apparmor=x"])
    except docker.errors.APIError as exc:
        assert exc.status_code == 400 and "SecurityOpt: apparmor=x is not supported" in str(exc.explanation)
    else:
        raise AssertionError("apparmor=x was accepted")
    assert daemon.leftovers() == []
