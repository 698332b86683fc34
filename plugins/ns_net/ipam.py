"""Networks and address leases on disk, under ``<root>/networks`` (no kernel objects here).

Layout::

    networks/<name>.json                 one network: bridge, subnet, gateway (+ subnet6, gateway6) (written once)
    networks/<name>/<ip>.lease           one address, owned by one container id (JSON: id, name)
    networks/<name>/<ip6>.lease          a dual-stack network's IPv6 address of the same container (``leases6``)
    networks/.ports/<proto>-<port>/<hostip>.lease   one published host port (``hostports``)
    networks/.lock                       every change takes this flock: 50 parallel starts get 50 addresses

A lease or port file is written *before* the kernel objects it stands for exist (the journal ``gc`` reads
to find what a dead container left behind) and removed after they are gone.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import TYPE_CHECKING, Iterator

from nsrun import ConfigError, ConflictError, Fields, NotFoundError, Paths

if TYPE_CHECKING:
    import ipaddress

from .hostports import HostPorts, read_json as _read, write_json as _write
from .ports import ipv4_octets

__all__ = ["Network", "NetworkStore", "DEFAULT_NAME", "bridge_name", "veth_name", "endpoint_veth_name",
           "host_routes", "host_routes6"]

DEFAULT_NAME = "bridge"
BIG_TCP_OPTION = "nsrun.bridge.big_tcp"
# Off by default: with it, a container's TCP to the host and to other containers runs ~2.5x faster, but what it
# sends out of the host through an uplink without BIG TCP (most NICs) is cut to the MTU in software and runs at
# about half the speed of Docker's bridge (docs/bench.md, section 5). Off, nsrun's default network is at least
# as fast as Docker's default bridge on every path measured (the host side keeps BIG TCP either way).
BIG_TCP_DEFAULT = False
OPTIONS = {BIG_TCP_OPTION: "true|false (default false): whether containers' eth0 send IPv4 BIG TCP super-packets "
                           "(192 KiB). true: TCP from containers to the host and to each other ~2.5x faster; what "
                           "they send out of the host through an uplink without BIG TCP ~0.5x (cut to the MTU in "
                           "software)."}
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def bridge_name(tag: str, name: str) -> str:
    """``nsrun0`` for the default network of the default root; ``nsr{tag}b0``; ``nsr{tag}n{6 hex}``."""
    if name == DEFAULT_NAME:
        return f"nsr{tag}b0" if tag else "nsrun0"
    import hashlib  # only for new user-defined networks: loading OpenSSL costs ~2.5 ms
    return f"nsr{tag}n{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def veth_name(tag: str, cid: str) -> str:
    """The host side of a container's veth pair: ``nsr{tag}v{6 hex of the id}`` (at most 14 characters).

    The ``v`` keeps every root's names apart: without it the default root's ``nsr`` + 6 hex would also
    match another root's bridge ``nsr{4 hex tag}b0``."""
    return f"nsr{tag}v{cid[:6]}"


def endpoint_veth_name(tag: str, cid: str, network: str) -> str:
    """The host side of the veth ``network connect`` adds to a running container: ``nsr{tag}e{6 hex}``, the
    hex from the container id and the network's name (a container has one per network; ``gc`` recomputes
    them from the live containers' leases)."""
    import hashlib
    return f"nsr{tag}e{hashlib.sha1(f'{cid}/{network}'.encode()).hexdigest()[:6]}"


def host_routes() -> list[ipaddress.IPv4Network]:
    """IPv4 destinations the host routes (from /proc/net/route), the default route left out."""
    import ipaddress  # not on the start path: only when networks are made
    out = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                fields = line.split()
                dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
                mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
                net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
                if net.prefixlen:
                    out.append(net)
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return out


def host_routes6() -> list[ipaddress.IPv6Network]:
    """IPv6 destinations the host routes (from /proc/net/ipv6_route): neither the default route nor
    link-local, multicast or single addresses (the local table's /128s lie inside the routes they belong to)."""
    import ipaddress
    out = []
    try:
        with open("/proc/net/ipv6_route") as f:
            for line in f:
                fields = line.split()
                net = ipaddress.IPv6Network((int(fields[0], 16), int(fields[1], 16)))
                if 0 < net.prefixlen < 128 and not (net.is_link_local or net.is_multicast) and net not in out:
                    out.append(net)
    except (OSError, ValueError, IndexError):
        pass
    return out


