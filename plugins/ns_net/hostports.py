"""Host-port reservations of one root: ``networks/.ports/<proto>-<port>/<hostip>.lease`` (a mixin of
``NetworkStore``, which provides ``lock()`` and ``ports_dir``). Each file names its owner container, its
network and the firewall backend that publishes it, so ``gc`` knows what to undo for a dead container.

One directory per host port: checking a port reads only that port's directory (one entry, or a few host
addresses), so a start costs the same with 1000 ports published as with none. (A flat directory made every
check list all the reservations: +5-8 ms per start with 100 containers of 10 ports each.)
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import _socket  # the C module: socket.py's enum set-up costs ~1.5 ms on every start
from typing import Any

from nsrun import ConflictError

from .ports import Binding, PortSpec

__all__ = ["HostPorts", "read_json", "write_json"]


def write_json(path: str, data: object, exclusive: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class HostPorts:
    ports_dir: str

    def lock(self) -> Any:  # provided by NetworkStore
        raise NotImplementedError

    def port_leases(self) -> dict[str, dict]:
        """Every reservation, keyed by its path relative to ``ports_dir`` (for ``gc``: lists everything)."""
        out = {}
        try:
            port_dirs = os.listdir(self.ports_dir)
        except FileNotFoundError:
            return {}
        for d in port_dirs:
            with contextlib.suppress(NotADirectoryError, FileNotFoundError):
                for f in os.listdir(os.path.join(self.ports_dir, d)):
                    if f.endswith(".lease"):
                        out[f"{d}/{f}"] = read_json(os.path.join(self.ports_dir, d, f)) or {}
        return out

    def forget_port_lease(self, rel: str) -> None:
        """Remove one reservation (a key of ``port_leases``) and its port's directory once empty."""
        path = os.path.join(self.ports_dir, rel)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        with contextlib.suppress(OSError):  # ENOTEMPTY: another host address of that port is reserved
            os.rmdir(os.path.dirname(path))

    def port_conflict(self, proto: str, host_ip: str, port: int) -> str | None:
        """Why ``host_ip:port/proto`` cannot be published (another container has it, or a host process), or None.

        Reads only the directory of this proto/port, so the check costs the same however many ports are
        published."""
        port_dir = os.path.join(self.ports_dir, f"{proto}-{port}")
        try:
            names = [f for f in os.listdir(port_dir) if f.endswith(".lease")]
        except (FileNotFoundError, NotADirectoryError):
            names = []
        for name in names:
            other_ip = name[:-6]
            if other_ip == host_ip or "0.0.0.0" in (host_ip, other_ip):
                owner = (read_json(os.path.join(port_dir, name)) or {}).get("id", "?")
                return (f"Bind for {host_ip}:{port} failed: port is already allocated "
                        f"(published by container {str(owner)[:12]})")
        kind = _socket.SOCK_STREAM if proto == "tcp" else _socket.SOCK_DGRAM
        s = _socket.socket(_socket.AF_INET, kind | _socket.SOCK_CLOEXEC)
        try:
            s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            s.bind((host_ip, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"cannot publish on {host_ip}: not an address of this host"
            return f"Bind for {host_ip}:{port} failed: {exc.strerror} (a host process holds it)"
        finally:
            s.close()
        return None

    def reserve_ports(self, cid: str, network: str, specs: list[PortSpec], ctr_ip: str,
                      backend: str, ctr_ip6: str = "") -> list[Binding]:
        """Reserve every host port of ``specs`` (choosing free ones for port 0) or none of them. The journal
        file names the firewall ``backend`` that will publish it, so ``gc`` knows whom to ask to undo it."""
        out: list[Binding] = []
        with self.lock():
            os.makedirs(self.ports_dir, exist_ok=True)
            try:
                for spec in specs:
                    port = spec.host_port or self._free_port(spec.proto, spec.host_ip)
                    if (why := self.port_conflict(spec.proto, spec.host_ip, port)) is not None:
                        raise ConflictError(why)
                    b = Binding(spec.proto, spec.host_ip, port, ctr_ip, spec.ctr_port, ctr_ip6)
                    os.makedirs(os.path.dirname(self._port_path(b)), exist_ok=True)
                    write_json(self._port_path(b), {"id": cid, "network": network, "backend": backend,
                                                 "binding": b.to_json()},
                           exclusive=True)
                    out.append(b)
            except BaseException:
                self._release(cid, out)
                raise
        return out

    def _port_path(self, b: Binding) -> str:
        return os.path.join(self.ports_dir, f"{b.proto}-{b.host_port}", f"{b.host_ip}.lease")

    def _free_port(self, proto: str, host_ip: str) -> int:
        import random
        for _ in range(200):
            port = random.randint(32768, 60999)
            if self.port_conflict(proto, host_ip, port) is None:
                return port
        raise ConflictError("no free host port found to publish on")

    def release_ports(self, cid: str, bindings: list[Binding]) -> None:
        """Drop ``cid``'s reservations of ``bindings`` (under the lock: a concurrent reserve of the same port
        may be about to write into the directory this removes)."""
        if bindings:
            with self.lock():
                self._release(cid, bindings)

    def _release(self, cid: str, bindings: list[Binding]) -> None:
        for b in bindings:
            data = read_json(self._port_path(b))
            if data is not None and data.get("id") == cid:
                self.forget_port_lease(os.path.relpath(self._port_path(b), self.ports_dir))
