"""One conformance suite for every firewall backend (nft, iptables with the nft and the legacy variant):
publish, unpublish, 127.0.0.1, the host's own address, hairpin, masquerade, isolation, teardown, gc, and the
host's loopback-only services out of a container's reach. Real packets only, between namespaces this test made."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys

import pytest

from leakcheck import root_tag
from netenv import backend, net_nsrun, peer, sh  # noqa: F401 (fixtures)
from waiting import wait_for

WEB = ["sh", "-c", "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"]


def GET(host: str, port: int = 80, wait: int = 3) -> list[str]:
    """argv for a container: an HTTP GET with busybox nc, printing the body (busybox-static's wget crashes)."""
    return ["sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w {wait} {host} {port} | tail -n 1"]


def _port() -> int:
    return random.randint(20000, 29999)


def _start_web(run, name: str, *extra: str) -> dict:
    res = run("run", "-d", "--name", name, *extra, "busybox", *WEB)
    assert res.returncode == 0, res.stderr
    info = json.loads(run.plain("inspect", name, check=True).stdout)[0]
    return info


def _host_fetch(url: str) -> str:
    res = subprocess.run(["curl", "-s", "-m", "3", url], capture_output=True, text=True, timeout=10)
    return res.stdout if res.returncode == 0 else ""


def _fw_mentions(backend: str, root: str, text: str) -> bool:
    tag = root_tag(root)
    if backend == "nft":
        out = sh("nft", "list", "table", "ip", f"nsrun{tag}", check=False).stdout
    else:
        out = sh("iptables-legacy-save" if backend == "iptables-legacy" else "iptables-save", "-t", "nat").stdout
        out = "\n".join(line for line in out.splitlines() if f"NSRUN{tag.upper()}" in line)
    return text in out


def test_publish_reaches_from_client_localhost_host_address_and_hairpin(net_nsrun, nsrun_root, unique):
    hp = _port()
    with peer(nsrun_root, "c", unique, 0) as client:
        info = _start_web(net_nsrun, f"web{unique}", "-p", f"{hp}:80")
        settings = info["Info"]["NetworkSettings"]
        want = f"hello-{info['Config']['Hostname']}"
        assert settings["IPAddress"] and settings["Gateway"] and settings["MacAddress"].startswith("02:42:")
        assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(hp)}]}
        ps = net_nsrun.plain("ps", check=True).stdout
        assert f"0.0.0.0:{hp}->80/tcp" in ps
        assert wait_for(lambda: client.fetch(f"http://{client.host_ip}:{hp}/")).strip() == want  # another host
        assert _host_fetch(f"http://127.0.0.1:{hp}/").strip() == want                             # localhost
        assert _host_fetch(f"http://{client.host_ip}:{hp}/").strip() == want                      # own address
        hairpin = net_nsrun.plain("exec", f"web{unique}", *GET(client.host_ip, hp), timeout=15)
        assert hairpin.stdout.strip() == want, hairpin.stderr
        assert _fw_mentions(net_nsrun.backend["name"], nsrun_root, str(hp))
        net_nsrun.plain("rm", "-f", f"web{unique}", check=True)
        # unpublished and torn down: nothing answers, nothing of the container is left
        assert not _fw_mentions(net_nsrun.backend["name"], nsrun_root, str(hp))
        assert client.fetch(f"http://{client.host_ip}:{hp}/", timeout=1) == ""
        tag = root_tag(nsrun_root)
        assert not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}v")]
        leases = [f for _, _, fs in os.walk(os.path.join(nsrun_root, "networks")) for f in fs
                  if f.endswith(".lease")]
        assert leases == []


