"""Dual-stack networks, pure parts: IPv6 IPAM (leases next to the IPv4 ones, never mixed up with them), the
input checks, the netlink messages (decoded by pyroute2), the nft/iptables rule builders, hosts lines."""
from __future__ import annotations

import os

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from nsrun import ConfigError, ConflictError, Paths
from nsrun_ns_net import ipt_rules, nft_rules
from nsrun_ns_net.bridge import hosts_line, unannounce
from nsrun_ns_net.ipam import Network, NetworkStore, split_families
from nsrun_ns_net.ports import Binding

from test_rtnl import _sent

NET6 = Network("v6h", "nsrab12n000002", "10.216.7.0/24", "10.216.7.1", "id", subnet6="fd16:7::/64",
               gateway6="fd16:7::1")


def test_ipv6_address_is_nodad_and_decodes_as_such():
    msg, _ = _sent(ifaddrmsg, lambda rt: rt.add_addr(3, "fd16:7::2", 64))
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (10, 64, 3)
    assert msg["flags"] & 0x02 and msg.get_attr("IFA_FLAGS") & 0x02       # IFA_F_NODAD
    assert msg.get_attr("IFA_ADDRESS") == "fd16:7::2"


def test_ipv6_default_route_decodes():
    msg, _ = _sent(rtmsg, lambda rt: rt.add_default_route("fd16:7::1", 2, 1400))
    assert (msg["family"], msg["dst_len"], msg["table"], msg["proto"]) == (10, 0, 254, 4)
    assert msg.get_attr("RTA_GATEWAY") == "fd16:7::1" and msg.get_attr("RTA_OIF") == 2
    assert msg.get_attr("RTA_METRICS").get_attr("RTAX_MTU") == 1400


def test_dual_stack_ipam_leases_v6_beside_v4(tmp_path):
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    net = store.create("v6ha", "10.216.7.0/24", None, ipv6=True, subnet6="fd16:7:0:0:0::5/64", gateway6="fd16:7::2")
    assert (net.subnet6, net.gateway6, net.prefixlen6) == ("fd16:7::/64", "fd16:7::2", 64)
    assert store.get("v6ha").subnet6 == "fd16:7::/64"
    a, b = "a" * 64, "b" * 64
    assert store.allocate(net, a, "x") == "10.216.7.2"
    assert store.allocate6(net, a, "x") == "fd16:7::1"                 # the gateway is skipped, not the first
    assert store.allocate6(net, b, "y") == "fd16:7::3"
    assert list(store.leases("v6ha")) == ["10.216.7.2"]                 # one per endpoint, as before
    assert sorted(store.leases6("v6ha")) == ["fd16:7::1", "fd16:7::3"]
    assert store.lease6_of("v6ha", b) == "fd16:7::3"
    with pytest.raises(ConflictError):
        store.allocate6(net, b, "y", ip="fd16:7:0::3")                  # the same address, written otherwise
    with pytest.raises(ConfigError):
        store.allocate6(net, b, "y", ip="fd16:8::3")
    assert store.release("v6ha", "fd16:7::3", b) and not store.release("v6ha", "fd16:7::3", b)


@pytest.mark.parametrize("kwargs, message", [
    ({"ipv6": True}, "non-overlapping IPv6 address pool"),
    ({"ipv6": True, "subnet6": "fd16:zz::/64"}, "invalid subnet"),
    ({"ipv6": True, "subnet6": "fd16:7::/64", "gateway6": "fd16:9::1"}, "not a usable address"),
    ({"ipv6": True, "subnet6": "fd16:7::/64", "gateway6": "fd16:7::"}, "not a usable address"),
    ({"ipv6": True, "subnet6": "fd16:7::/64", "gateway6": "zz"}, "invalid gateway"),
    ({"ipv6": True, "subnet6": "fd16:7::/127"}, "too small"),
    ({"ipv6": True, "subnet6": "fe80::/64"}, "link-local"),
    ({"subnet6": "fd16:7::/64"}, "needs --ipv6"),
    ({"ipv6": True, "subnet6": "fd16:1::/32"}, "overlaps network v6hold"),
])
def test_bad_ipv6_input_writes_nothing(tmp_path, kwargs, message):
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    store.create("v6hold", "10.216.1.0/24", None, ipv6=True, subnet6="fd16:1:2::/64")
    with pytest.raises(ConfigError, match=message):
        store.create("v6hbad", "10.216.9.0/24", None, **kwargs)
    assert [n.name for n in store.list()] == ["v6hold"]
    assert not os.path.exists(os.path.join(store.dir, "v6hbad"))


