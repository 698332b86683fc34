"""``nsrun_ns_net.rtnl`` without privileges: every request it sends is decoded with pyroute2's own parsers (the
oracle that our bytes mean what we think), replies are built with pyroute2's encoder, and the ACK/error
handling is fed through a fake socket."""
from __future__ import annotations

import errno
import struct
import subprocess
import sys

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from nsrun import SetupError
from nsrun_ns_net import netlink, rtnl
from nsrun_ns_net.rtnl import Rtnl

REQUEST, ACK, EXCL, CREATE = 0x1, 0x4, 0x200, 0x400


def _error(seq: int, code: int) -> bytes:
    """A NLMSG_ERROR for ``seq``: 0 is an ACK, otherwise -errno (the request's header follows, as the kernel
    sends it)."""
    return struct.pack("=IHHII", 36, 2, 0, seq, 0) + struct.pack("=i", code) + struct.pack("=IHHII", 16, 0, 0, seq, 0)


class FakeSocket:
    """Records what is sent; answers each request with ``script(seq)`` (default: its ACK) in one datagram."""

    def __init__(self, script=None) -> None:
        self.sent: list[bytes] = []
        self.script = script or (lambda seq: [_error(seq, 0)])
        self.queue: list[bytes] = []
        self.closed = False

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        seq = struct.unpack_from("=IHHII", data)[3]
        self.queue.append(b"".join(self.script(seq)))
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.queue.pop(0) if self.queue else b""

    def close(self) -> None:
        self.closed = True


def _sent(parser, call) -> tuple[object, FakeSocket]:
    sock = FakeSocket()
    call(Rtnl(sock))
    (data,) = sock.sent
    msg = parser(data)
    msg.decode()
    assert msg["header"]["length"] == len(data)
    return msg, sock


def test_add_bridge_decodes_as_a_new_bridge():
    msg, _ = _sent(ifinfmsg, lambda rt: rt.add_bridge("nsrxbr0", 1400))
    assert msg["header"]["type"] == 16  # RTM_NEWLINK
    assert msg["header"]["flags"] == REQUEST | ACK | CREATE | EXCL
    assert (msg["family"], msg["index"], msg["flags"], msg["change"]) == (0, 0, 0, 0)
    assert msg.get_attr("IFLA_IFNAME") == "nsrxbr0"
    assert msg.get_attr("IFLA_MTU") == 1400
    assert msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "bridge"
    assert [name for name, _ in msg["attrs"]] == ["IFLA_IFNAME", "IFLA_MTU", "IFLA_LINKINFO"]


def test_add_veth_is_one_message_host_end_enslaved_and_up_peer_in_the_other_netns():
    msg, _ = _sent(ifinfmsg, lambda rt: rt.add_veth("nsrxv1", 1400, 7, "eth0", 42, "02:42:0a:e7:01:02"))
    assert msg["header"]["type"] == 16
    assert msg["header"]["flags"] == REQUEST | ACK | CREATE | EXCL
    assert msg["flags"] & 1 and msg["change"] & 1  # IFF_UP set, and marked as changed
    assert msg.get_attr("IFLA_IFNAME") == "nsrxv1"
    assert msg.get_attr("IFLA_MTU") == 1400
    assert msg.get_attr("IFLA_MASTER") == 7
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (peer["index"], peer["flags"], peer["change"]) == (0, 0, 0)  # down: the kernel refuses "up" here
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_NET_NS_FD") == 42
    assert peer.get_attr("IFLA_ADDRESS") == "02:42:0a:e7:01:02"
    assert peer.get_attr("IFLA_MTU") == 1400


def test_set_up_and_del_link_name_the_index():
    up, _ = _sent(ifinfmsg, lambda rt: rt.set_up(5))
    assert up["header"]["type"] == 19 and up["header"]["flags"] == REQUEST | ACK  # RTM_SETLINK
    assert (up["index"], up["flags"], up["change"]) == (5, 1, 1)
    assert up["attrs"] == []
    gone, _ = _sent(ifinfmsg, lambda rt: rt.del_link(9))
    assert gone["header"]["type"] == 17 and gone["header"]["flags"] == REQUEST | ACK  # RTM_DELLINK
    assert (gone["index"], gone["flags"], gone["change"]) == (9, 0, 0)


def test_add_addr_decodes_as_an_ipv4_address():
    msg, _ = _sent(ifaddrmsg, lambda rt: rt.add_addr(3, "10.231.1.2", 24))
    assert msg["header"]["type"] == 20  # RTM_NEWADDR
    assert msg["header"]["flags"] == REQUEST | ACK | CREATE | EXCL
    assert (msg["family"], msg["prefixlen"], msg["scope"], msg["index"]) == (2, 24, 0, 3)
    assert msg.get_attr("IFA_LOCAL") == "10.231.1.2"
    assert msg.get_attr("IFA_ADDRESS") == "10.231.1.2"