def test_masquerade_upstream_sees_the_host_address(net_nsrun, nsrun_root, unique):
    with peer(nsrun_root, "u", unique, 1) as up:
        server = subprocess.Popen(["ip", "netns", "exec", up.netns, "socat", "-T", "5",
                                   "TCP-LISTEN:8000,reuseaddr,fork", "SYSTEM:echo $SOCAT_PEERADDR"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: "8000" in up.run("ss", "-ltn").stdout, timeout=5)
            res = net_nsrun("run", "--rm", "busybox", "nc", "-w", "3", up.ip, "8000", timeout=30)
            assert res.returncode == 0, res.stderr
            seen = res.stdout.strip()
            assert seen == up.host_ip, f"upstream saw {seen!r}, expected the host's address {up.host_ip}"
        finally:
            server.kill()
            server.wait(timeout=10)


def test_networks_are_isolated_and_names_resolve_inside_one(net_nsrun, nsrun_root, unique):
    block = int(unique, 16) % 120
    a, b = f"na{unique}", f"nb{unique}"
    net_nsrun("network", "create", "--subnet", f"10.102.{block}.0/24", a, check=True)
    net_nsrun("network", "create", "--subnet", f"10.102.{block + 128}.0/24", b, check=True)
    info = _start_web(net_nsrun, f"web{unique}", "--network", a)
    ip = info["Info"]["NetworkSettings"]["IPAddress"]
    want = f"hello-{info['Config']['Hostname']}"
    same = net_nsrun("run", "--rm", "--network", a, "busybox", *GET(f"web{unique}"), timeout=30)
    assert same.stdout.strip() == want, same.stderr
    by_ip = net_nsrun("run", "--rm", "--network", a, "busybox", *GET(ip), timeout=30)
    assert by_ip.stdout.strip() == want
    other = net_nsrun("run", "--rm", "--network", b, "busybox", *GET(ip, wait=2), timeout=30)
    assert want not in other.stdout
    busy = net_nsrun("network", "rm", a)
    assert busy.returncode == 125 and "active endpoints" in busy.stderr and len(busy.stderr.splitlines()) == 1
    net_nsrun.plain("rm", "-f", f"web{unique}", check=True)
    net_nsrun("network", "rm", a, b, check=True)


def test_gc_after_kill9_leaves_nothing(net_nsrun, nsrun_root, unique):
    hp = _port()
    proc = net_nsrun.plain.popen("--plugins", net_nsrun.backend["plugins"], "run", "--name", f"k{unique}",
                                 "-p", f"{hp}:80", "busybox", "sleep", "60",
                                 env={**os.environ, **net_nsrun.backend["env"]},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: f"k{unique}" in net_nsrun.plain("ps").stdout, timeout=20)
        assert _fw_mentions(net_nsrun.backend["name"], nsrun_root, str(hp))
        # netlink and the firewall were used before and after the fork: still no thread besides the main one
        assert os.listdir(f"/proc/{proc.pid}/task") == [str(proc.pid)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    res = net_nsrun("gc", timeout=60)
    assert res.returncode == 0, res.stderr
    assert not _fw_mentions(net_nsrun.backend["name"], nsrun_root, str(hp))
    tag = root_tag(nsrun_root)
    veths = lambda: [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}v")]  # noqa
    assert wait_for(lambda: not veths(), timeout=5)
    leases = [f for _, _, fs in os.walk(os.path.join(nsrun_root, "networks")) for f in fs if f.endswith(".lease")]
    assert leases == []
    net_nsrun.plain("rm", "-f", f"k{unique}")


def test_kill9_during_start_then_gc_leaves_nothing(net_nsrun, nsrun_root, unique):
    """nsrun killed at several points of a bridge-mode start with a published port; gc finishes the job."""
    import time
    tag = root_tag(nsrun_root)
    net_nsrun("run", "--rm", "busybox", "true", check=True)  # image and bridge exist: kills land in the start
    for i, delay in enumerate((0.03, 0.08, 0.15, 0.25, 0.4)):
        hp = _port()
        proc = net_nsrun.plain.popen("--plugins", net_nsrun.backend["plugins"], "run", "--rm", "-p", f"{hp}:80",
                                     "busybox", "sleep", "30", env={**os.environ, **net_nsrun.backend["env"]},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        res = net_nsrun("gc", timeout=60)
        assert res.returncode == 0, res.stderr
        assert not _fw_mentions(net_nsrun.backend["name"], nsrun_root, f"{hp}"), f"DNAT left (delay {delay})"
        assert wait_for(lambda: not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}v")],
                        timeout=5), f"veth left (delay {delay})"
        leases = [f for _, _, fs in os.walk(os.path.join(nsrun_root, "networks")) for f in fs
                  if f.endswith(".lease")]
        assert leases == [], f"leases left (delay {delay})"


def test_udp_publish_and_a_port_another_container_holds(net_nsrun, nsrun_root, unique):
    hp = _port()
    with peer(nsrun_root, "c", unique, 2) as client:
        res = net_nsrun("run", "-d", "--name", f"u{unique}", "--rootfs", "/", "-p", f"{hp}:53/udp", "socat",
                        "UDP4-RECVFROM:53,fork", "SYSTEM:echo udp-answer")
        assert res.returncode == 0, res.stderr
        taken = net_nsrun("run", "--rm", "-p", f"{hp}:99/udp", "busybox", "true")
        assert taken.returncode == 125 and "already allocated" in taken.stderr
        assert len(taken.stderr.strip().splitlines()) == 1
        ask = lambda: client.run("sh", "-c", f"echo q | socat -t 2 - UDP4:{client.host_ip}:{hp}",  # noqa: E731
                                 timeout=10).stdout
        assert wait_for(ask, timeout=8).strip() == "udp-answer"
        # UDP has no handshake and the answerer forks per datagram: ask again, as a DNS client does, rather
        # than fail on one datagram that went unanswered on a loaded machine
        local = lambda: subprocess.run(["sh", "-c", f"echo q | socat -t 2 - UDP4:127.0.0.1:{hp}"],  # noqa: E731
                                       capture_output=True, text=True, timeout=10).stdout
        assert wait_for(local, timeout=8).strip() == "udp-answer"
        net_nsrun.plain("rm", "-f", f"u{unique}", check=True)


PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synprobe.py")


def _decoy() -> socket.socket:
    """A host service bound to loopback only (what `nsrun daemon -H tcp://127.0.0.1:PORT` is), on a free port."""
    for _ in range(50):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", random.randint(30000, 30999)))
        except OSError:
            s.close()
            continue
        s.listen(8)
        return s
    raise AssertionError("no free decoy port in 30000-30999")


def _craft(pid: int, settings: dict, port: int) -> dict:
    """Hand-made SYN frames from the container's address to 127.0.0.1:``port``, addressed to the gateway's MAC
    (the host's bridge): the JSON line of ``synprobe.py``. The container's root has CAP_NET_RAW over its own
    network namespace, so a process in it could send exactly these frames; busybox has no packet crafter, so
    the host's python3 runs the crafter in the container's network namespace only (``nsenter -n``): nothing
    else of the host (its netns, routes, firewall) is on the attacker's side."""
    with open(f"/sys/class/net/{settings['Bridge']}/address") as f:
        gateway_mac = f.read().strip()
    res = sh("nsenter", "-t", str(pid), "-n", sys.executable, PROBE, "eth0", settings["IPAddress"], gateway_mac,
             "127.0.0.1", str(port), "3", timeout=20)
    return json.loads(res.stdout)


@pytest.mark.parametrize("userns", ["", "user,"], ids=["root", "userns"])
def test_a_container_cannot_reach_the_hosts_loopback_services(net_nsrun, nsrun_root, unique, userns):
    """CVE-2020-8558's class: the bridge has route_localnet=1 (ports published on 127.0.0.1 need it), so a frame
    a container sends to its gateway's MAC with destination 127.0.0.1 would reach whatever listens on loopback
    only. A container's own port published on 127.0.0.1 is the one loopback destination it can still reach."""
    plugins = userns + net_nsrun.backend["plugins"]
    decoy = _decoy()
    hp = random.randint(30000, 30999)
    while hp == decoy.getsockname()[1]:
        hp = random.randint(30000, 30999)
    try:
        res = net_nsrun.plain("--plugins", plugins, "run", "-d", "--name", f"w{unique}", "-p", f"127.0.0.1:{hp}:80",
                              "busybox", *WEB, env=net_nsrun.backend["env"])
        assert res.returncode == 0, res.stderr
        info = json.loads(net_nsrun.plain("inspect", f"w{unique}", check=True).stdout)[0]
        settings, pid = info["Info"]["NetworkSettings"], info["State"]["Pid"]
        want = f"hello-{info['Config']['Hostname']}"
        # publishing on 127.0.0.1 works from the host
        assert wait_for(lambda: _host_fetch(f"http://127.0.0.1:{hp}/")).strip() == want
        # the crafter works: aimed at the published port, the DNAT answers (from 127.0.0.1:hp, un-NATed)
        assert _craft(pid, settings, hp) == {"synack": True, "from": f"127.0.0.1:{hp}"}
        # aimed at the decoy: no SYN-ACK, and the decoy never sees a connection
        port = decoy.getsockname()[1]
        assert _craft(pid, settings, port) == {"synack": False, "from": None}
        decoy.setblocking(False)
        with pytest.raises(BlockingIOError):
            decoy.accept()
        # and publishing on 127.0.0.1 still works afterwards
        assert _host_fetch(f"http://127.0.0.1:{hp}/").strip() == want
    finally:
        decoy.close()
        net_nsrun.plain("rm", "-f", f"w{unique}")


def _seqs(sock: socket.socket) -> tuple[int, int]:
    """(next sequence number to send, next expected) of a connected TCP socket, read in repair mode."""
    TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, RECV, SEND = 19, 20, 21, 1, 2
    sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    try:
        out = []
        for queue in (SEND, RECV):
            sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)
            out.append(sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ) & 0xFFFFFFFF)
    finally:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
    return out[0], out[1]


