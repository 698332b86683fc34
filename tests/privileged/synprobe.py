"""An attacker's packet crafter: a TCP handshake in hand-made Ethernet frames over an AF_PACKET socket.

Run inside a container's network namespace (``nsenter -t PID -n python3 synprobe.py ...``): it sends a SYN
from ``SRC_IP`` to ``DST_IP:DST_PORT`` in a frame addressed to ``DST_MAC`` (the container's gateway, i.e. the
host's bridge), waits for the SYN-ACK and, when one comes, completes the handshake with an ACK carrying
``PAYLOAD``. The container's own kernel never sees a socket for this flow (and drops a reply from 127/8 as a
martian before TCP could reset it), so the handshake is entirely the crafter's. Prints one JSON line:
``{"synack": bool, "from": "ip:port" | null}``.

``inject`` sends one data segment (ACK + PSH, ``PAYLOAD``) with the given ports and sequence numbers instead:
spoofing a host connection's source, it would land in that connection if the host let it in.
Standard library only (it runs with the host's python3).

usage: synprobe.py IFACE SRC_IP DST_MAC DST_IP DST_PORT [TIMEOUT]
       synprobe.py inject IFACE SRC_IP SRC_PORT DST_MAC DST_IP DST_PORT SEQ ACK
"""
from __future__ import annotations

import json
import random
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
PAYLOAD = b"crafted-from-a-container\n"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src_mac: bytes, dst_mac: bytes, src: str, dst: str, sport: int, dport: int, seq: int, ack: int,
          flags: int, payload: bytes = b"") -> bytes:
    """Ethernet + IPv4 + TCP (no options), checksums filled in."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload
    pseudo = s + d + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0x4000, 64,
                     socket.IPPROTO_TCP, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + tcp


def _reply(raw: bytes, src: str, sport: int) -> tuple[str, int, int, int] | None:
    """(source ip, source port, seq, flags) of a TCP segment to ``src:sport``, else None."""
    if len(raw) < 34 or struct.unpack("!H", raw[12:14])[0] != ETH_P_IP or raw[23] != socket.IPPROTO_TCP:
        return None
    ihl = (raw[14] & 15) * 4
    if socket.inet_ntoa(raw[30:34]) != src or len(raw) < 14 + ihl + 20:
        return None
    t = 14 + ihl
    tsport, tdport, seq = struct.unpack("!HHI", raw[t:t + 8])
    if tdport != sport:
        return None
    return socket.inet_ntoa(raw[26:30]), tsport, seq, raw[t + 13]


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def inject(argv: list[str]) -> int:
    iface, src, sport, dst_mac, dst, dport, seq, ack = argv
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP)) as sock:
        sock.bind((iface, 0))
        src_mac = _mac(open(f"/sys/class/net/{iface}/address").read().strip())
        sock.send(frame(src_mac, _mac(dst_mac), src, dst, int(sport), int(dport), int(seq), int(ack), 0x18,
                        PAYLOAD))
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "inject":
        return inject(argv[1:])
    iface, src, dst_mac, dst, dport = argv[:5]
    timeout = float(argv[5]) if len(argv) > 5 else 2.0
    dport_n = int(dport)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    sock.bind((iface, 0))
    src_mac, dmac = _mac(open(f"/sys/class/net/{iface}/address").read().strip()), _mac(dst_mac)
    sport, seq = random.randint(40000, 60000), random.randrange(1 << 32)
    syn = frame(src_mac, dmac, src, dst, sport, dport_n, seq, 0, 0x02)
    deadline = time.monotonic() + timeout
    result: dict = {"synack": False, "from": None}
    resend = 0.0
    while (left := deadline - time.monotonic()) > 0:
        if time.monotonic() >= resend:  # retransmitted like TCP would (the first reply may wait for ARP)
            sock.send(syn)
            resend = time.monotonic() + 0.5
        sock.settimeout(min(left, max(resend - time.monotonic(), 0.01)))
        try:
            raw = sock.recv(65535)
        except socket.timeout:
            continue
        got = _reply(raw, src, sport)
        if got is None:
            continue
        rip, rport, rseq, flags = got
        if flags & 0x12 == 0x12:                                                      # SYN-ACK
            result = {"synack": True, "from": f"{rip}:{rport}"}
            sock.send(frame(src_mac, dmac, src, dst, sport, dport_n, seq + 1, (rseq + 1) & 0xFFFFFFFF,
                            0x18, PAYLOAD))                                            # ACK + PSH: data
            break
    sock.close()
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
