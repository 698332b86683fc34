"""A tiny rtnetlink client for the container start path: the fixed requests bridge mode's start makes.

Contract:

- Standard library only, and only ``_socket`` (the C module: socket.py's enum set-up costs ~1 ms, see
  ``nsrun._spawn``), ``struct``, ``os`` and ``errno``: importing this module costs well under 1 ms. No pyroute2,
  no logging, no threads, no event loop; a socket joins no multicast group, so nothing arrives unasked.
- IPv4, and IPv6 for dual-stack networks (an address with ``:`` is IPv6: ``add_addr`` sets it ``nodad``,
  ``add_default_route`` makes ``::/0``). Operations: ``index`` and ``gso_ipv4_max_size`` (RTM_GETLINK by name),
  ``add_bridge``, ``add_veth`` (one RTM_NEWLINK: host end enslaved and up, peer created inside another netns,
  both with BIG TCP limits), ``allow_big_tcp``, ``set_up``, ``add_addr``, ``add_default_route``, ``del_link``.
- Every request goes out with NLM_F_REQUEST|NLM_F_ACK and returns when the kernel's ACK for its sequence
  number arrives (messages for other sequence numbers are skipped). A NLMSG_ERROR with a nonzero code raises
  ``OSError(code, os.strerror(code))``: the errno is kept and the caller decides what EEXIST/ENODEV mean.
- A netlink socket stays in the network namespace it was created in: ``Rtnl.in_netns(pid, setns)`` creates
  one inside ``pid``'s and puts the calling thread back in its own at once.

pyroute2 stays the project's netlink library everywhere else (gc, ``network rm``) and is the oracle of
``tests/unit/test_rtnl.py``, which decodes every message built here with pyroute2's own parsers.
"""
from __future__ import annotations

import _socket
import errno
import os
import struct

__all__ = ["Rtnl"]

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24

IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 28, 29
IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE = 63, 64   # Linux 6.3+ ("BIG TCP" for IPv4)
# The largest TCP super-packet a link of nsrun's passes (GSO) and builds (GRO), whatever its MTU. 64 KiB is
# the legacy limit (and loopback's MTU); 192 KiB, as Cilium uses, lets host <-> container and container <->
# container TCP at the host's MTU reach loopback's throughput (0.7x -> 1.0x measured here). Frames still
# leave the host at its MTU: a link with the legacy limit (eth0) gets super-packets segmented in software.
# Kernels before 6.3 do not know these attributes and ignore them (rtnetlink parses leniently).
# A container's own eth0 gets it only when its network sets nsrun.bridge.big_tcp=true (``ipam.OPTIONS``).
BIG_TCP = 196608
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3   # a RTM_GETLINK reply without its ~1 KB of counters
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_OIF, RTA_GATEWAY, RTA_METRICS = 4, 5, 8
RTAX_MTU = 2
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10
IFA_FLAGS = 8
IFA_F_NODAD = 0x02   # no duplicate address detection: usable at once (DAD would hold it ~1 s tentative)
CLONE_NEWNET = 0x40000000

_HDR = struct.Struct("=IHHII")        # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")    # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")     # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTA = struct.Struct("=HH")           # rtattr: len, type
_U32 = struct.Struct("=I")
_ERR = struct.Struct("=i")
_RECV = 65536


def _attr(kind: int, payload: bytes) -> bytes:
    size = _RTA.size + len(payload)
    return _RTA.pack(size, kind) + payload + b"\0" * (-size & 3)


def _name(kind: int, name: str) -> bytes:
    return _attr(kind, name.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, _U32.pack(value))


def _ipv4(ip: str) -> bytes:
    return _socket.inet_aton(ip)


def _family(ip: str) -> tuple[int, bytes]:
    """(address family, packed address) of an IPv4 or IPv6 address in text."""
    if ":" in ip:
        return AF_INET6, _socket.inet_pton(_socket.AF_INET6, ip)
    return AF_INET, _ipv4(ip)


def _mac(mac: str) -> bytes:
    return bytes(int(octet, 16) for octet in mac.split(":"))