def test_split_families():
    assert split_families([("10.216.1.0/24", None), ("fd16:1::/64", None), (None, "fd16:1::9")]) == {
        "subnet": "10.216.1.0/24", "gateway": None, "subnet6": "fd16:1::/64", "gateway6": "fd16:1::9"}
    with pytest.raises(ConfigError, match="more than one IPv6 subnet"):
        split_families([("fd16:1::/64", None), ("fd16:2::/64", None)])
    with pytest.raises(ConfigError, match="needs an IPv6 subnet"):
        split_families([("10.216.1.0/24", "fd16:1::1")])


def test_nft_ipv6_elements_and_ports():
    assert nft_rules.network_elements(NET6, v6=True) == [
        ("bridges", ["nsrab12n000002"]), ("subnets", [{"prefix": {"addr": "fd16:7::", "len": 64}}]),
        ("samebr", [{"concat": ["nsrab12n000002", "nsrab12n000002"]}])]
    b = [Binding("tcp", "0.0.0.0", 18701, "10.216.7.2", 80, "fd16:7::2"),
         Binding("tcp", "127.0.0.1", 18702, "10.216.7.2", 81, "fd16:7::2")]   # an IPv4 host address: v4 only
    assert nft_rules.port_elements(b, v6=True) == [
        ("any_addr", [[{"concat": ["tcp", 18701]}, "fd16:7::2"]]), ("any_port", [[{"concat": ["tcp", 18701]}, 80]])]
    assert nft_rules.port_elements([Binding("tcp", "0.0.0.0", 1, "10.216.7.2", 2)], v6=True) == []
    skel = nft_rules.skeleton("t", "ip6")
    assert skel[0] == {"create": {"table": {"family": "ip6", "name": "t"}}}
    assert not [c for c in skel if "127.0.0.0" in str(c)] and "ipv6_addr" in str(skel)


def test_nft_dual_stack_start_is_one_transaction():
    from nsrun_ns_net.nft import NftFirewall
    from test_net_pure import FakeNft
    nft = FakeNft()
    fw = NftFirewall(Paths.from_root("/tmp/nsrtest-fake"), nft=nft)
    fw.setup_network(NET6)            # no tables yet: both made
    nft.calls.clear()
    fw.setup_network(NET6)
    adds = [call for call in nft.calls if "add" in call[0]]   # (the other call: the FORWARD-policy look)
    assert len(adds) == 1 and {c["add"]["element"]["family"] for c in adds[0]} == {"ip", "ip6"}


def test_ip6tables_rules():
    r = ipt_rules.network_rules("ab12", NET6, v6=True)
    assert "NSRUNAB12-POST -s fd16:7::/64 ! -o nsrab12n000002 -j MASQUERADE" in r["nat"]
    assert not [x for x in r["nat"] + r["filter"] if "127.0.0.0" in x]
    assert r["filter"][-1].startswith("NSRUNAB12-NETOUT -i nsrab12n000002")
    b = [Binding("udp", "0.0.0.0", 18703, "10.216.7.2", 53, "fd16:7::2")]
    assert ipt_rules.port_rules("ab12", b, v6=True) == {"nat": [
        "NSRUNAB12-DNAT -p udp --dport 18703 -j DNAT --to-destination [fd16:7::2]:53"]}


def test_hosts_lines_of_a_dual_stack_endpoint_come_and_go_together(tmp_path):
    line = hosts_line("10.216.7.2", "web", ["www"], "fd16:7::2")
    assert line == "10.216.7.2\tweb www\nfd16:7::2\tweb www\n"
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1\tlocalhost\n" + line + "10.216.7.3\tother\n")
    unannounce([str(path)], line)
    assert path.read_text() == "127.0.0.1\tlocalhost\n10.216.7.3\tother\n"