class Network(Fields):
    """One network's record (``networks/<name>.json``), written once by ``NetworkStore.create``."""

    __slots__ = ("name", "bridge", "subnet", "gateway", "id", "created", "big_tcp", "labels", "options", "internal",
                 "subnet6", "gateway6")
    _defaults = {"created": 0.0, "big_tcp": BIG_TCP_DEFAULT,   # records from before the option: the default
                 "labels": dict, "options": dict, "internal": False, "subnet6": "", "gateway6": ""}
    name: str
    bridge: str
    subnet: str
    gateway: str
    id: str
    created: float
    big_tcp: bool            # containers' own eth0 send BIG TCP super-packets (see OPTIONS)
    labels: dict             # the creator's labels (compose finds its networks by them)
    options: dict            # the driver options as given at create (inspect shows exactly these)
    internal: bool           # --internal: no masquerade, no forwarding out of the bridge, no default route
    subnet6: str             # --ipv6: the IPv6 subnet ("" on an IPv4-only network)
    gateway6: str            # its gateway, the bridge's IPv6 address

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.rpartition("/")[2])

    @property
    def prefixlen6(self) -> int:
        return int(self.subnet6.rpartition("/")[2]) if self.subnet6 else 0

    def to_json(self) -> dict:
        return self.to_dict()


