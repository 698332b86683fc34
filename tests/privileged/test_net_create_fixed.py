"""``run --ip/--ip6`` (a fixed address, kept across stop/start, freed with the record), ``--mac-address`` and
legacy ``--link`` at create, with real namespaces and busybox inside; refusals are one line, exit 125, and
leave nothing. Names ncr*, subnets in 10.218.0.0/16 and fd18::/16."""
from __future__ import annotations

import json
import os


def _leases(root: str) -> list[str]:
    return sorted(f for _, _, fs in os.walk(os.path.join(root, "networks")) for f in fs if f.endswith(".lease"))


def _one_line(res, words: str) -> None:
    assert res.returncode == 125 and words in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_fixed_ip_and_mac_are_the_containers_and_survive_a_restart(nsrun, nsrun_root):
    nsrun("network", "create", "--ipv6", "--subnet", "10.218.1.0/24", "--subnet", "fd18:1::/64", "ncr-a",
          check=True)
    try:
        nsrun("run", "-d", "--name", "ncr-c", "--network", "ncr-a", "--ip", "10.218.1.77", "--ip6", "fd18:1::77",
              "--mac-address", "02:18:00:00:00:77", "busybox", "sleep", "300", check=True)
        addrs = nsrun("exec", "ncr-c", "ip", "addr", "show", "eth0", check=True).stdout
        assert "10.218.1.77/24" in addrs and "fd18:1::77/64" in addrs and "02:18:00:00:00:77" in addrs
        info = json.loads(nsrun("inspect", "ncr-c", check=True).stdout)[0]["Info"]["NetworkSettings"]
        ep = info["Networks"]["ncr-a"]
        assert ep["IPAMConfig"] == {"IPv4Address": "10.218.1.77", "IPv6Address": "fd18:1::77"}
        assert ep["MacAddress"] == info["MacAddress"] == "02:18:00:00:00:77"
        # a peer reaches it there (the bridge learned the MAC)
        assert nsrun("run", "--rm", "--network", "ncr-a", "busybox", "ping", "-c1", "-W2",
                     "10.218.1.77").returncode == 0
        taken = nsrun("run", "--rm", "--network", "ncr-a", "--ip", "10.218.1.77", "busybox", "true")
        _one_line(taken, "Address already in use")
        nsrun("stop", "-t", "1", "ncr-c", check=True)
        assert _leases(nsrun_root) == ["10.218.1.77.lease", "fd18:1::77.lease"]  # still the container's
        nsrun("gc", check=True)
        assert _leases(nsrun_root) == ["10.218.1.77.lease", "fd18:1::77.lease"]
        _one_line(nsrun("run", "--rm", "--network", "ncr-a", "--ip", "10.218.1.77", "busybox", "true"),
                  "Address already in use")
        nsrun("start", "ncr-c", check=True)
        addrs = nsrun("exec", "ncr-c", "ip", "addr", "show", "eth0", check=True).stdout
        assert "10.218.1.77/24" in addrs and "02:18:00:00:00:77" in addrs
        nsrun("rm", "-f", "ncr-c", check=True)
        # the record is gone: so is its claim on the address
        out = nsrun("run", "--rm", "--network", "ncr-a", "--ip", "10.218.1.77", "busybox", "ip", "-4", "addr",
                    check=True).stdout
        assert "10.218.1.77/24" in out
        assert _leases(nsrun_root) == []
    finally:
        nsrun("rm", "-f", "ncr-c")
        nsrun("network", "rm", "ncr-a")


def test_bad_fixed_options_are_one_line_and_leave_nothing(nsrun, nsrun_root):
    nsrun("network", "create", "--subnet", "10.218.2.0/24", "ncr-b", check=True)
    try:
        for args, words in (
                (("--ip", "10.218.2.9"), "user specified IP address is supported on user defined networks only"),
                (("--network", "ncr-b", "--ip", "10.218.3.9"), "no matching subnet"),
                (("--network", "ncr-b", "--ip", "nonsense"), "invalid --ip"),
                (("--network", "ncr-b", "--ip6", "fd18:2::9"), "has no IPv6 subnet"),
                (("--network", "ncr-b", "--mac-address", "01:00:5e:00:00:01"), "multicast"),
                (("--network", "ncr-b", "--mac-address", "02:42:00"), "invalid MAC address"),
                (("--network", "host", "--mac-address", "02:42:00:00:00:01"), "conflicting options"),
                (("--link", "ncr-nosuch"), "could not get container for ncr-nosuch")):
            _one_line(nsrun("run", "--rm", "--name", "ncr-bad", *args, "busybox", "true"), words)
        assert _leases(nsrun_root) == []
        assert nsrun("ps", "-aq", check=True).stdout == ""
    finally:
        nsrun("network", "rm", "ncr-b")


def test_link_puts_the_running_containers_address_in_hosts(nsrun):
    nsrun("run", "-d", "--name", "ncr-web", "busybox", "sleep", "300", check=True)
    nsrun("create", "--name", "ncr-off", "busybox", "true", check=True)
    try:
        ip = json.loads(nsrun("inspect", "ncr-web", check=True).stdout)[0]["Info"]["NetworkSettings"]["IPAddress"]
        hosts = nsrun("run", "--rm", "--link", "ncr-web:db", "busybox", "cat", "/etc/hosts", check=True).stdout
        assert f"{ip}\tdb ncr-web\n" in hosts
        assert nsrun("run", "--rm", "--link", "ncr-web:db", "busybox", "ping", "-c1", "-W2", "db").returncode == 0
        _one_line(nsrun("run", "--rm", "--name", "ncr-me", "--link", "ncr-off:x", "busybox", "true"),
                  "Cannot link to a non running container: /ncr-off AS /ncr-me/x")
    finally:
        nsrun("rm", "-f", "ncr-web", "ncr-off")
