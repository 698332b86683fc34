"""Network modes with real namespaces: none, host, container:NAME; bad input leaves nothing behind; the
parent has one thread when it forks even after opening a netlink socket."""
from __future__ import annotations

import json

import os
import subprocess
import sys

import pytest

from leakcheck import root_tag, snapshot
from netenv import NSRUN


def test_none_has_only_lo_up(nsrun):
    res = nsrun("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link", check=True)
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and ": lo:" in lines[0] and "UP" in lines[0]


def test_host_sees_host_interfaces_and_warns_about_ports(nsrun):
    res = nsrun("run", "--rm", "--network", "host", "-p", "80:80", "busybox", "cat", "/proc/net/dev", check=True)
    assert "eth0" in res.stdout or "lo" in res.stdout
    assert "WARNING: Published ports are discarded when using host network mode" in res.stderr
    with open("/proc/net/dev") as f:
        assert {line.split(":")[0].strip() for line in f if ":" in line} == \
            {line.split(":")[0].strip() for line in res.stdout.splitlines() if ":" in line}


def test_container_mode_shares_localhost_and_outlives_joiner(nsrun, unique):
    name = f"srv{unique}"
    nsrun("run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c",
          "mkdir -p /w && echo shared > /w/index.html && exec httpd -f -p 127.0.0.1:8080 -h /w", check=True)
    try:
        get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080 | tail -n 1"
        res = nsrun("run", "--rm", "--network", f"container:{name}", "busybox", "sh", "-c", get, timeout=30)
        assert res.stdout.strip() == "shared", res.stderr
        again = nsrun("exec", name, "sh", "-c", get, timeout=30)
        assert again.stdout.strip() == "shared"  # the joined container's network is still there
    finally:
        nsrun("rm", "-f", name)


def test_a_joiner_holding_the_namespace_does_not_keep_the_veth_or_the_address(nsrun, nsrun_root, unique):
    """Teardown leaves a dead container's veth to the kernel only when nothing else lives in its namespace."""
    tag, name = root_tag(nsrun_root), f"tgt{unique}"
    nsrun("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        veths = [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}v")]
        assert len(veths) == 1
        ip = nsrun("exec", name, "ip", "-o", "-4", "addr", "show", "eth0", check=True).stdout.split("inet ")[1]
        nsrun("run", "-d", "--name", f"j{unique}", "--network", f"container:{name}", "busybox", "sleep", "300",
              check=True)
        nsrun("rm", "-f", name, check=True)
        # the joiner still lives in the namespace: nsrun deleted the pair itself, and freed the address
        assert not os.path.exists(f"/sys/class/net/{veths[0]}")
        joined = nsrun("exec", f"j{unique}", "ip", "-o", "link", check=True).stdout
        assert "eth0" not in joined and ": lo:" in joined
        again = nsrun("run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0", check=True).stdout
        assert again.split("inet ")[1].split("/")[0] == ip.split("/")[0]  # the lowest address, free again
    finally:
        nsrun("rm", "-f", name, f"j{unique}")


@pytest.mark.parametrize("args, words", [
    (["-p", "99999:80"], "must be 1-65535"),
    (["-p", "abc"], "invalid container port"),
    (["-p", "80:80/sctp"], "invalid protocol"),
    (["--network", "container:nonexistent"], "no such container"),
    (["--network", "nosuchnet"], "network nosuchnet not found"),
])
def test_bad_input_is_one_line_exit_125_and_creates_nothing(nsrun, nsrun_root, args, words):
    before = snapshot(nsrun_root)
    res = nsrun("run", "--rm", *args, "busybox", "true")
    assert res.returncode == 125
    assert len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr
    assert snapshot(nsrun_root) == before
    assert not os.path.exists(os.path.join(nsrun_root, "networks")) or \
        not os.listdir(os.path.join(nsrun_root, "containers"))


def test_overlapping_subnets_are_refused(nsrun, unique):
    block = int(unique, 16) % 250
    assert nsrun("network", "create", "--subnet", "192.0.2.0/25", f"x{unique}").returncode == 125  # eth0's route
    nsrun("network", "create", "--subnet", f"10.101.{block}.0/24", f"a{unique}", check=True)
    try:
        res = nsrun("network", "create", "--subnet", f"10.101.{block}.128/25", f"b{unique}")
        assert res.returncode == 125 and "overlaps network" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    finally:
        nsrun("network", "rm", f"a{unique}", check=True)


def test_port_taken_by_a_host_process_fails_before_anything_exists(nsrun, nsrun_root):
    import socket
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        tag = root_tag(nsrun_root)
        res = nsrun("run", "--rm", "-p", f"{port}:80", "busybox", "true")
        assert res.returncode == 125 and "host process" in res.stderr, res.stderr
        assert not any(n.startswith(f"nsr{tag}") for n in os.listdir("/sys/class/net"))


