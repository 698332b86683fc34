"""The container's name-resolution files as the net plugin asks for them (pure): ``--add-host NAME:IP``
(``HostConfig.ExtraHosts``) lines for /etc/hosts, and ``--dns``/``--dns-search``/``--dns-option``
(``HostConfig.Dns``/``DnsSearch``/``DnsOptions``) for /etc/resolv.conf. The mnt plugin writes both files from
``ctx.hosts`` and ``ctx.resolv_conf``; this module only decides their contents, Docker's way:

- an extra host is ``NAME:IP`` (or ``NAME=IP``, the docker CLI's newer form; an IPv6 address may be in
  brackets); ``host-gateway`` as the IP stands for the host's address on the bridge (the network's gateway);
- any of the three DNS options rebuilds resolv.conf from the host's: each one given replaces that part
  (nameservers, search domains, options), the others are the host's (loopback nameservers dropped; none left
  and none given: Google's two, as Docker); ``--dns-search .`` means no search line.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from nsrun import ConfigError

__all__ = ["HOST_GATEWAY", "extra_hosts", "check_dns", "check_search", "check_options", "resolv_conf"]

HOST_GATEWAY = "host-gateway"
FALLBACK = ["8.8.8.8", "8.8.4.4"]
_DOMAIN = re.compile(r"^(([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])\.)*"
                     r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])\.?$")


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def extra_hosts(items: Any, what: str = "--add-host") -> list[tuple[str, str]]:
    """``["db:10.0.0.5", "gw:host-gateway"]`` -> ``[("db", "10.0.0.5"), ("gw", "host-gateway")]``, each
    checked (a bad one: ConfigError naming ``what`` and the entry)."""
    out = []
    for item in items or ():
        if not isinstance(item, str):
            raise ConfigError(f"{what}: each entry must be a string NAME:IP")
        sep = "=" if "=" in item else ":"
        name, found, addr = item.partition(sep)
        addr = addr.strip()
        if addr.startswith("[") and addr.endswith("]"):
            addr = addr[1:-1]
        if not found or not name.strip() or not addr or (addr != HOST_GATEWAY and _ip(addr) is None):
            raise ConfigError(f"invalid {what} {item!r}: expected NAME:IP (an IP address or {HOST_GATEWAY})")
        out.append((name.strip(), addr if addr == HOST_GATEWAY else _ip(addr)))
    return out


def check_dns(items: Any, what: str = "--dns") -> list[str]:
    out = []
    for item in items or ():
        ip = _ip(item) if isinstance(item, str) else None
        if ip is None:
            raise ConfigError(f"invalid {what} {item!r}: not an IP address")
        out.append(ip)
    return out


def check_search(items: Any, what: str = "--dns-search") -> list[str]:
    out = []
    for item in items or ():
        if not isinstance(item, str) or (item != "." and (len(item) > 255 or not _DOMAIN.match(item))):
            raise ConfigError(f"invalid {what} {item!r}: not a valid domain")
        out.append(item)
    return out


def check_options(items: Any, what: str = "--dns-option") -> list[str]:
    out = []
    for item in items or ():
        if not isinstance(item, str) or not item or any(c.isspace() for c in item):
            raise ConfigError(f"invalid {what} {item!r}: one resolver option, such as ndots:2")
        out.append(item)
    return out


def resolv_conf(host_text: str, dns: list[str], search: list[str], options: list[str]) -> str:
    """The container's resolv.conf: the host's parts replaced by those given (see the module's docstring)."""
    servers, host_search, host_options = [], [], []
    for line in host_text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            ip = _ip(words[1].split("%")[0])
            if ip is not None and not ipaddress.ip_address(ip).is_loopback:
                servers.append(words[1])
        elif words[:1] in (["search"], ["domain"]):
            host_search = words[1:]
        elif words[:1] == ["options"]:
            host_options += words[1:]
    servers = dns or servers or FALLBACK
    search = search or host_search
    options = options or host_options
    text = "".join(f"nameserver {ip}\n" for ip in servers)
    if search and search != ["."]:
        text += f"search {' '.join(search)}\n"
    if options:
        text += f"options {' '.join(options)}\n"
    return text