def test_add_default_route_decodes_as_pyroute2s_route_add():
    msg, _ = _sent(rtmsg, lambda rt: rt.add_default_route("10.231.1.1", 2))
    assert msg["header"]["type"] == 24  # RTM_NEWROUTE
    assert msg["header"]["flags"] == REQUEST | ACK | CREATE | EXCL
    assert (msg["family"], msg["dst_len"], msg["src_len"], msg["tos"]) == (2, 0, 0, 0)
    assert (msg["table"], msg["proto"], msg["scope"], msg["type"]) == (254, 4, 0, 1)  # main, static, universe, unicast
    assert msg.get_attr("RTA_GATEWAY") == "10.231.1.1"
    assert msg.get_attr("RTA_OIF") == 2
    assert msg.get_attr("RTA_DST") is None
    assert msg.get_attr("RTA_METRICS") is None


def test_default_route_with_an_mtu_carries_it_as_a_metric():
    msg, _ = _sent(rtmsg, lambda rt: rt.add_default_route("10.231.1.1", 2, 1400))
    assert msg.get_attr("RTA_METRICS").get_attr("RTAX_MTU") == 1400
    assert msg.get_attr("RTA_GATEWAY") == "10.231.1.1"


def _newlink_reply(seq: int, index: int, name: str) -> bytes:
    reply = ifinfmsg()
    reply["header"]["type"] = 16
    reply["header"]["sequence_number"] = seq
    reply["index"] = index
    reply["flags"] = 1
    reply["attrs"] = [("IFLA_IFNAME", name), ("IFLA_MTU", 1500)]
    reply.encode()
    return bytes(reply.data)


def test_index_asks_getlink_by_name_and_reads_the_reply():
    sock = FakeSocket(lambda seq: [_newlink_reply(seq, 8537, "nsrxbr0"), _error(seq, 0)])
    assert Rtnl(sock).index("nsrxbr0") == 8537
    msg = ifinfmsg(sock.sent[0])
    msg.decode()
    assert msg["header"]["type"] == 18 and msg["header"]["flags"] == REQUEST | ACK  # RTM_GETLINK, not a dump
    assert msg["index"] == 0 and msg.get_attr("IFLA_IFNAME") == "nsrxbr0"
    assert msg.get_attr("IFLA_EXT_MASK") == 1 << 3  # RTEXT_FILTER_SKIP_STATS


def test_index_of_a_missing_link_is_none_other_errors_raise():
    assert Rtnl(FakeSocket(lambda seq: [_error(seq, -errno.ENODEV)])).index("nope") is None
    with pytest.raises(OSError) as exc:
        Rtnl(FakeSocket(lambda seq: [_error(seq, -errno.EPERM)])).index("nope")
    assert exc.value.errno == errno.EPERM


def test_an_error_raises_oserror_keeping_the_errno():
    rt = Rtnl(FakeSocket(lambda seq: [_error(seq, -errno.EEXIST)]))
    with pytest.raises(OSError) as exc:
        rt.add_bridge("nsrxbr0", 1500)
    assert exc.value.errno == errno.EEXIST and exc.value.strerror == "File exists"


def test_answers_for_other_sequence_numbers_are_skipped():
    # a stale error and a stale reply for earlier requests, then our own ACK: the request succeeds
    sock = FakeSocket(lambda seq: [_error(seq - 1, -errno.EPERM), _newlink_reply(seq + 5, 1, "lo"), _error(seq, 0)])
    rt = Rtnl(sock)
    rt.set_up(1)
    rt.set_up(1)
    seqs = [struct.unpack_from("=IHHII", d)[3] for d in sock.sent]
    assert seqs[1] == seqs[0] + 1
    # our error arrives in a second datagram, after another request's ACK
    answers = [_error(100, 0), _error(1, -errno.ENODEV)]
    sock = FakeSocket(lambda seq: [])
    sock.recv = lambda size: answers.pop(0)
    with pytest.raises(OSError) as exc:
        Rtnl(sock).del_link(4)
    assert exc.value.errno == errno.ENODEV


def test_a_silent_or_garbled_socket_is_an_error_not_a_hang():
    with pytest.raises(OSError) as exc:
        Rtnl(FakeSocket(lambda seq: [])).set_up(1)
    assert exc.value.errno == errno.EPROTO
    with pytest.raises(OSError):
        Rtnl(FakeSocket(lambda seq: [struct.pack("=IHHII", 8, 2, 0, seq, 0) + b"\0" * 8])).set_up(1)


def test_context_manager_closes():
    sock = FakeSocket()
    with Rtnl(sock):
        pass
    assert sock.closed


class FakeRtnl:
    """Just enough of Rtnl for netlink.py's contract: each method pops its scripted outcome."""

    def __init__(self, **outcomes) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append(name)
            out = self.outcomes.get(name)
            if isinstance(out, list):
                out = out.pop(0)
            if isinstance(out, BaseException):
                raise out
            return out
        return call


@pytest.fixture
def no_sysctl(monkeypatch):
    monkeypatch.setattr(netlink, "_sysctl", lambda path, value: None)


