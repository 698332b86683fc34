"""The netlink edge of bridge mode.

Two clients, one per need:

- The container start path (``ensure_bridge``, ``add_veth``, ``configure_inside``, and ``remove_link`` for the
  run's own veth at teardown) speaks through ``rtnl.Rtnl``: a few fixed rtnetlink requests over a plain
  socket, stdlib only. Importing pyroute2's IPRoute costs ~55-70 ms and each ``IPRoute()`` several ms more
  (pyroute2 0.9 wraps an asyncio core): more than the whole start budget.
- Everything else (``gc``, ``network rm``: ``open_ipr``, ``delete_link``) uses pyroute2's ``IPRoute`` (no NDB, no
  threads; imported lazily), which is also the oracle the unit tests decode ``rtnl``'s messages with.

Everything here is idempotent where the kernel lets it be: "already exists" when creating a bridge that a
concurrent start just made, and "no such device" when deleting, are not errors.
"""
from __future__ import annotations

import contextlib
import errno
import os
from typing import TYPE_CHECKING, Any, Iterator

from nsrun import SetupError, syscalls

if TYPE_CHECKING:
    from .rtnl import Rtnl

__all__ = ["preload", "open_ipr", "ensure_bridge", "add_veth", "configure_inside", "remove_link", "delete_link",
           "host_mtu", "link_mtus", "links", "mac_for"]


def preload() -> None:
    """Import what a bridge-mode start needs (the rtnetlink client, the nftables binding) without opening
    anything: for a long-lived single-threaded fork server, so that forked starts pay no import. pyroute2 is
    not on the start path any more and is left to whoever needs it (gc). Creates no thread."""
    from . import rtnl  # noqa: F401
    try:
        import nftables  # noqa: F401
    except ImportError:
        pass


def open_ipr() -> Any:
    """pyroute2's IPRoute in nsrun's own network namespace (no threads), for gc and ``network rm``: cold
    paths, so pyroute2 is imported plainly (~110 ms) — a start never comes here (``rtnl``)."""
    from pyroute2 import IPRoute
    return IPRoute()


def _sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _errno(exc: BaseException) -> int | None:
    return getattr(exc, "code", None) or getattr(exc, "errno", None)


def uplink() -> str | None:
    """The interface holding the host's default route (None when there is none)."""
    try:
        with open("/proc/net/route") as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[1] == "00000000" and fields[7] == "00000000":
                    return fields[0]
    except (OSError, IndexError):
        pass
    return None


def host_mtu() -> int:
    """The MTU of the interface holding the default route (1500 when there is none)."""
    name = uplink()
    try:
        if name is not None:
            with open(f"/sys/class/net/{name}/mtu") as m:
                return int(m.read())
    except (OSError, ValueError):
        pass
    return 1500


LINK_MTU = 1500  # Docker's default bridge MTU (``--mtu``): the links between containers and the host


def link_mtus() -> tuple[int, int | None]:
    """``(mtu of the bridge and veths, mtu of a container's default route or None)``.

    The links take Docker's 1500 (or the uplink's MTU where that is larger), so traffic that stays on the
    host (container <-> container, container <-> host) has Docker's MSS. Where the uplink is smaller (1400 on
    this machine's eth0), the container's default route carries the uplink's MTU as its own metric: TCP to
    anything beyond the bridge starts with an MSS that fits the uplink, with no PMTU discovery round."""
    uplink = host_mtu()
    link = max(LINK_MTU, uplink)
    return link, (uplink if uplink < link else None)


def mac_for(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the four bytes of the address (stable, unique per network)."""
    return "02:42:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def links(prefix: str) -> list[str]:
    """Names of the host's links starting with ``prefix`` (sysfs: no netlink needed)."""
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def ensure_bridge(rt: Rtnl, name: str, gateway: str, prefixlen: int, mtu: int, gateway6: str = "",
                  prefixlen6: int = 0) -> bool:
    """Make the bridge with the gateway address (and a dual-stack network's IPv6 gateway, ``nodad``), up;
    True when this call created it."""
    created = False
    index = rt.index(name)
    if index is None:
        try:
            rt.add_bridge(name, mtu)
            created = True
        except OSError as exc:
            if exc.errno != errno.EEXIST:  # EEXIST: a concurrent start made it first
                raise SetupError(f"cannot create bridge {name}: {os.strerror(exc.errno)}", phase="pre_clone",
                                 plugin="net", errno=exc.errno) from exc
        index = rt.index(name)
        if index is None:
            raise SetupError(f"bridge {name} disappeared", phase="pre_clone", plugin="net", errno=errno.ENODEV)
    if gateway6:  # our own bridge: IPv6 on it whatever the host's default for new links says
        with contextlib.suppress(OSError):
            _sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "0")
    for address, length in ((gateway, prefixlen), (gateway6, prefixlen6)):
        if not address:
            continue
        try:
            rt.add_addr(index, address, length)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise SetupError(f"cannot address bridge {name}: {os.strerror(exc.errno)}", phase="pre_clone",
                                 plugin="net", errno=exc.errno) from exc
    # Published ports must answer on 127.0.0.1: DNAT'd loopback traffic may leave through this bridge only.
    # It also lets the bridge deliver 127/8 from containers: the backends' input chain drops that (nft_rules).
    with _typed(f"cannot set up bridge {name}", "pre_clone"):
        _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    # Frames bridged between two containers of this network skip the IP hooks (br_netfilter): nsrun accepts
    # them anyway, and every rule on the way costs throughput. Routed traffic (published ports, hairpin,
    # outbound) still passes the hooks as usual. A per-bridge switch: no other bridge is affected.
    with contextlib.suppress(OSError):
        for family in ("iptables", "ip6tables", "arptables"):
            _sysctl(f"/sys/class/net/{name}/bridge/nf_call_{family}", "0")
    with _typed(f"cannot set up bridge {name}", "pre_clone"):
        rt.set_up(index)
    return created


