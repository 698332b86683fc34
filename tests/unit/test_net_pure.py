"""Pure logic of the net plugin: -p parsing, the ports text, IPAM under concurrency, rule builders."""
from __future__ import annotations

import os

import multiprocessing

import pytest

from nsrun import ConfigError, ConflictError, Paths
from nsrun_ns_net import ipt_rules, nft_rules
from nsrun_ns_net.ipam import Network, NetworkStore, bridge_name, veth_name
from nsrun_ns_net.ports import Binding, PortSpec, docker_ports, format_ports, parse_publish


@pytest.mark.parametrize("text, want", [
    ("80", PortSpec("tcp", "0.0.0.0", 0, 80)),
    ("8080:80", PortSpec("tcp", "0.0.0.0", 8080, 80)),
    ("127.0.0.1:5353:53/udp", PortSpec("udp", "127.0.0.1", 5353, 53)),
    ("127.0.0.1::53/UDP", PortSpec("udp", "127.0.0.1", 0, 53)),
])
def test_parse_publish(text, want):
    assert parse_publish(text) == want


@pytest.mark.parametrize("text", ["99999:80", "abc", "80:80/sctp", "1:2:3:4", "x.y:80:80", ":80:0", "80:0"])
def test_parse_publish_rejects(text):
    with pytest.raises(ConfigError) as exc:
        parse_publish(text)
    assert "\n" not in str(exc.value)


