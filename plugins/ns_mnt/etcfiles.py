"""The contents of /etc/hostname, /etc/hosts and /etc/resolv.conf for a container (pure functions)."""
from __future__ import annotations

__all__ = ["hostname_file", "hosts_file", "resolv_conf"]

FALLBACK_DNS = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def hostname_file(hostname: str) -> str:
    return f"{hostname}\n"


def hosts_file(entries: list[tuple[str, str]]) -> str:
    return "".join(f"{addr}\t{names}\n" for addr, names in entries)


def resolv_conf(host_text: str) -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from a container), as Docker does."""
    lines = []
    for line in host_text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and (words[1].startswith("127.") or words[1] == "::1"):
            continue
        lines.append(line)
    text = "\n".join(lines).strip() + "\n"
    if not any(line.split()[:1] == ["nameserver"] for line in lines):
        text = text.lstrip("\n") + FALLBACK_DNS
    return text