class NetworkStore(HostPorts):
    """The networks, leases and port reservations (``HostPorts``) of one nsrun root."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.dir = os.path.join(paths.root, "networks")
        self.ports_dir = os.path.join(self.dir, ".ports")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        os.makedirs(self.dir, exist_ok=True)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- networks ------------------------------------------------------------------------------------------
    def get(self, name: str) -> Network | None:
        data = _read(os.path.join(self.dir, f"{name}.json")) if self._valid(name) else None
        return Network(**data) if data else None

    def list(self) -> list[Network]:
        try:
            names = sorted(f[:-5] for f in os.listdir(self.dir) if f.endswith(".json"))
        except FileNotFoundError:
            names = []
        return [n for n in map(self.get, names) if n is not None]

    @staticmethod
    def _valid(name: str) -> bool:
        return bool(name) and name[0].isalnum() and set(name) <= _NAME_OK and len(name) <= 64

    def resolve(self, name: str) -> Network:
        """The network called ``name``; the default ``bridge`` network is made on first use."""
        net = self.get(name)
        if net is None and name == DEFAULT_NAME:
            return self.create(DEFAULT_NAME, None, None, exist_ok=True)
        if net is None:
            raise NotFoundError(f"network {name} not found")
        return net

    def check_subnet(self, subnet: ipaddress.IPv4Network, skip: str | None = None) -> str | None:
        """Why ``subnet`` cannot be used (overlaps a host route or another network), or None."""
        import ipaddress  # not on the start path: only when networks are made
        for route in host_routes():
            if subnet.overlaps(route) and not any(route == ipaddress.IPv4Network(n.subnet) for n in self.list()):
                return f"subnet {subnet} overlaps the host route {route}"
        for other in self.list():
            if other.name != skip and subnet.overlaps(ipaddress.IPv4Network(other.subnet)):
                return f"subnet {subnet} overlaps network {other.name} ({other.subnet})"
        return None

    def check_subnet6(self, subnet: ipaddress.IPv6Network) -> str | None:
        """Why IPv6 ``subnet`` cannot be used (overlaps a host route or another network's), or None."""
        import ipaddress
        ours = [ipaddress.IPv6Network(n.subnet6) for n in self.list() if n.subnet6]
        for route in host_routes6():
            if subnet.overlaps(route) and route not in ours:
                return f"subnet {subnet} overlaps the host route {route}"
        for other in self.list():
            if other.subnet6 and subnet.overlaps(ipaddress.IPv6Network(other.subnet6)):
                return f"subnet {subnet} overlaps network {other.name} ({other.subnet6})"
        return None

    def _ipv6_config(self, ipv6: bool, subnet6: str | None, gateway6: str | None) -> tuple[str, str]:
        """(subnet6, gateway6) as stored, validated as dockerd does (called under the lock)."""
        import ipaddress
        if not ipv6:
            if subnet6 or gateway6:
                raise ConfigError(f"an IPv6 {'subnet' if subnet6 else 'gateway'} needs --ipv6 (EnableIPv6)")
            return "", ""
        if not subnet6:  # dockerd without an IPv6 pool in its default-address-pools says the same
            raise ConfigError("could not find an available, non-overlapping IPv6 address pool among the defaults "
                              "to assign to the network: give --ipv6 an IPv6 --subnet (nsrun picks none)")
        try:
            net = ipaddress.IPv6Network(subnet6, strict=False)
        except ValueError:
            raise ConfigError(f"invalid subnet {subnet6!r}: expected an IPv6 CIDR") from None
        if net.prefixlen > 126:
            raise ConfigError(f"subnet {net} is too small: use /126 or larger")
        if net.is_multicast or net.is_link_local or net.is_loopback or net.prefixlen == 0:
            raise ConfigError(f"subnet {net} cannot be used for a network (multicast, link-local or loopback)")
        if (why := self.check_subnet6(net)) is not None:
            raise ConfigError(why)
        try:
            gw = ipaddress.IPv6Address(gateway6) if gateway6 else net.network_address + 1
        except ValueError:
            raise ConfigError(f"invalid gateway {gateway6!r}: expected an IPv6 address") from None
        if gw not in net or gw == net.network_address:
            raise ConfigError(f"gateway {gw} is not a usable address of subnet {net}")
        return str(net), str(gw)

    def _default_subnet(self) -> ipaddress.IPv4Network:
        import ipaddress  # not on the start path: only when networks are made
        tag = self.paths.tag
        if not tag:  # the default root: Docker-sized /16s from 10.88.0.0 (the default network's) upwards
            candidates = [ipaddress.IPv4Network(f"10.{i}.0.0/16") for i in range(88, 100)]
        else:  # 10.100.0.0/14, one /24 per root, derived from the tag; the next ones if taken
            base = int(tag, 16) % 1024
            candidates = [ipaddress.IPv4Network(f"10.{100 + (i % 1024) // 256}.{i % 256}.0/24")
                          for i in range(base, base + 16)]
        for subnet in candidates:
            if self.check_subnet(subnet) is None:
                return subnet
        raise ConfigError(f"no free default subnet for this root (tried {candidates[0]} and on)")

    def create(self, name: str, subnet: str | None, gateway: str | None, exist_ok: bool = False,
               options: dict[str, str] | None = None, labels: dict[str, str] | None = None,
               internal: bool = False, ipv6: bool = False, subnet6: str | None = None,
               gateway6: str | None = None) -> Network:
        """A new network's record; everything is checked before anything is written (a refusal leaves
        nothing). ``ipv6``: dual-stack with ``subnet6`` (required: nsrun has no default IPv6 pool) and
        ``gateway6`` (default: the subnet's first address)."""
        import ipaddress  # not on the start path: only when networks are made
        if not self._valid(name):
            raise ConfigError(f"invalid network name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]")
        if name in ("none", "host") or name.startswith("container:"):
            raise ConfigError(f"network name {name!r} is reserved for a network mode")
        big_tcp = _bool_option(options or {}, BIG_TCP_OPTION, BIG_TCP_DEFAULT)
        with self.lock():
            existing = self.get(name)
            if existing is not None:
                if exist_ok:
                    return existing
                raise ConflictError(f"network with name {name} already exists")
            if subnet:
                try:
                    net = ipaddress.IPv4Network(subnet, strict=False)
                except ValueError:
                    raise ConfigError(f"invalid subnet {subnet!r}: expected an IPv4 CIDR") from None
                if net.prefixlen > 30:
                    raise ConfigError(f"subnet {net} is too small: use /30 or larger")
                if (why := self.check_subnet(net)) is not None:
                    raise ConfigError(why)
            else:
                net = self._default_subnet()
            gw = ipaddress.IPv4Address(gateway) if gateway and ipv4_octets(gateway) is not None else None
            if gateway and gw is None:
                raise ConfigError(f"invalid gateway {gateway!r}: expected an IPv4 address")
            gw = gw or next(net.hosts())
            if gw not in net or gw in (net.network_address, net.broadcast_address):
                raise ConfigError(f"gateway {gw} is not a usable address of subnet {net}")
            if ipv6 and name == DEFAULT_NAME:
                raise ConfigError("the default bridge network has no IPv6 in nsrun")
            net6, gw6 = self._ipv6_config(ipv6, subnet6, gateway6)
            record = Network(name=name, bridge=bridge_name(self.paths.tag, name), subnet=str(net),
                             gateway=str(gw), id=os.urandom(32).hex(), created=time.time(), big_tcp=big_tcp,
                             labels=dict(labels or {}), options=dict(options or {}), internal=bool(internal),
                             subnet6=net6, gateway6=gw6)
            os.makedirs(os.path.join(self.dir, name), exist_ok=True)
            _write(os.path.join(self.dir, f"{name}.json"), record.to_json())
            return record

    def remove(self, name: str) -> None:
        """Forget a network; the caller removed its kernel objects. Refused while a lease exists."""
        if self.leases(name):
            raise ConflictError(f"error while removing network: network {name} has active endpoints")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.dir, f"{name}.json"))
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(self.dir, name))

    # -- leases --------------------------------------------------------------------------------------------
    def leases(self, name: str, v6: bool = False) -> dict[str, dict]:
        """ip -> {id, name} of every IPv4 lease on network ``name`` (one per endpoint); with ``v6`` the IPv6
        leases of a dual-stack network instead (``leases6``)."""
        ndir = os.path.join(self.dir, name)
        try:
            files = [f for f in os.listdir(ndir) if f.endswith(".lease") and (":" in f) == v6]
        except FileNotFoundError:
            return {}
        out = {}
        for f in files:
            data = _read(os.path.join(ndir, f)) or {}
            if data.get("fixed") and data.get("id") and not os.path.isdir(self.paths.container_dir(data["id"])):
                with contextlib.suppress(FileNotFoundError):  # a fixed address outlives only its container's record
                    os.unlink(os.path.join(ndir, f))
                continue
            out[f[:-6]] = data
        return out

    def leases6(self, name: str) -> dict[str, dict]:
        return self.leases(name, v6=True)

    def lease6_of(self, name: str, cid: str) -> str:
        """The IPv6 address ``cid`` holds on network ``name`` ('' when none)."""
        return next((ip for ip, lease in self.leases6(name).items() if lease.get("id") == cid), "")

    def allocate6(self, net: Network, cid: str, cname: str, aliases: list[str] | None = None,
                  ip: str | None = None, fixed: bool = False) -> str:
        """Lease the lowest free IPv6 address of dual-stack ``net`` (after its gateway) to ``cid``, as
        ``allocate`` does for IPv4; with ``ip`` (``--ip6``), that address. The name is the canonical text form
        (``inet_ntop``), so one address has one file."""
        import _socket
        base_text, _, length = net.subnet6.partition("/")
        base = int.from_bytes(_socket.inet_pton(_socket.AF_INET6, base_text), "big")
        size = 1 << (128 - int(length))

        def text(n: int) -> str:
            return _socket.inet_ntop(_socket.AF_INET6, n.to_bytes(16, "big"))
        if ip is not None:
            try:
                n = int.from_bytes(_socket.inet_pton(_socket.AF_INET6, ip), "big")
            except (OSError, ValueError):
                n = -1
            if not base < n < base + size:
                raise ConfigError(f"invalid address {ip!r}: not a usable address of network {net.name} "
                                  f"({net.subnet6})")
            ip = text(n)
        ndir = os.path.join(self.dir, net.name)
        with self.lock():
            os.makedirs(ndir, exist_ok=True)
            taken = {f[:-6] for f in os.listdir(ndir) if f.endswith(".lease") and ":" in f} | {net.gateway6}
            if ip is not None and self._fixed_again(net, ip, cid, cname, aliases, taken):
                return ip
            for n in [ip] if ip is not None else (text(base + i) for i in range(1, min(size, 1 << 24))):
                if n not in taken:
                    lease = {"id": cid, "name": cname, **({"aliases": aliases} if aliases else {}),
                             **({"fixed": True} if fixed else {})}
                    _write(os.path.join(ndir, f"{n}.lease"), lease, exclusive=True)
                    return n
        raise ConflictError(f"no free address left on network {net.name} ({net.subnet6})")

    def allocate(self, net: Network, cid: str, cname: str, aliases: list[str] | None = None,
                 ip: str | None = None, fixed: bool = False) -> str:
        """Lease the lowest free address of ``net`` to container ``cid`` (found by ``cname`` and ``aliases``);
        with ``ip`` (``--ip``), that address or a ConfigError/ConflictError saying why not. ``fixed`` (``run
        --ip``): the lease is marked so, kept at the container's stop (``is_fixed``) and leased to it again at
        its next start; it goes with the container's record (``leases`` drops one whose record is gone)."""
        ndir = os.path.join(self.dir, net.name)
        wanted = None
        if ip is not None:
            if ipv4_octets(ip) is None or ip not in set(_hosts(net.subnet)):
                raise ConfigError(f"invalid address {ip!r}: not a usable address of network {net.name} "
                                  f"({net.subnet})")
            wanted = [ip]
        with self.lock():
            os.makedirs(ndir, exist_ok=True)
            taken = {f[:-6] for f in os.listdir(ndir) if f.endswith(".lease")} | {net.gateway}  # names only
            if ip is not None and self._fixed_again(net, ip, cid, cname, aliases, taken):
                return ip
            for ip in wanted or _hosts(net.subnet):
                if ip not in taken:
                    lease = {"id": cid, "name": cname, **({"aliases": aliases} if aliases else {}),
                             **({"fixed": True} if fixed else {})}
                    _write(os.path.join(ndir, f"{ip}.lease"), lease, exclusive=True)
                    return ip
        raise ConflictError(f"no free address left on network {net.name} ({net.subnet})")

    def _fixed_again(self, net: Network, ip: str, cid: str, cname: str, aliases: list[str] | None,
                     taken: set[str]) -> bool:
        """[under the lock] ``ip`` asked for: True when it is ``cid``'s own lease already (a fixed address kept
        across a stop: refreshed with today's names); a ConflictError when someone else holds it."""
        if ip not in taken:
            return False
        path = os.path.join(self.dir, net.name, f"{ip}.lease")
        data = _read(path) or {}
        if data.get("fixed") and data.get("id") and not os.path.isdir(self.paths.container_dir(data["id"])):
            os.unlink(path)  # its container's record is gone: the address is free
            taken.discard(ip)
            return False
        if data.get("id") != cid or not data.get("fixed"):
            raise ConflictError(f"Address already in use: {ip} on network {net.name}")
        _write(path, {"id": cid, "name": cname, **({"aliases": aliases} if aliases else {}), "fixed": True})
        return True

    def is_fixed(self, net_name: str, ip: str, cid: str) -> bool:
        """Whether ``cid`` holds ``ip`` on ``net_name`` as a fixed address (``run --ip``/``--ip6``)."""
        data = _read(os.path.join(self.dir, net_name, f"{ip}.lease")) or {}
        return bool(data.get("fixed")) and data.get("id") == cid

    def release(self, net_name: str, ip: str, cid: str) -> bool:
        path = os.path.join(self.dir, net_name, f"{ip}.lease")
        data = _read(path)
        if data is None or data.get("id") != cid:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True