def test_ports_text_like_docker():
    bs = [Binding("tcp", "0.0.0.0", 8080, "10.0.0.2", 80), Binding("udp", "127.0.0.1", 5353, "10.0.0.2", 53)]
    assert format_ports(bs) == "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"
    assert docker_ports(bs)["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "5353"}]


def test_names_carry_nsr_and_the_tag_and_fit_ifnamsiz():
    assert bridge_name("", "bridge") == "nsrun0"
    assert bridge_name("ab12", "bridge") == "nsrab12b0"
    assert bridge_name("ab12", "mynet").startswith("nsrab12n") and len(bridge_name("ab12", "mynet")) <= 15
    assert veth_name("ab12", "0123456789" * 6) == "nsrab12v012345"
    assert veth_name("", "0123456789" * 6) == "nsrv012345"


def _grab(args):
    root, i = args
    store = NetworkStore(Paths.from_root(root))
    return store.allocate(store.resolve("bridge"), f"{i:064x}", f"c{i}")


def test_fifty_parallel_allocations_get_fifty_addresses(tmp_path):
    with multiprocessing.get_context("fork").Pool(8) as pool:
        ips = pool.map(_grab, [(str(tmp_path), i) for i in range(50)])
    assert len(set(ips)) == 50
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    net = store.get("bridge")
    assert net.gateway not in ips and len(store.leases("bridge")) == 50
    assert store.release("bridge", ips[0], f"{0:064x}") and not store.release("bridge", ips[0], f"{0:064x}")
    with pytest.raises(ConflictError):
        store.remove("bridge")


def test_default_subnet_is_inside_the_suite_range(tmp_path):
    net = NetworkStore(Paths.from_root(str(tmp_path))).resolve("bridge")
    assert net.subnet.startswith(("10.100.", "10.101.", "10.102.", "10.103."))


def test_port_reservation_is_all_or_nothing(tmp_path):
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    store.reserve_ports("a" * 64, "bridge", [PortSpec("tcp", "127.0.0.1", 0, 80)], "10.0.0.2", "nft")
    taken = store.port_leases()
    port = next(iter(taken.values()))["binding"]["host_port"]
    with pytest.raises(ConflictError):
        store.reserve_ports("b" * 64, "bridge", [PortSpec("udp", "0.0.0.0", 0, 53),
                                                  PortSpec("tcp", "0.0.0.0", port, 80)], "10.0.0.3", "nft")
    assert store.port_leases() == taken


def test_port_reservations_conflict_per_port_and_address_and_leave_no_directory(tmp_path):
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    [b] = store.reserve_ports("a" * 64, "bridge", [PortSpec("tcp", "127.0.0.1", 0, 80)], "10.0.0.2", "nft")
    port = b.host_port
    assert "published by container aaaaaaaaaaaa" in store.port_conflict("tcp", "0.0.0.0", port)
    assert "published by" in store.port_conflict("tcp", "127.0.0.1", port)
    assert store.port_conflict("udp", "127.0.0.1", port) is None  # another protocol
    # another host address of the same port is free, and both live side by side in the port's directory
    other = store.port_conflict("tcp", "127.0.0.2", port)
    assert other is None or "host process" in other
    assert list(store.port_leases()) == [f"tcp-{port}/127.0.0.1.lease"]
    store.release_ports("b" * 64, [b])  # not the owner: nothing happens
    assert store.port_leases()
    store.release_ports("a" * 64, [b])
    assert store.port_leases() == {} and os.listdir(store.ports_dir) == []


NET = Network("n1", "nsrab12n000001", "10.100.7.0/24", "10.100.7.1", "id")


def test_nft_publishing_is_map_elements_only():
    b = [Binding("tcp", "0.0.0.0", 8080, "10.100.7.2", 80), Binding("udp", "127.0.0.1", 53, "10.100.7.2", 53)]
    cmds = nft_rules.element_cmds("add", "nsrunab12", nft_rules.port_elements(b))
    assert {c["add"]["element"]["name"] for c in cmds} == {"any_addr", "any_port", "ip_addr", "ip_port"}
    assert all("rule" not in c.get("add", {}) for c in cmds)
    deleted = nft_rules.element_cmds("delete", "nsrunab12", nft_rules.port_elements(b))
    assert deleted[0]["delete"]["element"]["elem"] == [{"concat": ["tcp", 8080]}]
    skeleton = nft_rules.skeleton("nsrunab12")
    assert skeleton[0] == {"create": {"table": {"family": "ip", "name": "nsrunab12"}}}


def test_iptables_batches():
    text = ipt_rules.batch("-A", ipt_rules.network_rules("ab12", NET), ipt_rules.base_batch("ab12"))
    assert text.startswith("*nat\n:NSRUNAB12-DNAT - [0:0]") and text.count("COMMIT") == 2
    assert "-I FORWARD -j NSRUNAB12-FWD" in text
    assert "-A NSRUNAB12-NETIN -o nsrab12n000001 -j DROP" in text
    port = ipt_rules.port_rules("ab12", [Binding("tcp", "127.0.0.1", 8080, "10.100.7.2", 80)])
    assert port["nat"] == ["NSRUNAB12-DNAT -p tcp -d 127.0.0.1 --dport 8080 -j DNAT --to-destination 10.100.7.2:80"]
    saved = ":NSRUNAB12-DNAT - [0:0]\n-A OUTPUT -m addrtype --dst-type LOCAL -j NSRUNAB12-DNAT\n"
    reset = ipt_rules.reset_batch("ab12", saved)
    assert "-D OUTPUT -m addrtype --dst-type LOCAL -j NSRUNAB12-DNAT" in reset and "-X NSRUNAB12-DNAT" in reset
    assert "NSRUNAB12-FWD" not in reset and ipt_rules.reset_batch("ab12", "") == ""


def _nft_rules(table: str, chain: str) -> list[list[dict]]:
    return [c["add"]["rule"]["expr"] for c in nft_rules.skeleton(table)
            if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain]


def test_nft_keeps_containers_off_the_hosts_loopback_in_fixed_rules():
    chain = [c["add"]["chain"] for c in nft_rules.skeleton("nsrunab12")
             if c.get("add", {}).get("chain", {}).get("name") == "input"]
    assert chain == [{"family": "ip", "table": "nsrunab12", "name": "input", "type": "filter", "hook": "input",
                      "prio": 0, "policy": "accept"}]
    loop = {"prefix": {"addr": "127.0.0.0", "len": 8}}
    from_bridge = {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@bridges"}}
    spoofed, to_loopback = _nft_rules("nsrunab12", "input")
    # a loopback source from a bridge: always dropped (it could only ride on a host connection's conntrack)
    assert spoofed == [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                                  "right": loop}}, from_bridge, {"drop": None}]
    # to 127/8 from a bridge: dropped unless a reply or a DNAT (flag tests: "!" is "none of these bits")
    assert to_loopback == [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": loop}},
        from_bridge,
        {"match": {"op": "!", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
        {"match": {"op": "!", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
        {"drop": None}]
    # networks and ports stay elements: nothing of a network or a port is in a rule
    net_cmds = nft_rules.element_cmds("add", "nsrunab12", nft_rules.network_elements(NET))
    assert {c["add"]["element"]["name"] for c in net_cmds} == {"bridges", "subnets", "samebr"}
    assert NET.bridge not in repr(nft_rules.skeleton("nsrunab12"))


def test_iptables_keeps_containers_off_the_hosts_loopback():
    rules = ipt_rules.network_rules("ab12", NET)
    br = NET.bridge
    assert rules["filter"][:2] == [
        f"NSRUNAB12-INPUT -s 127.0.0.0/8 -i {br} -j DROP",
        f"NSRUNAB12-INPUT -d 127.0.0.0/8 -i {br} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"]
    assert rules["filter"][-1] == f"NSRUNAB12-NETOUT -i {br} -j ACCEPT"  # setup_network's "present" marker
    base = ipt_rules.base_batch("ab12")
    assert ":NSRUNAB12-INPUT - [0:0]" in base["filter"] and "-I INPUT -j NSRUNAB12-INPUT" in base["filter"]
    # the guard's filter-only copy in the other variant: FORWARD acceptance, no INPUT chain, hook or rule
    only = ipt_rules.base_batch("ab12", filter_only=True)
    assert "nat" not in only and not [line for line in only["filter"] if "INPUT" in line]
    assert ipt_rules.network_rules("ab12", NET, filter_only=True) == {"filter": rules["filter"][2:]}
    # reset removes the hook and the chain
    saved = ":NSRUNAB12-INPUT - [0:0]\n-A INPUT -j NSRUNAB12-INPUT\n-A NSRUNAB12-INPUT -s 127.0.0.0/8 -j DROP\n"
    reset = ipt_rules.reset_batch("ab12", saved)
    assert reset == "*filter\n-D INPUT -j NSRUNAB12-INPUT\n-F NSRUNAB12-INPUT\n-X NSRUNAB12-INPUT\nCOMMIT\n"


def test_user_networks_get_the_next_free_subnet(tmp_path):
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    subnets = {store.resolve("bridge").subnet, store.create("one", None, None).subnet,
               store.create("two", None, None).subnet}
    assert len(subnets) == 3
    with pytest.raises(ConfigError):
        store.create("three", "10.100.0.0/13", None)  # overlaps the others


def test_default_root_networks_do_not_collide():
    store = NetworkStore(Paths.from_root(None))
    assert str(store._default_subnet()) in {f"10.{i}.0.0/16" for i in range(88, 100)}


def test_netlink_errors_become_setup_errors_keeping_errno():
    import errno

    from nsrun import SetupError
    from nsrun_ns_net.netlink import _typed

    class NetlinkError(Exception):  # pyroute2's keeps the errno in .code
        code = errno.EEXIST
    with pytest.raises(SetupError) as exc:
        with _typed("cannot attach"):
            raise NetlinkError("File exists")
    assert exc.value.errno == errno.EEXIST and exc.value.plugin == "net"


class FakeNft:
    """libnftables stand-in: records each transaction; the table exists once a skeleton went through."""

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []
        self.table = False

    def json_cmd(self, data: dict):
        cmds = data["nftables"]
        self.calls.append(cmds)
        if any("create" in c for c in cmds):
            self.table = True
            return 0, {}, ""
        if "list" in cmds[0]:
            return 1, {}, "No such file or directory"
        return (0, {}, "") if self.table else (1, {}, "Error: No such file or directory")


def test_nft_backend_one_transaction_per_operation():
    from nsrun_ns_net.nft import NftFirewall
    nft = FakeNft()
    fw = NftFirewall(Paths.from_root("/tmp/nsrtest-fake"), nft=nft)
    fw.setup_network(NET)             # table missing: elements fail, then skeleton + elements in one go
    assert [("create" in c[0]) for c in nft.calls[:2]] == [False, True]
    nft.calls.clear()
    b = [Binding("tcp", "0.0.0.0", 8080, "10.100.7.2", 80)]
    fw.publish(b)
    fw.unpublish(b)
    assert len(nft.calls) == 2 and "add" in nft.calls[0][0] and "delete" in nft.calls[1][0]


def test_network_options_big_tcp_and_records_from_before_it(tmp_path):
    import json
    store = NetworkStore(Paths.from_root(str(tmp_path)))
    assert store.create("a", None, None).big_tcp is False   # the default: loses to Docker's bridge on no path
    assert store.create("b", None, None, options={"nsrun.bridge.big_tcp": "true"}).big_tcp is True
    assert store.get("b").big_tcp is True  # persisted
    assert store.create("d", None, None, options={"nsrun.bridge.big_tcp": "false"}).big_tcp is False
    with pytest.raises(ConfigError, match="unknown network option"):
        store.create("c", None, None, options={"mtu": "9000"})
    with pytest.raises(ConfigError, match="use true or false"):
        store.create("c", None, None, options={"nsrun.bridge.big_tcp": "sometimes"})
    assert store.get("c") is None
    path = os.path.join(store.dir, "a.json")  # a record written before the option existed
    with open(path) as f:
        data = json.load(f)
    del data["big_tcp"]
    with open(path, "w") as f:
        json.dump(data, f)
    assert store.get("a").big_tcp is False  # it never chose: the current default


def test_legacy_forward_verdict_is_read_from_the_policy_entry():
    import struct
    from nsrun_ns_net.guard import NF_DROP_VERDICT, forward_verdict

    def blobs(verdict: int, hooks: int = 0b01110) -> tuple[bytes, bytes]:
        # three policy entries (INPUT, FORWARD, OUTPUT): ipt_entry (112) + standard target (32 + verdict, pad 8)
        size_each, entries = 152, b""
        for v in (-2, verdict, -2):
            entry = bytearray(size_each)
            struct.pack_into("=HH", entry, 88, 112, size_each)   # target_offset, next_offset
            struct.pack_into("=H", entry, 112, 40)               # xt_entry_target.target_size
            struct.pack_into("=i", entry, 112 + 32, v)
            entries += bytes(entry)
        underflow = (0, 0, size_each, 2 * size_each, 0)
        info = struct.pack("=32sI5I5III", b"filter", hooks, 0, 0, size_each, 2 * size_each, 0, *underflow,
                           3, len(entries))
        return info, b"filter".ljust(32, b"\0") + struct.pack("=I", len(entries)).ljust(8, b"\0") + entries
    assert forward_verdict(*blobs(NF_DROP_VERDICT)) == NF_DROP_VERDICT
    assert forward_verdict(*blobs(-2)) == -2                     # ACCEPT
    assert forward_verdict(*blobs(-1, hooks=0b01010)) is None    # no FORWARD hook in this table
    info, entries = blobs(-1)
    assert forward_verdict(info, entries[:200]) is None          # truncated: not guessed


def test_hosts_and_ipv4_parsing_agree_with_ipaddress():
    import ipaddress
    from nsrun_ns_net.ipam import _hosts
    from nsrun_ns_net.ports import ipv4_octets
    for subnet in ("10.88.0.0/16", "10.100.7.0/24", "192.168.1.4/30", "10.0.0.0/29"):
        assert list(_hosts(subnet)) == [str(a) for a in ipaddress.IPv4Network(subnet).hosts()]
    for text in ("0.0.0.0", "127.0.0.1", "255.255.255.255", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1",
                 "a.b.c.d", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "١.2.3.4", "", "01.2.3.4", "1..3.4"):
        try:
            expected = [int(x) for x in str(ipaddress.IPv4Address(text)).split(".")]
        except ValueError:
            expected = None
        assert ipv4_octets(text) == expected, text


def test_nfnetlink_fds_finds_netfilter_netlink_sockets_only():
    import _socket
    from nsrun_ns_net.nft import nfnetlink_fds
    nf = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, 12)  # NETLINK_NETFILTER: what libnftables opens
    route = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, 0)
    try:
        nf.bind((0, 0))
        route.bind((0, 0))
        found = nfnetlink_fds()
        assert nf.fileno() in found and route.fileno() not in found
    finally:
        nf.close()
        route.close()