@pytest.mark.parametrize("userns", ["", "user,"], ids=["root", "userns"])
def test_a_container_cannot_inject_into_the_hosts_loopback_connections(net_nsrun, nsrun_root, unique, userns):
    """A connection between two of the host's loopback addresses is ESTABLISHED in conntrack: a segment a
    container sends with that connection's addresses (a loopback source, which the kernel lets in on a bridge
    with route_localnet=1 unless it is an address of lo itself) would pass as a reply and land in it. The test
    hands the attacker the sequence numbers (read in TCP repair mode) a patient one would have to guess."""
    res = net_nsrun.plain("--plugins", userns + net_nsrun.backend["plugins"], "run", "-d", "--name",
                          f"s{unique}", "busybox", "sleep", "60", env=net_nsrun.backend["env"])
    assert res.returncode == 0, res.stderr
    decoy = _decoy()
    client = socket.socket()
    try:
        info = json.loads(net_nsrun.plain("inspect", f"s{unique}", check=True).stdout)[0]
        settings, pid = info["Info"]["NetworkSettings"], info["State"]["Pid"]
        with open(f"/sys/class/net/{settings['Bridge']}/address") as f:
            gateway_mac = f.read().strip()
        client.bind(("127.0.0.2", 0))
        client.connect(decoy.getsockname())
        conn, _ = decoy.accept()
        seq, ack = _seqs(client)
        # crafted in the container's network namespace only, as in _craft
        sh("nsenter", "-t", str(pid), "-n", sys.executable, PROBE, "inject", "eth0", "127.0.0.2",
           str(client.getsockname()[1]), gateway_mac, "127.0.0.1", str(decoy.getsockname()[1]), str(seq), str(ack))
        client.sendall(b"from-the-host\n")  # the connection itself still works, and is what the decoy reads
        conn.settimeout(2)
        assert conn.recv(100) == b"from-the-host\n"
        conn.close()
    finally:
        client.close()
        decoy.close()
        net_nsrun.plain("rm", "-f", f"s{unique}")