def test_no_extra_thread_with_netlink_open_at_fork():
    code = ("import os; from nsrun_ns_net.netlink import open_ipr; ipr = open_ipr(); ipr.link_lookup(ifname='lo');"
            "print(len(os.listdir('/proc/self/task')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "1"


def test_default_bridge_run_then_reset_leaves_the_host_as_found(nsrun, nsrun_root):
    tag = root_tag(nsrun_root)
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward_before = f.read().strip()
    res = nsrun("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0; ip route; cat /etc/hosts",
                check=True)
    assert "eth0" in res.stdout and "default via" in res.stdout
    ip = res.stdout.split("inet ")[1].split("/")[0]
    assert any(line.startswith(ip) for line in res.stdout.splitlines())  # /etc/hosts names the container
    # the veth is gone when run returns (the kernel deleted it with the namespace, or nsrun did); the bridge
    # stays, like docker0
    assert [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}")] == [f"nsr{tag}b0"]
    out = nsrun("system", "reset", check=True).stdout
    assert f"removed bridge nsr{tag}b0" in out
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}")]
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        after = f.read().strip()
    others = [n for n in os.listdir("/sys/class/net") if n.startswith("nsr") and
              os.path.isdir(f"/sys/class/net/{n}/bridge")]
    assert after == forward_before or others


def test_network_commands_and_a_chosen_host_port(nsrun, unique):
    block = int(unique, 16) % 250
    name = f"n{unique}"
    net_id = nsrun("network", "create", "--subnet", f"10.101.{block}.0/24", "--gateway", f"10.101.{block}.254",
                   name, check=True).stdout.strip()
    assert len(net_id) == 64
    assert name in nsrun("network", "ls", check=True).stdout
    again = nsrun("network", "create", name)
    assert again.returncode == 125 and "already exists" in again.stderr
    nsrun("run", "-d", "--name", f"c{unique}", "--network", name, "-p", "80", "-p", "127.0.0.1::53/udp",
          "busybox", "sleep", "30", check=True)
    try:
        info = json.loads(nsrun("inspect", f"c{unique}", check=True).stdout)[0]["Info"]
        settings = info["NetworkSettings"]
        assert settings["Gateway"] == f"10.101.{block}.254" and settings["IPAddress"] == f"10.101.{block}.1"
        tcp = settings["Ports"]["80/tcp"][0]
        assert tcp["HostIp"] == "0.0.0.0" and 32768 <= int(tcp["HostPort"]) <= 60999
        assert info["Ports"] == (f"0.0.0.0:{tcp['HostPort']}->80/tcp, "
                                 f"127.0.0.1:{settings['Ports']['53/udp'][0]['HostPort']}->53/udp")
        assert info["Ports"] in nsrun("ps", check=True).stdout
        shown = json.loads(nsrun("network", "inspect", name, check=True).stdout)[0]
        assert [c["Name"] for c in shown["Containers"].values()] == [f"c{unique}"]
    finally:
        nsrun("rm", "-f", f"c{unique}", check=True)
    nsrun("network", "rm", name, check=True)
    assert name not in nsrun("network", "ls", check=True).stdout