def _big_tcp() -> bytes:
    return _u32(IFLA_GSO_IPV4_MAX_SIZE, BIG_TCP) + _u32(IFLA_GRO_IPV4_MAX_SIZE, BIG_TCP)


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFO.pack(AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


class Rtnl:
    """One NETLINK_ROUTE socket (close-on-exec, bound) and its sequence counter; a context manager."""

    def __init__(self, sock: object | None = None) -> None:
        if sock is None:  # ``sock`` is the seam unit tests fill with a fake
            sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
            try:
                sock.bind((0, 0))
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        self._seq = 0

    @classmethod
    def in_netns(cls, pid: int, setns: object) -> Rtnl:
        """A socket inside ``pid``'s network namespace. ``setns(fd, nstype)`` is passed in (Python 3.11 has no
        ``os.setns``; nsrun's wrapper keeps the errno); only the socket's creation happens over there."""
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                setns(target, CLONE_NEWNET)  # type: ignore[operator]
                try:
                    return cls()
                finally:
                    setns(own, CLONE_NEWNET)  # type: ignore[operator]
            finally:
                os.close(target)
        finally:
            os.close(own)

    def close(self) -> None:
        self._sock.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, msg_type: int, flags: int, body: bytes, attrs: bytes = b"") -> list[bytes]:
        """Send one request and wait for its ACK; returns the payloads (header stripped) that came before it."""
        self._seq += 1
        seq = self._seq
        size = _HDR.size + len(body) + len(attrs)
        header = _HDR.pack(size, msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
        self._sock.send(header + body + attrs)  # type: ignore[attr-defined]
        replies = []
        while True:
            data = self._sock.recv(_RECV)  # type: ignore[attr-defined]
            if not data:
                raise OSError(errno.EPROTO, "netlink: no answer from the kernel")
            offset = 0
            while offset + _HDR.size <= len(data):
                length, kind, _flags, rseq, _pid = _HDR.unpack_from(data, offset)
                if length < _HDR.size or offset + length > len(data):
                    raise OSError(errno.EPROTO, "netlink: malformed message from the kernel")
                if rseq == seq:
                    if kind == NLMSG_ERROR:
                        code = -_ERR.unpack_from(data, offset + _HDR.size)[0]
                        if code:
                            raise OSError(code, os.strerror(code))
                        return replies
                    if kind != NLMSG_DONE:
                        replies.append(data[offset + _HDR.size:offset + length])
                offset += (length + 3) & ~3

    # -- links -------------------------------------------------------------------------------------------
    def _getlink(self, name: str) -> bytes | None:
        """RTM_GETLINK by name (without its ~1 KB of counters): the reply's payload, None when no such link."""
        try:
            replies = self._request(RTM_GETLINK, 0, _ifinfo(),
                                    _name(IFLA_IFNAME, name) + _u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return replies[0] if replies else None

    def index(self, name: str) -> int | None:
        """The ifindex of link ``name`` in this socket's netns, None when there is none."""
        reply = self._getlink(name)
        return None if reply is None else int(_IFINFO.unpack_from(reply)[2])

    def gso_ipv4_max_size(self, name: str) -> int | None:
        """Link ``name``'s IPv4 GSO limit; None when there is no such link or the kernel predates BIG TCP."""
        reply = self._getlink(name)
        offset = _IFINFO.size
        while reply is not None and offset + _RTA.size <= len(reply):
            size, kind = _RTA.unpack_from(reply, offset)
            if size < _RTA.size:
                break
            if kind == IFLA_GSO_IPV4_MAX_SIZE and size >= _RTA.size + _U32.size:
                return int(_U32.unpack_from(reply, offset + _RTA.size)[0])
            offset += (size + 3) & ~3
        return None

    def add_bridge(self, name: str, mtu: int) -> None:
        """A new bridge ``name`` (down); EEXIST when it is there already."""
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(),
                      _name(IFLA_IFNAME, name) + _u32(IFLA_MTU, mtu)
                      + _attr(IFLA_LINKINFO, _name(IFLA_INFO_KIND, "bridge")))

    def add_veth(self, name: str, mtu: int, master_index: int, peer_name: str, peer_netns_fd: int,
                 peer_mac: str, peer_big_tcp: bool = True) -> None:
        """A veth pair in one request: ``name`` here, enslaved to ``master_index`` and up; its peer created
        directly in the netns behind ``peer_netns_fd`` with its name, MAC and MTU, and left down.

        The peer cannot come up in this request: veth_newlink() applies the peer's ifinfomsg flags before it
        links the two ends, so veth_open() finds no peer and the whole request fails with ENOTCONN (seen on
        6.18). Bring it up from inside its netns, where its address is set anyway.

        Both ends pass BIG TCP super-packets; the peer also builds them only when ``peer_big_tcp`` (see
        ``netlink.add_veth``: what a container sends may be forwarded to an uplink that does not take them)."""
        peer = (_ifinfo() + _name(IFLA_IFNAME, peer_name) + _u32(IFLA_NET_NS_FD, peer_netns_fd)
                + _attr(IFLA_ADDRESS, _mac(peer_mac)) + _u32(IFLA_MTU, mtu) + (_big_tcp() if peer_big_tcp else b""))
        linkinfo = _name(IFLA_INFO_KIND, "veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _ifinfo(up=True),
                      _name(IFLA_IFNAME, name) + _u32(IFLA_MTU, mtu) + _u32(IFLA_MASTER, master_index) + _big_tcp()
                      + _attr(IFLA_LINKINFO, linkinfo))

    def allow_big_tcp(self, index: int) -> None:
        """Raise link ``index``'s IPv4 GSO/GRO limits to ``BIG_TCP`` (a no-op when they are there already).
        A bridge refuses it until it has a port: a new bridge's own limit is the legacy 64 KiB, and its ports
        raise it; veth pairs get it when created (``add_veth``)."""
        self._request(RTM_SETLINK, 0, _ifinfo(index), _big_tcp())

    def set_up(self, index: int) -> None:
        self._request(RTM_SETLINK, 0, _ifinfo(index, up=True))

    def del_link(self, index: int) -> None:
        self._request(RTM_DELLINK, 0, _ifinfo(index))

    # -- addresses and routes ----------------------------------------------------------------------------
    def add_addr(self, index: int, ip: str, prefixlen: int) -> None:
        """``ip/prefixlen`` on link ``index`` (IFA_LOCAL and IFA_ADDRESS, as ``ip addr add`` sends). An IPv6
        one is ``nodad`` (as ``ip addr add ... nodad``: IFA_F_NODAD in the header and in IFA_FLAGS), so it is
        usable at once instead of tentative for the ~1 s duplicate address detection takes."""
        family, packed = _family(ip)
        if family == AF_INET6:
            self._request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
                          _IFADDR.pack(AF_INET6, prefixlen, IFA_F_NODAD, RT_SCOPE_UNIVERSE, index),
                          _attr(IFA_ADDRESS, packed) + _u32(IFA_FLAGS, IFA_F_NODAD))
            return
        self._request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, _IFADDR.pack(AF_INET, prefixlen, 0,
                                                                             RT_SCOPE_UNIVERSE, index),
                      _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))

    def add_default_route(self, gateway: str, oif: int, mtu: int | None = None) -> None:
        """0.0.0.0/0 via ``gateway`` out of link ``oif``, in the main table, ``proto static`` (what pyroute2's
        ``route("add")`` made before: ``ip route`` inside a container reads the same); with ``mtu``, the
        route's own MTU metric (``ip route ... mtu N``), which TCP takes its MSS from for this route only."""
        metrics = _attr(RTA_METRICS, _u32(RTAX_MTU, mtu)) if mtu else b""
        family, packed = _family(gateway)   # an IPv6 gateway: ::/0
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
                      _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0),
                      _attr(RTA_GATEWAY, packed) + _u32(RTA_OIF, oif) + metrics)