def test_ensure_bridge_tolerates_a_concurrent_creator_and_an_existing_address(no_sysctl):
    rt = FakeRtnl(index=[None, 12], add_bridge=OSError(errno.EEXIST, "File exists"),
                  add_addr=OSError(errno.EEXIST, "File exists"))
    assert netlink.ensure_bridge(rt, "nsrxbr0", "10.231.1.1", 24, 1500) is False
    assert rt.calls == ["index", "add_bridge", "index", "add_addr", "set_up"]


def test_ensure_bridge_other_errors_are_typed_pre_clone(no_sysctl):
    rt = FakeRtnl(index=[None], add_bridge=OSError(errno.EOPNOTSUPP, "Operation not supported"))
    with pytest.raises(SetupError) as exc:
        netlink.ensure_bridge(rt, "nsrxbr0", "10.231.1.1", 24, 1500)
    assert (exc.value.errno, exc.value.phase, exc.value.plugin) == (errno.EOPNOTSUPP, "pre_clone", "net")
    rt = FakeRtnl(index=[3], add_addr=OSError(errno.EACCES, "Permission denied"))
    with pytest.raises(SetupError) as exc:
        netlink.ensure_bridge(rt, "nsrxbr0", "10.231.1.1", 24, 1500)
    assert exc.value.errno == errno.EACCES and "cannot address bridge" in str(exc.value)


def test_add_veth_without_its_bridge_is_enodev_post_start():
    with pytest.raises(SetupError) as exc:
        netlink.add_veth(FakeRtnl(index=[None]), "nsrxv1", "nsrxbr0", 1, "02:42:0a:e7:01:02", 1500)
    assert (exc.value.errno, exc.value.phase) == (errno.ENODEV, "post_start")


def test_remove_link_is_false_when_already_gone():
    assert netlink.remove_link(FakeRtnl(index=[None]), "nsrxv1") is False
    assert netlink.remove_link(FakeRtnl(index=[4], del_link=OSError(errno.ENODEV, "No such device")), "x") is False
    assert netlink.remove_link(FakeRtnl(index=[4]), "nsrxv1") is True
    with pytest.raises(OSError):
        netlink.remove_link(FakeRtnl(index=[4], del_link=OSError(errno.EPERM, "no")), "nsrxv1")


def test_importing_rtnl_loads_nothing_but_the_c_socket_module():
    code = ("import sys, nsrun_ns_net; before = set(sys.modules); import nsrun_ns_net.rtnl; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert set(out) <= {"nsrun_ns_net.rtnl", "_socket", "struct", "_struct", "errno"}, out
    assert rtnl.__all__ == ["Rtnl"]


def _big_tcp_attrs(attrs) -> list[int]:
    """Types of the (pyroute2-unknown: newer than its table) IPv4 GSO/GRO size attributes among ``attrs``."""
    return [a[1]["header"]["type"] for a in attrs if a[0] == "UNKNOWN" and a[1]["header"]["length"] == 8]


def test_veth_ends_and_bridge_get_big_tcp_limits():
    msg, sock = _sent(ifinfmsg, lambda rt: rt.add_veth("nsrxv1", 1400, 7, "eth0", 42, "02:42:0a:e7:01:02"))
    peer = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert _big_tcp_attrs(msg["attrs"]) == _big_tcp_attrs(peer["attrs"]) == [63, 64]
    # pyroute2 cannot decode their values: they are the last two u32 attributes of the peer's block
    assert rtnl.BIG_TCP > 65536
    assert struct.pack("=HHIHHI", 8, 63, rtnl.BIG_TCP, 8, 64, rtnl.BIG_TCP) in sock.sent[0]
    small, _ = _sent(ifinfmsg, lambda rt: rt.add_veth("nsrxv1", 1400, 7, "eth0", 42, "02:42:0a:e7:01:02",
                                                      peer_big_tcp=False))
    peer = small.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert _big_tcp_attrs(small["attrs"]) == [63, 64] and _big_tcp_attrs(peer["attrs"]) == []
    br, _ = _sent(ifinfmsg, lambda rt: rt.allow_big_tcp(3))
    assert br["header"]["type"] == 19 and br["index"] == 3 and (br["flags"], br["change"]) == (0, 0)  # no up
    assert _big_tcp_attrs(br["attrs"]) == [63, 64]


def test_gso_ipv4_max_size_reads_the_attribute_from_the_reply():
    def reply(with_attr: bool):
        def script(seq):
            attrs = struct.pack("=HH", 12, 3) + b"eth0\0\0\0\0"  # IFLA_IFNAME, padded
            if with_attr:
                attrs += struct.pack("=HHI", 8, 63, 196608)
            body = struct.pack("=BxHiII", 0, 1, 2, 0, 0) + attrs
            return [struct.pack("=IHHII", 16 + len(body), 16, 0, seq, 0) + body, _error(seq, 0)]
        return script
    assert Rtnl(FakeSocket(reply(True))).gso_ipv4_max_size("eth0") == 196608
    assert Rtnl(FakeSocket(reply(False))).gso_ipv4_max_size("eth0") is None  # a kernel before 6.3
    assert Rtnl(FakeSocket(lambda seq: [_error(seq, -errno.ENODEV)])).gso_ipv4_max_size("nope") is None
