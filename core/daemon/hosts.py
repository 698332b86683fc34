"""Where the daemon listens (``-H``) and the rules for it. Pure: parsing and checks, no sockets opened.

``unix:///PATH``     a unix socket, created mode 0660
``tcp://IP:PORT``    TCP; plain HTTP only when IP is a loopback address, otherwise mutual TLS is required
``fd://`` and ``ssh://`` are not supported.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse

from ..errors import ConfigError

__all__ = ["Host", "parse_host", "check_hosts", "DEFAULT_HOST", "TlsFiles"]

DEFAULT_HOST = "unix:///run/nsrun.sock"


@dataclasses.dataclass(frozen=True)
class Host:
    """One listening address: ``kind`` is "unix" (``path``) or "tcp" (``ip``, ``port``)."""

    kind: str
    path: str = ""
    ip: str = ""
    port: int = 0

    @property
    def loopback(self) -> bool:
        if self.kind == "unix":
            return True
        try:
            return ipaddress.ip_address(self.ip).is_loopback
        except ValueError:
            return self.ip == "localhost"

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix://{self.path}"
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"tcp://{ip}:{self.port}"


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """``--tlsverify``: the CA that client certificates must be signed by, and the server's own pair."""

    cacert: str
    cert: str
    key: str


def parse_host(text: str) -> Host:
    """``unix:///run/x.sock`` / ``tcp://127.0.0.1:2375`` / ``tcp://[::1]:2375`` -> Host; ConfigError otherwise."""
    text = (text or "").strip()
    if text.startswith("/"):
        text = "unix://" + text
    url = urllib.parse.urlsplit(text)
    if url.scheme == "unix":
        path = url.netloc + url.path
        if not path.startswith("/"):
            raise ConfigError(f"invalid host {text!r}: a unix socket needs an absolute path (unix:///PATH)")
        return Host("unix", path=path)
    if url.scheme == "tcp":
        try:
            port = url.port
        except ValueError as exc:
            raise ConfigError(f"invalid host {text!r}: {exc}") from exc
        if not url.hostname or port is None or url.path not in ("", "/"):
            raise ConfigError(f"invalid host {text!r}: expected tcp://IP:PORT")
        return Host("tcp", ip=url.hostname, port=port)
    raise ConfigError(f"invalid host {text!r}: use unix:///PATH or tcp://IP:PORT")


def check_hosts(hosts: list[Host], tls: TlsFiles | None) -> None:
    """Refuse plain TCP on anything but loopback: a non-loopback address needs ``--tlsverify`` and its files."""
    for host in hosts:
        if host.kind == "tcp" and not host.loopback and tls is None:
            raise ConfigError(f"refusing to listen on {host} without TLS: anyone who can reach it could run "
                              f"containers as root. Use a loopback address, or --tlsverify with --tlscacert, "
                              f"--tlscert and --tlskey (mutual TLS)")


def tls_context(tls: TlsFiles):  # -> ssl.SSLContext
    """A server context that requires a client certificate signed by ``tls.cacert``."""
    import ssl
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.cacert)
        ctx.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS: cannot load the certificates: {exc}") from exc
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
