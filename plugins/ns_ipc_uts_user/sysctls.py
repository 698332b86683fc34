"""``--sysctl`` items of one namespace's keys, for the plugin owning that namespace (ipc, uts): checked in
``configure``, written by the child inside its new namespace, mapped from and into ``HostConfig.Sysctls``."""
from __future__ import annotations


from nsrun import ConfigError, syscalls

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["parse", "apply", "from_docker", "into_view"]


def parse(items: Any) -> list[tuple[str, str]]:
    try:
        return [syscalls.parse_sysctl(item) for item in items or ()]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def apply(items: Any) -> None:
    """[child] Write them (the calling process's namespaces)."""
    for key, value in parse(items):
        syscalls.write_sysctl(key, value)


def from_docker(fields: Any, dest: str, mine: Callable[[str], bool], path: str = "HostConfig.Sysctls") -> dict[str, Any]:
    """The entries of the sysctl map at ``path`` (Docker's ``HostConfig.Sysctls``, OCI's ``linux.sysctl``)
    whose keys are ``mine``, as ``dest: ["k=v", ...]``."""
    entries = fields.take_entries(path, mine)
    for key, value in entries.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}.{key}: the value must be a string")
    return {dest: [f"{k}={v}" for k, v in entries.items()]} if entries else {}


def into_view(items: Any, view: dict[str, Any]) -> None:
    if items:
        host = view["HostConfig"]
        host["Sysctls"] = {**(host.get("Sysctls") or {}), **dict(item.split("=", 1) for item in items)}
