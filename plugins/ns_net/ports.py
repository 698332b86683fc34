"""``-p`` parsing and the Docker-style text of published ports (pure functions, no side effects).

Accepted forms (Docker's, IPv4 only): ``CTR``, ``HOST:CTR``, ``HOSTIP:HOST:CTR``, ``HOSTIP::CTR`` each with an
optional ``/tcp`` or ``/udp``. A host port of 0 (or none) means "pick a free one" when the ports are reserved.
"""
from __future__ import annotations


from nsrun import ConfigError, Fields

__all__ = ["PortSpec", "Binding", "parse_publish", "format_ports"]

PROTOCOLS = ("tcp", "udp")


class PortSpec(Fields):
    """One ``-p`` as the user wrote it, validated. ``host_port`` 0 = choose one."""

    __slots__ = ("proto", "host_ip", "host_port", "ctr_port")
    proto: str
    host_ip: str
    host_port: int
    ctr_port: int


class Binding(Fields):
    """A reserved publication: host side fixed, container address known. What the firewall backends get.
    ``ctr_ip6``: the container's IPv6 address on a dual-stack network ('' otherwise): a binding on every
    address (``0.0.0.0``) is then published on the host's IPv6 addresses too, as dockerd with ip6tables."""

    __slots__ = ("proto", "host_ip", "host_port", "ctr_ip", "ctr_port", "ctr_ip6")
    _defaults = {"ctr_ip6": ""}
    proto: str
    host_ip: str
    host_port: int
    ctr_ip: str
    ctr_port: int
    ctr_ip6: str

    @property
    def v6(self) -> bool:
        """Whether this binding is published on IPv6 as well."""
        return bool(self.ctr_ip6) and self.host_ip == "0.0.0.0"

    def to_json(self) -> dict:
        return self.to_dict()

    @classmethod
    def from_json(cls, data: dict) -> "Binding":
        return cls(**{name: data[name] for name in cls.__slots__ if name in data or name not in cls._defaults})


def _port(text: str, what: str, spec: str, allow_zero: bool = False) -> int:
    if not text.isdigit():
        raise ConfigError(f"invalid {what} port {text!r} in -p {spec!r}: expected a number 1-65535")
    value = int(text)
    if not (1 if not allow_zero else 0) <= value <= 65535:
        raise ConfigError(f"invalid {what} port {value} in -p {spec!r}: must be 1-65535")
    return value


def parse_publish(spec: str) -> PortSpec:
    """One ``-p`` value -> PortSpec, or ConfigError with a one-line message."""
    body, slash, proto = spec.partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in PROTOCOLS:
        raise ConfigError(f"invalid protocol {proto!r} in -p {spec!r}: use tcp or udp")
    parts = body.split(":")
    if len(parts) == 1:
        host_ip, host, ctr = "0.0.0.0", "", parts[0]
    elif len(parts) == 2:
        host_ip, (host, ctr) = "0.0.0.0", parts
    elif len(parts) == 3:
        host_ip, host, ctr = parts
    else:
        raise ConfigError(f"invalid -p {spec!r}: expected [HOSTIP:][HOSTPORT:]CTRPORT[/tcp|udp]")
    octets = ipv4_octets(host_ip or "0.0.0.0")
    if octets is None:
        raise ConfigError(f"invalid host address {host_ip!r} in -p {spec!r}: expected an IPv4 address")
    if 224 <= octets[0] <= 239:
        raise ConfigError(f"invalid host address {host_ip!r} in -p {spec!r}: multicast")
    ctr_port = _port(ctr, "container", spec)
    host_port = _port(host, "host", spec, allow_zero=True) if host else 0
    return PortSpec(proto, ".".join(map(str, octets)), host_port, ctr_port)


def ipv4_octets(text: str) -> list[int] | None:
    """The four octets of a dotted-quad IPv4 address, or None; as strict as ``ipaddress.IPv4Address`` (four
    decimal fields 0-255, no leading zeros, nothing else) without importing it on every start (~1 ms)."""
    fields = text.split(".")
    if len(fields) != 4:
        return None
    octets = []
    for f in fields:
        if not (f.isascii() and f.isdigit()) or len(f) > 3 or (len(f) > 1 and f[0] == "0") or int(f) > 255:
            return None
        octets.append(int(f))
    return octets


def format_ports(bindings: list[Binding]) -> str:
    """Docker's ``ps`` column: ``0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp``."""
    return ", ".join(f"{b.host_ip}:{b.host_port}->{b.ctr_port}/{b.proto}" for b in bindings)


def docker_ports(bindings: list[Binding]) -> dict[str, list[dict[str, str]]]:
    """``NetworkSettings.Ports`` as Docker's inspect shows it."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(f"{b.ctr_port}/{b.proto}", []).append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
    return out
