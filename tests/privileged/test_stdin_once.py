"""Docker's ``StdinOnce`` through nsrun's own CLI: ``nsrun run -i`` (attached) gives the command EOF when our
stdin ends; ``nsrun run -di`` keeps the container's stdin open with no client and whatever ``nsrun attach``
clients do (their stdin ends, they detach with the keys, they are killed), and a later attach still writes to
it; ``nsrun create -i`` (``StdinOnce``, as the docker CLI's) + ``start``: open until an attached client's
stdin ends. With and without a tty the supervisor holds stdin as the config says; names ns4-*."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from waiting import wait_for

pytestmark = pytest.mark.privileged

NONE = ("--network", "none")
READER = "while read l; do echo got:$l; done; echo EOF-SEEN; sleep 300"


def _logs(nsrun, name: str) -> str:
    return nsrun("logs", name, check=True).stdout


def _running(nsrun, name: str) -> bool:
    return json.loads(nsrun("inspect", name, check=True).stdout)[0]["State"]["Running"]


def test_run_i_attached_gives_eof_at_the_end_of_our_stdin(nsrun):
    out = nsrun("run", "--rm", "-i", *NONE, "busybox", "sh", "-c", "cat; echo end", input="a\n", check=True)
    assert out.stdout == "a\nend\n"


def test_run_di_keeps_stdin_open_whatever_attach_clients_do(nsrun):
    nsrun("run", "-d", "-i", "--name", "ns4-di", *NONE, "busybox", "sh", "-c", READER, check=True)
    try:
        time.sleep(1)
        assert "EOF-SEEN" not in _logs(nsrun, "ns4-di")
        # an attach whose stdin ends, then is killed
        client = nsrun.popen("attach", "ns4-di", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            client.stdin.write(b"one\n")
            client.stdin.close()
            assert wait_for(lambda: "got:one" in _logs(nsrun, "ns4-di"))
            time.sleep(0.3)
            assert client.poll() is None                    # it goes on showing the output
        finally:
            client.kill()
            client.wait(10)
        # one that detaches with the keys
        res = nsrun("attach", "--detach-keys", "ctrl-x,x", "ns4-di", input="two\n\x18x", timeout=20)
        assert res.returncode == 0
        assert wait_for(lambda: "got:two" in _logs(nsrun, "ns4-di"))
        time.sleep(0.5)
        assert "EOF-SEEN" not in _logs(nsrun, "ns4-di") and _running(nsrun, "ns4-di")
    finally:
        nsrun("rm", "-f", "ns4-di")


def test_run_dit_keeps_its_pty_open_after_a_client_leaves(nsrun):
    nsrun("run", "-dit", "--name", "ns4-dit", *NONE, "busybox", "sh", check=True)
    try:
        client = nsrun.popen("attach", "ns4-dit", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        client.stdin.write(b"echo typed-$((6*7))\n")
        client.stdin.close()
        assert wait_for(lambda: "typed-42" in _logs(nsrun, "ns4-dit"))
        client.kill()
        client.wait(10)
        time.sleep(0.5)
        assert _running(nsrun, "ns4-dit")
    finally:
        nsrun("rm", "-f", "ns4-dit")


def test_create_i_then_start_is_open_until_an_attached_clients_stdin_ends(nsrun):
    nsrun("create", "-i", "--name", "ns4-ci", *NONE, "busybox", "sh", "-c",
          "while read l; do echo got:$l; done; echo EOF-SEEN", check=True)
    try:
        nsrun("start", "ns4-ci", check=True)
        time.sleep(1)
        assert "EOF-SEEN" not in _logs(nsrun, "ns4-ci") and _running(nsrun, "ns4-ci")
        res = nsrun("attach", "ns4-ci", input="x\n", timeout=20)   # ends with the container, which saw EOF
        assert res.returncode == 0 and res.stdout == "got:x\nEOF-SEEN\n"
    finally:
        nsrun("rm", "-f", "ns4-ci")


def test_a_restart_gets_an_open_stdin_again_after_a_stdin_once_eof(nsrun):
    """The first run's stdin ends with the attached client's (StdinOnce); the restart policy's next run has
    an open stdin again, as dockerd gives each start new input pipes."""
    nsrun("create", "-i", "--restart", "on-failure:1", "--name", "ns4-re", *NONE, "busybox", "sh", "-c",
          "if [ -e /ran ]; then cat; echo EOF-AGAIN; exec sleep 300; fi; touch /ran; cat; exit 1", check=True)
    try:
        nsrun("start", "ns4-re", check=True)
        res = nsrun("attach", "ns4-re", input="first\n", timeout=20)   # ends when the first run exits
        assert res.returncode == 1 and "first" in res.stdout
        assert wait_for(lambda: nsrun("exec", "ns4-re", "cat", "/proc/1/comm").stdout == "sh\n")
        time.sleep(1)
        assert "EOF-AGAIN" not in _logs(nsrun, "ns4-re") and _running(nsrun, "ns4-re")
    finally:
        nsrun("rm", "-f", "ns4-re")
