"""FORWARD policy DROP in the *other* firewall: the one case where a backend's own accept is not enough.

Every base chain on a netfilter hook must accept a packet. iptables' legacy tables, iptables-nft's
``ip filter`` table and nsrun's own nft table are separate, so an accept in one never overrules the policy
DROP of another (Docker sets FORWARD to DROP in whichever iptables it uses). For each iptables variant whose
FORWARD policy is DROP and which is not the backend's own, nsrun adds its filter-only chain there
(``NSRUN{TAG}-FWD``, hooked once at the top of FORWARD; ``iptables.guard_other_variants``): nobody else's
rules are edited, and ``system reset`` removes it with the rest. This module only finds out which variants
drop (no backend is imported here, so both backends can use it).
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any

__all__ = ["variant_of", "dropping_variants"]

VARIANTS = ("iptables-nft", "iptables-legacy")


def variant_of(tool: str) -> str:
    """``iptables`` -> the variant the system's alternative points to (``iptables-nft``/``iptables-legacy``)."""
    if tool in VARIANTS:
        return tool
    import shutil
    path = os.path.realpath(shutil.which(tool) or tool)
    return "iptables-legacy" if "legacy" in os.path.basename(path) else "iptables-nft"


def _nft_forward_drops(nft: Any | None) -> bool:
    if nft is None:
        from .libnft import open_nft
        nft = open_nft()
    rc, out, _ = nft.json_cmd({"nftables": [{"list": {"chain": {"family": "ip", "table": "filter",
                                                                 "name": "FORWARD"}}}]})
    return rc == 0 and '"policy": "drop"' in json.dumps(out)


# The legacy table's FORWARD policy, read from the kernel as iptables-legacy itself reads it (getsockopt on
# a raw socket), not by running ``iptables-legacy -S``: that is a fork and exec on every bridge start.
SOL_IP, IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES = 0, 64, 65
NF_INET_FORWARD = 2
_GETINFO = struct.Struct("=32sI5I5III")      # struct ipt_getinfo: name, valid_hooks, hook_entry, underflow, ...
_GET_ENTRIES_HEAD = 40                       # struct ipt_get_entries: name[32], size, then (8-aligned) entries
_TARGET_OFFSET = 88                          # ipt_entry.target_offset: after ipt_ip (84) and nfcache (4)
_VERDICT = 32                                # xt_standard_target.verdict: after the 32-byte xt_entry_target
NF_DROP_VERDICT = -1                         # a standard target's verdict is -(NF_DROP) - 1


def forward_verdict(info: bytes, entries: bytes) -> int | None:
    """The verdict of the FORWARD policy rule (its underflow entry), from the replies to IPT_SO_GET_INFO and
    IPT_SO_GET_ENTRIES; None when the table has no FORWARD hook or the reply is too short."""
    fields = _GETINFO.unpack_from(info)
    valid_hooks, underflow = fields[1], fields[7:12]
    if not valid_hooks & (1 << NF_INET_FORWARD):
        return None
    entry = _GET_ENTRIES_HEAD + underflow[NF_INET_FORWARD]
    if entry + _TARGET_OFFSET + 2 > len(entries):
        return None
    target = entry + struct.unpack_from("=H", entries, entry + _TARGET_OFFSET)[0]
    if target + _VERDICT + 4 > len(entries):
        return None
    return int(struct.unpack_from("=i", entries, target + _VERDICT)[0])


def _getsockopt(fd: int, opt: int, buf: Any) -> None:
    """getsockopt(2) with an in/out buffer (Python's ``socket.getsockopt`` cannot pass the table's name in)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    size = ctypes.c_uint32(ctypes.sizeof(buf))
    if libc.getsockopt(fd, SOL_IP, opt, buf, ctypes.byref(size)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _legacy_forward_drops() -> bool:
    try:
        with open("/proc/net/ip_tables_names") as f:
            if "filter" not in f.read().split():
                return False  # no legacy filter table: nothing can drop there (and we do not create one:
                # asking the kernel about a table that does not exist yet would instantiate it)
    except OSError:
        return False
    import _socket
    import ctypes
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, _socket.IPPROTO_RAW)
    try:
        info = ctypes.create_string_buffer(b"filter", _GETINFO.size)
        _getsockopt(sock.fileno(), IPT_SO_GET_INFO, info)
        size = _GETINFO.unpack_from(info.raw)[-1]
        entries = ctypes.create_string_buffer(b"filter", _GET_ENTRIES_HEAD + size)
        struct.pack_into("=I", entries, 32, size)
        _getsockopt(sock.fileno(), IPT_SO_GET_ENTRIES, entries)
    except OSError:
        return False  # the table went away (or changed size) in between: the next start looks again
    finally:
        sock.close()
    return forward_verdict(info.raw, entries.raw) == NF_DROP_VERDICT


def dropping_variants(nft: Any | None = None) -> list[str]:
    """The iptables variants whose FORWARD policy is DROP right now."""
    out = []
    if _nft_forward_drops(nft):
        out.append("iptables-nft")
    if _legacy_forward_drops():
        out.append("iptables-legacy")
    return out
