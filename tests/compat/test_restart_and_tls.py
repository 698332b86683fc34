"""A daemon restart (even ``kill -9``) loses no container; the loopback/TLS rules for TCP are enforced."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import NSRUN, Daemon  # noqa: F401  (tests/compat/conftest.py)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_containers_survive_a_daemon_restart(daemon, how):
    script = 'echo started; trap "echo bye; exit 3" TERM; while true; do sleep 0.05; done'
    cid = daemon.docker("run", "-d", "--name", "survivor", "--network", "none", "busybox", "sh", "-c", script,
                        check=True).stdout.strip()
    daemon.stop(how)
    supervisors = subprocess.run(["pgrep", "-f", rf"nsrun\._(supervisor|forkserver) .*{daemon.root}"],
                                 capture_output=True).stdout
    assert supervisors, "the container's supervisor went away with the daemon"
    daemon.start()
    assert daemon.docker("ps", "--format", "{{.ID}} {{.Status}}", check=True).stdout.startswith(cid[:12] + " Up")
    assert daemon.docker("exec", "survivor", "echo", "still-here", check=True).stdout == "still-here\n"
    waiter = subprocess.Popen(["docker", "-H", daemon.unix_url, "wait", "survivor"], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "DOCKER_CONFIG": daemon.config})
    time.sleep(0.2)
    daemon.docker("stop", "survivor", check=True)
    assert waiter.communicate(timeout=30)[0].strip() == "3"
    assert daemon.docker("logs", "survivor", check=True).stdout == "started\nbye\n"
    daemon.docker("rm", "survivor", check=True)


def _certs(tmp_path) -> dict[str, str]:
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=nsrun test CA")
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (tmp_path / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    for who, ext in (("server", "ext.cnf"), ("client", "client.cnf")):
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem", "-out", f"{who}.csr", "-subj",
            f"/CN={who}")
        ssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", f"{who}.pem", "-days", "2", "-extfile", ext)
    return {name: str(tmp_path / name) for name in ("ca.pem", "server.pem", "server-key.pem", "client.pem",
                                                     "client-key.pem")}


def test_plain_tcp_beyond_loopback_is_refused(nsrun_root, docker_cli):
    for addr in ("tcp://0.0.0.0:2399", "tcp://[::]:2399", "tcp://192.0.2.1:2399"):
        r = subprocess.run([NSRUN, "--root", nsrun_root, "daemon", "-H", addr], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 125 and "without TLS" in r.stderr and "--tlsverify" in r.stderr, r
    r = subprocess.run([NSRUN, "--root", nsrun_root, "daemon", "-H", "tcp://0.0.0.0:2399", "--tlsverify"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 125 and "--tlscacert" in r.stderr


def test_mutual_tls_beyond_loopback(nsrun_root, docker_cli, tmp_path):
    c = _certs(tmp_path)
    d = Daemon(nsrun_root, extra=("--tlsverify", "--tlscacert", c["ca.pem"], "--tlscert", c["server.pem"],
                                  "--tlskey", c["server-key.pem"]), tcp_ip="0.0.0.0")
    d.start()
    try:
        url = f"tcp://127.0.0.1:{d.port}"
        tls = ("--tlsverify", "--tlscacert", c["ca.pem"], "--tlscert", c["client.pem"], "--tlskey",
               c["client-key.pem"])
        r = d.docker(*tls, "run", "--rm", "--network", "none", "busybox", "echo", "over-tls", host=url)
        assert (r.returncode, r.stdout) == (0, "over-tls\n"), (r, d.log())
        no_cert = d.docker("--tlsverify", "--tlscacert", c["ca.pem"], "version", host=url, timeout=30)
        assert no_cert.returncode != 0
        plain = d.docker("version", host=url, timeout=30)
        assert plain.returncode != 0
    finally:
        d.stop()
    assert d.leftovers() == []


def test_losing_the_fork_server_loses_no_container(daemon):
    daemon.docker("run", "-d", "--name", "orphan", "--network", "none", "busybox", "sh", "-c", "sleep 1; exit 9",
                  check=True)
    waiter = subprocess.Popen(["docker", "-H", daemon.unix_url, "wait", "orphan"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "DOCKER_CONFIG": daemon.config})
    time.sleep(0.2)
    forkserver = subprocess.run(["pgrep", "-P", str(daemon.proc.pid), "-f", "nsrun._forkserver"],
                                capture_output=True, text=True).stdout.split()
    assert len(forkserver) == 1
    os.kill(int(forkserver[0]), signal.SIGKILL)
    r = daemon.docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo after; exit 4")
    assert (r.returncode, r.stdout) == (4, "after\n")
    assert waiter.communicate(timeout=30)[0].strip() == "9"
    daemon.docker("rm", "orphan", check=True)