def split_families(configs: list[tuple[str | None, str | None]]) -> dict[str, str | None]:
    """``[(subnet, gateway), ...]`` as the CLI's repeated ``--subnet``/``--gateway`` or the API's
    ``IPAM.Config`` give them -> ``{"subnet", "gateway", "subnet6", "gateway6"}``: at most one subnet per
    family (an address with ``:`` is IPv6); a gateway goes with its family's subnet and needs one."""
    out: dict[str, str | None] = {"subnet": None, "gateway": None, "subnet6": None, "gateway6": None}
    for subnet, gateway in configs:
        for value, key in ((subnet, "subnet"), (gateway, "gateway")):
            if not value:
                continue
            key += "6" if ":" in value else ""
            if out[key] is not None:
                raise ConfigError(f"more than one {'IPv6' if key.endswith('6') else 'IPv4'} {key.rstrip('6')} "
                                  f"({out[key]}, {value}): nsrun takes one IPv4 and one IPv6 subnet per network")
            out[key] = value
    for fam in ("", "6"):
        if out[f"gateway{fam}"] and not out[f"subnet{fam}"]:
            raise ConfigError(f"gateway {out[f'gateway{fam}']} needs an {'IPv6' if fam else 'IPv4'} subnet")
    return out


def _bool_option(options: dict[str, str], key: str, default: bool) -> bool:
    """``options[key]`` as a boolean; any key but the known ones (``OPTIONS``) is refused."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown network option {unknown[0]!r}: known options are {', '.join(OPTIONS)}")
    value = str(options.get(key, default)).strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(f"invalid value {options[key]!r} for network option {key}: use true or false")
    return value in ("true", "1", "yes", "on")


def _hosts(subnet: str) -> Iterator[str]:
    """The usable addresses of an IPv4 ``a.b.c.d/n`` (stored normalised by ``create``), lowest first, as
    ``IPv4Network.hosts()`` lists them (/31 and /32 are refused by ``create``)."""
    addr, _, length = subnet.partition("/")
    a, b, c, d = (int(x) for x in addr.split("."))
    prefix = int(length)
    base = (a << 24 | b << 16 | c << 8 | d) & (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    for n in range(base + 1, base + (1 << (32 - prefix)) - 1):
        yield f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

