"""Create options owned by the net, uts and ipc plugins and the core, seen from inside real containers:
``--add-host``, ``--dns*``, ``--domainname``, ``--ipc``/``--uts host|container:NAME``, ``--stop-timeout``;
bad input is one line, exit 125, nothing left (the leak check). Names cop*."""
from __future__ import annotations

import json
import os
import time

NONE = ("--network", "none")


def _one_line(res, words):
    assert res.returncode == 125 and words in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_add_host_and_dns_on_the_bridge(nsrun):
    res = nsrun("run", "--rm", "--add-host", "db:10.1.2.3", "--add-host", "gw:host-gateway",
                "--add-host", "v6=[fd00::5]", "--dns", "192.0.2.53", "--dns", "2001:db8::53",
                "--dns-search", "example.com", "--dns-option", "ndots:2", "--dns-option", "timeout:1",
                "busybox", "sh", "-c", "cat /etc/hosts; echo ==; cat /etc/resolv.conf; echo ==; ip -4 route",
                check=True)
    hosts, resolv, route = res.stdout.split("==\n")
    lines = hosts.splitlines()
    assert lines[2:5] == ["10.1.2.3\tdb", lines[3], "fd00::5\tv6"] and lines[3].endswith("\tgw")
    gateway = route.split("default via ")[1].split()[0]
    assert lines[3] == f"{gateway}\tgw"                         # host-gateway: the bridge's address
    assert resolv == ("nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.com\n"
                      "options ndots:2 timeout:1\n")


def test_add_host_without_a_bridge_and_dns_search_dot(nsrun):
    res = nsrun("run", "--rm", *NONE, "--add-host", "x:1.2.3.4", "--dns-search", ".", "--dns", "192.0.2.1",
                "busybox", "sh", "-c", "cat /etc/hosts /etc/resolv.conf", check=True)
    assert "1.2.3.4\tx\n" in res.stdout and "search" not in res.stdout
    assert "nameserver 192.0.2.1\n" in res.stdout
    _one_line(nsrun("--plugins", "uts,mnt", "run", "--rm", "--add-host", "x:1.2.3.4", "busybox", "true"),
              "--add-host needs the 'net' plugin")


def test_bad_names_options_are_one_line(nsrun):
    for args, words in ((("--dns", "1.2.3"), "invalid --dns '1.2.3'"),
                        (("--add-host", "nocolon"), "invalid --add-host 'nocolon'"),
                        (("--add-host", "a:not-an-ip"), "invalid --add-host 'a:not-an-ip'"),
                        (("--dns-search", "bad_domain!"), "invalid --dns-search"),
                        (("--dns-option", "two words"), "invalid --dns-option"),
                        (("--domainname", "-bad-"), "invalid domainname"),
                        (("--uts", "host", "-h", "box"), "conflicting options: hostname and the UTS mode"),
                        (("--uts", "bogus"), "use private, host, container:NAME or ns:PATH"),
                        (("--ipc", "container:copnosuch"), "No such container: copnosuch"),
                        (("--stop-timeout", "soon"), "invalid --stop-timeout 'soon'")):
        _one_line(nsrun("run", "--rm", *NONE, *args, "busybox", "true"), words)


def test_domainname_in_a_new_uts_namespace(nsrun):
    res = nsrun("run", "--rm", *NONE, "-h", "box", "--domainname", "example.org", "busybox", "sh", "-c",
                "hostname; cat /proc/sys/kernel/domainname", check=True)
    assert res.stdout == "box\nexample.org\n"
    with open("/proc/sys/kernel/domainname") as f:
        assert f.read().strip() != "example.org"


def test_ipc_and_uts_of_another_container_and_of_the_host(nsrun, unique):
    name = f"cop{unique}"
    nsrun("run", "-d", "--name", name, *NONE, "-h", "copbox", "--ipc", "shareable", "busybox", "sh", "-c",
          "touch /dev/mqueue/copq; exec sleep 60", check=True)
    try:
        pid = json.loads(nsrun("inspect", name, check=True).stdout)[0]["State"]["Pid"]
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/proc/{pid}/root/dev/mqueue/copq") and time.monotonic() < deadline:
            time.sleep(0.05)
        res = nsrun("run", "--rm", *NONE, "--ipc", f"container:{name}", "--uts", f"container:{name}", "busybox",
                    "sh", "-c", "ls /dev/mqueue; hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts",
                    check=True)
        assert res.stdout.split() == ["copq", "copbox", os.readlink(f"/proc/{pid}/ns/ipc"),
                                      os.readlink(f"/proc/{pid}/ns/uts")]
        alone = nsrun("run", "--rm", *NONE, "busybox", "ls", "/dev/mqueue", check=True)
        assert alone.stdout == ""                                   # a private namespace sees none of it
    finally:
        nsrun("rm", "-f", name)
    mine = f"/dev/shm/nsrun-test-{unique}"  # a scratch file of this test's in the host's POSIX shared memory
    with open(mine, "w") as f:
        f.write("from the host")
    try:
        host = nsrun("run", "--rm", *NONE, "--ipc", "host", "--uts", "host", "busybox", "sh", "-c",
                     "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname; "
                     f"cat {mine}; echo; echo back > {mine}.in", check=True)
        with open(f"{mine}.in") as f:
            back = f.read().strip()
    finally:
        for path in (mine, f"{mine}.in"):
            if os.path.exists(path):
                os.unlink(path)
    assert host.stdout.splitlines() == [os.readlink("/proc/self/ns/ipc"), os.readlink("/proc/self/ns/uts"),
                                        os.uname().nodename, "from the host"]
    assert back == "back"                                         # --ipc host: the host's /dev/shm, as Docker's
    nsrun("create", "--name", name, *NONE, "busybox", "true", check=True)
    try:
        _one_line(nsrun("run", "--rm", *NONE, "--uts", f"container:{name}", "busybox", "true"),
                  f"cannot join UTS of a non running container: {name}")
    finally:
        nsrun("rm", name, check=True)


def test_stop_timeout_is_the_containers_default(nsrun, unique):
    name = f"cop{unique}"
    nsrun("run", "-d", "--name", name, *NONE, "--stop-timeout", "1", "busybox", "sh", "-c",
          "trap '' TERM; while :; do sleep 0.1; done", check=True)
    try:
        assert json.loads(nsrun("inspect", name, check=True).stdout)[0]["Config"]["StopTimeout"] == 1
        start = time.monotonic()
        nsrun("stop", name, check=True)                              # SIGTERM ignored: SIGKILL after 1 s
        assert 0.9 < time.monotonic() - start < 6
    finally:
        nsrun("rm", "-f", name)
