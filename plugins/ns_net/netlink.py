"""The netlink edge of bridge mode (pyroute2 ``IPRoute`` only: no NDB, no threads; imported lazily).

Everything here is idempotent where the kernel lets it be: "already exists" when creating a bridge that a
concurrent start just made, and "no such device" when deleting, are not errors.
"""
from __future__ import annotations

import contextlib
import errno
import os
from typing import Any, Iterator

from nsrun import SetupError, syscalls

__all__ = ["preload", "open_ipr", "ensure_bridge", "add_veth", "configure_inside", "delete_link", "host_mtu", "links",
           "mac_for"]


def _import_iproute() -> Any:
    """``pyroute2.iproute.linux.IPRoute`` without running ``pyroute2/__init__.py``.

    The package's ``__init__`` imports everything (NDB, IPDB, conntrack, ethtool...): ~110-130 ms here. Only
    ``IPRoute`` is needed, so the package is entered through a stand-in module for the duration of the
    import (~60-75 ms, of which asyncio is ~25: pyroute2 0.9's sync API wraps its async core). The stand-in
    is removed afterwards, so a later ``import pyroute2`` anywhere runs the real ``__init__`` as usual and
    reuses the already loaded submodules. Falls back to the plain import if anything differs.
    """
    import sys
    if "pyroute2" in sys.modules:
        from pyroute2 import IPRoute
        return IPRoute
    import importlib.util
    import types
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or not spec.submodule_search_locations:
        from pyroute2 import IPRoute
        return IPRoute
    stand_in = types.ModuleType("pyroute2")
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    sys.modules["pyroute2"] = stand_in
    try:
        from pyroute2.iproute.linux import IPRoute
    except ImportError:
        sys.modules.pop("pyroute2", None)
        from pyroute2 import IPRoute
        return IPRoute
    if sys.modules.get("pyroute2") is stand_in:
        del sys.modules["pyroute2"]
    return IPRoute


def preload() -> None:
    """Import what bridge mode needs (pyroute2's IPRoute, the nftables binding) without opening anything: for
    a long-lived single-threaded fork server, so that forked starts pay no import. Creates no thread."""
    _import_iproute()
    try:
        import nftables  # noqa: F401
    except ImportError:
        pass


def open_ipr() -> Any:
    """The seam tests replace: a plain netlink socket in nsrun's own network namespace (no threads)."""
    return _import_iproute()()  # paid only by runs that need bridge networking


def _sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _errno(exc: BaseException) -> int | None:
    return getattr(exc, "code", None) or getattr(exc, "errno", None)


def host_mtu() -> int:
    """The MTU of the interface holding the default route (1500 when there is none)."""
    try:
        with open("/proc/net/route") as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[1] == "00000000" and fields[7] == "00000000":
                    with open(f"/sys/class/net/{fields[0]}/mtu") as m:
                        return int(m.read())
    except (OSError, ValueError, IndexError):
        pass
    return 1500


def mac_for(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the four bytes of the address (stable, unique per network)."""
    return "02:42:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def links(prefix: str) -> list[str]:
    """Names of the host's links starting with ``prefix`` (sysfs: no netlink needed)."""
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def ensure_bridge(ipr: Any, name: str, gateway: str, prefixlen: int, mtu: int) -> bool:
    """Make the bridge with the gateway address, up; True when this call created it."""
    created = False
    if not ipr.link_lookup(ifname=name):
        try:
            ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            created = True
        except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError
            if _errno(exc) != errno.EEXIST:
                raise SetupError(f"cannot create bridge {name}: {exc}", phase="pre_clone", plugin="net",
                                 errno=_errno(exc)) from exc
    index = ipr.link_lookup(ifname=name)[0]
    try:
        ipr.addr("add", index=index, address=gateway, prefixlen=prefixlen)
    except Exception as exc:  # noqa: BLE001
        if _errno(exc) != errno.EEXIST:
            raise SetupError(f"cannot address bridge {name}: {exc}", phase="pre_clone", plugin="net",
                             errno=_errno(exc)) from exc
    # Published ports must answer on 127.0.0.1: DNAT'd loopback traffic may leave through this bridge only.
    with _typed(f"cannot set up bridge {name}", "pre_clone"):
        _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    # Frames bridged between two containers of this network skip the IP hooks (br_netfilter): nsrun accepts
    # them anyway, and every rule on the way costs throughput. Routed traffic (published ports, hairpin,
    # outbound) still passes the hooks as usual. A per-bridge switch: no other bridge is affected.
    with contextlib.suppress(OSError):
        for family in ("iptables", "ip6tables", "arptables"):
            _sysctl(f"/sys/class/net/{name}/bridge/nf_call_{family}", "0")
    with _typed(f"cannot set up bridge {name}", "pre_clone"):
        ipr.link("set", index=index, state="up")
    return created


def add_veth(ipr: Any, host: str, bridge: str, pid: int, mac: str, mtu: int) -> None:
    """A veth pair: ``host`` on the bridge, its peer created directly as ``eth0`` inside ``pid``'s netns."""
    br = ipr.link_lookup(ifname=bridge)
    if not br:
        raise SetupError(f"bridge {bridge} disappeared", phase="post_start", plugin="net", errno=errno.ENODEV)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        ipr.link("add", ifname=host, kind="veth", mtu=mtu,
                 peer={"ifname": "eth0", "net_ns_fd": fd, "address": mac, "mtu": mtu})
    except Exception as exc:  # noqa: BLE001
        raise SetupError(f"cannot create veth {host}: {exc}", phase="post_start", plugin="net",
                         errno=_errno(exc)) from exc
    finally:
        os.close(fd)
    with _typed(f"cannot attach {host} to {bridge}"):
        index = ipr.link_lookup(ifname=host)[0]
        ipr.link("set", index=index, master=br[0], state="up")
    # Hairpin: a container reaching its own published port gets the DNAT'd frame back on its own port.
    with contextlib.suppress(OSError):
        _sysctl(f"/sys/class/net/{host}/brport/hairpin_mode", "1")


@contextlib.contextmanager
def _in_netns(pid: int) -> Iterator[Any]:
    """An IPRoute socket bound to ``pid``'s network namespace (netlink sockets keep the netns they were
    made in, so only the socket's creation happens inside; this thread returns home at once)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(target, syscalls.CLONE_NEWNET)
        try:
            ipr = open_ipr()
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNET)
    finally:
        os.close(own)
        os.close(target)
    try:
        yield ipr
    finally:
        ipr.close()


@contextlib.contextmanager
def _typed(what: str, phase: str = "post_start") -> Iterator[None]:
    """pyroute2's NetlinkError (errno in ``.code``) -> SetupError keeping the errno."""
    try:
        yield
    except SetupError:
        raise
    except Exception as exc:  # noqa: BLE001 - NetlinkError and OSError
        code = _errno(exc)
        if code is None:
            raise
        raise SetupError(f"{what}: {os.strerror(code)}", phase=phase, plugin="net", errno=code) from exc


def configure_inside(pid: int, ip: str, prefixlen: int, gateway: str) -> None:
    """Inside the container's netns: ``lo`` and ``eth0`` up, the address, the default route via the bridge."""
    with _typed(f"cannot configure eth0 of process {pid}"), _in_netns(pid) as ipr:
        lo = ipr.link_lookup(ifname="lo")[0]
        eth0 = ipr.link_lookup(ifname="eth0")[0]
        ipr.link("set", index=lo, state="up")
        ipr.addr("add", index=eth0, address=ip, prefixlen=prefixlen)
        ipr.link("set", index=eth0, state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=eth0)


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