def test_fifty_parallel_runs_get_fifty_addresses(nsrun, unique):
    names = [f"p{unique}{i}" for i in range(50)]
    nsrun("run", "--rm", "--network", "none", "busybox", "true", check=True)  # the image exists before the race
    procs = [nsrun.popen("run", "-d", "--name", n, "busybox", "sleep", "60", stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE) for n in names]
    try:
        errors = [p.communicate(timeout=180)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        infos = json.loads(nsrun("inspect", *names, check=True, timeout=60).stdout)
        ips = {i["Info"]["NetworkSettings"]["IPAddress"] for i in infos}
        assert len(ips) == 50
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        nsrun("rm", "-f", *names, timeout=180)


def test_backend_selection_errors(nsrun):
    both = nsrun("--plugins", "pid,net,nft,iptables,mnt", "run", "--rm", "busybox", "true")
    assert both.returncode == 125 and "both provide 'port-publish'" in both.stderr
    none = nsrun("--plugins", "pid,net,mnt", "run", "--rm", "busybox", "true")
    assert none.returncode == 125 and "needs a firewall backend" in none.stderr
    ok = nsrun("--plugins", "pid,net,mnt", "run", "--rm", "--network", "none", "busybox", "true")
    assert ok.returncode == 0, ok.stderr
    publish = nsrun("--plugins", "pid,mnt", "run", "--rm", "-p", "80:80", "busybox", "true")
    assert publish.returncode == 125 and "'net' plugin" in publish.stderr


def test_no_pyroute2_on_the_start_path_bridge_mode_included(nsrun_root):
    """Starts speak rtnetlink through nsrun_ns_net.rtnl; pyroute2 (~55-70 ms to import) is left to gc."""
    def imported(*run_args: str) -> str:
        code = "import sys; from nsrun.cli import main; sys.argv[0] = 'nsrun'; main()"
        res = subprocess.run([sys.executable, "-X", "importtime", "-c", code, "--root", nsrun_root, "run", "--rm",
                              *run_args, "busybox", "true"], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr[-500:]
        return res.stderr
    none = imported("--network", "none")
    assert "pyroute2" not in none and "nsrun_ns_net.rtnl" not in none
    bridge = imported("-p", "80")  # a real bridge start, with a published port: veth, address, route, DNAT
    assert "nsrun_ns_net.rtnl" in bridge  # the bridge path did run
    assert "pyroute2" not in bridge


def _ipv4_gso_max(netns_pid: int | None, name: str) -> int | None:
    """IFLA_GSO_IPV4_MAX_SIZE of link ``name`` (iproute2 6.1 does not print it), asked over netlink."""
    from nsrun import syscalls
    from nsrun_ns_net.rtnl import Rtnl
    with (Rtnl.in_netns(netns_pid, syscalls.setns) if netns_pid else Rtnl()) as rt:
        return rt.gso_ipv4_max_size(name)


def test_bridge_links_have_dockers_mtu_the_default_route_the_uplinks_and_pass_big_tcp(nsrun, nsrun_root, unique):
    from nsrun_ns_net.netlink import host_mtu, link_mtus
    from nsrun_ns_net.rtnl import BIG_TCP
    tag, name = root_tag(nsrun_root), f"mtu{unique}"
    big_kernel = tuple(int(x) for x in os.uname().release.split(".")[:2]) >= (6, 3)  # IPv4 BIG TCP exists
    nsrun("network", "create", "-o", "nsrun.bridge.big_tcp=true", f"n{unique}", check=True)
    nsrun("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    nsrun("run", "-d", "--name", f"{name}b", "--network", f"n{unique}", "busybox", "sleep", "300", check=True)
    try:
        small = json.loads(nsrun("inspect", name, check=True).stdout)[0]["State"]["Pid"]
        big = json.loads(nsrun("inspect", f"{name}b", check=True).stdout)[0]["State"]["Pid"]
        veths = [n for n in os.listdir("/sys/class/net") if n.startswith(f"nsr{tag}v")]
        assert len(veths) == 2
        for link in [f"nsr{tag}b0", *veths]:
            with open(f"/sys/class/net/{link}/mtu") as f:
                assert int(f.read()) == max(1500, host_mtu())  # Docker's MTU between containers and host
            if big_kernel:  # the host side passes super-packets on every network
                assert _ipv4_gso_max(None, link) == BIG_TCP
        inside = nsrun("exec", name, "cat", "/sys/class/net/eth0/mtu", check=True).stdout.strip()
        assert int(inside) == link_mtus()[0]
        routes = subprocess.run(["nsenter", "-t", str(small), "-n", "ip", "route"], capture_output=True, text=True,
                                check=True).stdout  # the host's iproute2 (busybox's prints no metrics)
        default = next(line for line in routes.splitlines() if line.startswith("default"))
        if host_mtu() < 1500:  # what leaves the host fits the uplink from the first segment on
            assert f"mtu {host_mtu()}" in default, routes
        else:
            assert "mtu" not in default, routes
        if big_kernel:  # a container sends them only when its network says so (the default network does not)
            assert _ipv4_gso_max(small, "eth0") == 65536
            assert _ipv4_gso_max(big, "eth0") == BIG_TCP
        shown = json.loads(nsrun("network", "inspect", f"n{unique}", check=True).stdout)[0]
        assert shown["Options"]["nsrun.bridge.big_tcp"] == "true"               # as given
        assert shown["Nsrun"]["Options"]["nsrun.bridge.big_tcp"] == "true"      # as made
        opts = json.loads(nsrun("network", "inspect", "bridge", check=True).stdout)[0]["Nsrun"]["Options"]
        assert opts["nsrun.bridge.big_tcp"] == "false"
    finally:
        nsrun("rm", "-f", name, f"{name}b")
        nsrun("network", "rm", f"n{unique}")


def test_unknown_network_option_is_refused(nsrun, unique):
    res = nsrun("network", "create", "-o", "com.docker.network.bridge.name=br9", f"n{unique}")
    assert res.returncode == 125 and "unknown network option" in res.stderr and len(res.stderr.splitlines()) == 1
    res = nsrun("network", "create", "-o", "nsrun.bridge.big_tcp=maybe", f"n{unique}")
    assert res.returncode == 125 and "use true or false" in res.stderr
    assert f"n{unique}" not in nsrun("network", "ls", check=True).stdout