def add_veth(rt: Rtnl, host: str, bridge: str, pid: int, mac: str, mtu: int, big_tcp: bool = True,
             peer: str = "eth0") -> None:
    """A veth pair: ``host`` on the bridge and up, its peer created directly as ``peer`` (``eth0`` at start,
    ``eth1``... for ``network connect``) inside ``pid``'s netns (down: ``configure_inside`` brings it up; see
    ``Rtnl.add_veth`` for why it cannot be done here)."""
    with _typed(f"cannot attach {host} to {bridge}"):
        br = rt.index(bridge)
    if br is None:
        raise SetupError(f"bridge {bridge} disappeared", phase="post_start", plugin="net", errno=errno.ENODEV)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        rt.add_veth(host, mtu, br, peer, fd, mac, peer_big_tcp=big_tcp)
    except OSError as exc:
        raise SetupError(f"cannot create veth {host}: {os.strerror(exc.errno)}", phase="post_start", plugin="net",
                         errno=exc.errno) from exc
    finally:
        os.close(fd)
    # Host -> container traffic is routed through the bridge: it must pass BIG TCP super-packets too (it can
    # only once it has a port; a no-op after the first start). Kernels without BIG TCP refuse: not an error.
    # The host's own sockets then send super-packets to containers; a container's eth0 sends them only when
    # its network says so (option nsrun.bridge.big_tcp=true): through an uplink without BIG TCP they are cut
    # into MTU-sized frames in software (container -> upstream veth about halved, docs/bench.md section 5).
    with contextlib.suppress(OSError):
        rt.allow_big_tcp(br)
    # Hairpin: a container reaching its own published port gets the DNAT'd frame back on its own port.
    with contextlib.suppress(OSError):
        _sysctl(f"/sys/class/net/{host}/brport/hairpin_mode", "1")


@contextlib.contextmanager
def _typed(what: str, phase: str = "post_start") -> Iterator[None]:
    """An OSError (or pyroute2's NetlinkError, errno in ``.code``) -> SetupError keeping the errno."""
    try:
        yield
    except SetupError:
        raise
    except Exception as exc:  # noqa: BLE001 - OSError and NetlinkError
        code = _errno(exc)
        if code is None:
            raise
        raise SetupError(f"{what}: {os.strerror(code)}", phase=phase, plugin="net", errno=code) from exc


LOOPBACK_IFINDEX = 1  # the kernel gives every netns's lo this index (include/net/flow.h)


def configure_inside(pid: int, ip: str, prefixlen: int, gateway: str | None, route_mtu: int | None = None,
                     ifname: str = "eth0", ip6: str = "", prefixlen6: int = 0, gateway6: str | None = None) -> None:
    """Inside the container's netns: ``lo`` and ``ifname`` up, the address (its subnet's route comes with
    it), and unless ``gateway`` is None the default route via the bridge (with ``route_mtu`` as its MTU
    metric when given). ``network connect`` of a running container passes ``eth1``... and no gateway: the
    default route stays the first network's, as Docker's does. A dual-stack network adds ``ip6`` (``nodad``:
    no wait for duplicate address detection) and, with ``gateway6``, the ``::/0`` route via the bridge."""
    from .rtnl import Rtnl
    with _typed(f"cannot configure {ifname} of process {pid}"), Rtnl.in_netns(pid, syscalls.setns) as rt:
        link = rt.index(ifname)
        if link is None:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        rt.set_up(LOOPBACK_IFINDEX)
        rt.add_addr(link, ip, prefixlen)
        if ip6:
            rt.add_addr(link, ip6, prefixlen6)
        rt.set_up(link)
        if gateway is not None:
            rt.add_default_route(gateway, link, route_mtu)
        if ip6 and gateway6:
            rt.add_default_route(gateway6, link, route_mtu)


def remove_link(rt: Rtnl, name: str) -> bool:
    """``delete_link`` over the start path's socket (teardown of a run): False when it was already gone."""
    try:
        index = rt.index(name)
        if index is None:
            return False
        rt.del_link(index)
    except OSError as exc:
        if exc.errno in (errno.ENODEV, errno.ENOENT):
            return False
        raise
    return True


def delete_link(ipr: Any, name: str) -> bool:
    """Delete a link by name; False when it was already gone."""
    found = ipr.link_lookup(ifname=name)
    if not found:
        return False
    try:
        ipr.link("del", index=found[0])
    except Exception as exc:  # noqa: BLE001
        if _errno(exc) in (errno.ENODEV, errno.ENOENT):
            return False
        raise
    return True
