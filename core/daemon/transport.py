"""The -H client's connection to a daemon (unix socket or TCP, mutual TLS when asked) and the one decoder of the
daemon's error responses (Docker's ``{"message"}``, plus ``NsrunExitCode``)."""
from __future__ import annotations

import http.client
import json
import os
import socket

from ..errors import ConfigError, ConflictError, NotFoundError, NsrunError
from .hosts import Host

__all__ = ["Conn", "error_from_response"]


def _tls_context():  # -> ssl.SSLContext | None
    if os.environ.get("NSRUN_TLS_VERIFY") not in ("1", "true"):
        return None
    import ssl
    base = os.environ.get("NSRUN_CERT_PATH") or os.path.expanduser("~/.nsrun")
    ctx = ssl.create_default_context(cafile=os.path.join(base, "ca.pem"))
    ctx.load_cert_chain(os.path.join(base, "cert.pem"), os.path.join(base, "key.pem"))
    return ctx


class Conn(http.client.HTTPConnection):
    def __init__(self, host: Host, timeout: float | None = None) -> None:
        super().__init__("nsrun" if host.kind == "unix" else host.ip, host.port or None, timeout=timeout)
        self.target = host

    def connect(self) -> None:
        host = self.target
        try:
            if host.kind == "unix":
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(host.path)
            else:
                self.sock = socket.create_connection((host.ip, host.port), self.timeout)
                if (ctx := _tls_context()) is not None:
                    self.sock = ctx.wrap_socket(self.sock, server_hostname=host.ip)
        except OSError as exc:
            raise NsrunError(f"cannot connect to the nsrun daemon at {host}: {exc.strerror or exc} "
                             f"(is `nsrun daemon` running?)") from exc


def error_from_response(status: int, body: bytes) -> NsrunError:
    try:
        info = json.loads(body)
        message = info.get("message") or f"HTTP {status}"
    except (ValueError, AttributeError):
        info, message = {}, body.decode(errors="replace").strip() or f"HTTP {status}"
    cls = {404: NotFoundError, 409: ConflictError, 400: ConfigError}.get(status, NsrunError)
    err = cls(message)
    err.exit_code = info.get("NsrunExitCode", 125) if isinstance(info, dict) else 125
    return err
