"""Docker's list filters (``docker ps --filter``, ``GET /containers/json?filters=``), pure: no I/O.

``parse_filters`` reads the forms the clients send — the docker CLI's ``{"label": {"a=b": true}}``,
docker-py's ``{"label": ["a=b"]}`` — or ``nsrun ps --filter KEY=VALUE`` items, refusing an unknown key or a
bad value by name (ConfigError: HTTP 400, CLI exit 125). ``container_matches`` tests one container's Docker
view (``GET /containers/{id}/json``'s shape, as the core and the plugins filled it) as dockerd does: values
of one key are alternatives (OR), different keys must all hold (AND), except ``label``: every label filter
must hold.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import ConfigError

__all__ = ["CONTAINER_FILTERS", "STATUSES", "parse_filters", "filter_items", "container_matches", "labels_match"]

CONTAINER_FILTERS = ("id", "name", "label", "status", "ancestor", "network", "volume", "exited", "health")
HEALTH = ("starting", "healthy", "unhealthy", "none")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse_filters(raw: Any, allowed: tuple[str, ...] = CONTAINER_FILTERS) -> dict[str, list[str]]:
    """A filters argument (a JSON text, an object of lists or of ``{value: true}``) -> ``{key: [values]}``."""
    if raw in (None, "", {}):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigError(f"invalid filters: not JSON: {raw[:80]!r}") from None
    if not isinstance(raw, dict):
        raise ConfigError("invalid filters: expected an object of {key: [values]}")
    out: dict[str, list[str]] = {}
    for key, values in raw.items():
        if key not in allowed:
            raise ConfigError(f"invalid filter '{key}' (supported: {', '.join(allowed)})")
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        elif isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"invalid filter '{key}': expected a list of strings")
        out[key] = list(values)
    _check_values(out)
    return out


def filter_items(items: tuple[str, ...] | list[str], allowed: tuple[str, ...] = CONTAINER_FILTERS
                 ) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` items (the CLI) -> ``{key: [values]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"bad format of filter (expected name=value): {item!r}")
        out.setdefault(key.strip().lower(), []).append(value)
    return parse_filters(out, allowed)


def _check_values(filters: dict[str, list[str]]) -> None:
    for status in filters.get("status", ()):
        if status not in STATUSES:
            raise ConfigError(f"invalid filter 'status={status}' (one of: {', '.join(STATUSES)})")
    for health in filters.get("health", ()):
        if health not in HEALTH:
            raise ConfigError(f"invalid filter 'health={health}' (one of: {', '.join(HEALTH)})")
    for code in filters.get("exited", ()):
        if not code.lstrip("-").isdigit():
            raise ConfigError(f"invalid filter 'exited={code}': an integer is needed")
    for value in filters.get("dangling", ()):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"invalid filter 'dangling={value}'")
    for name in filters.get("name", ()):
        try:
            re.compile(name)
        except re.error as exc:
            raise ConfigError(f"invalid filter 'name={name}': {exc}") from None


def labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    """Every ``key`` (present) or ``key=value`` (equal) of ``wanted`` holds for ``labels``."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _image_names(ref: str) -> set[str]:
    """The spellings of one image reference: ``busybox``, ``busybox:latest``, ``docker.io/library/busybox``."""
    if not ref:
        return set()
    names = {ref}
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    if not tag:
        name, tag = ref, "latest"
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    names |= {name, f"{name}:{tag}"}
    return names


def container_matches(view: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Whether a container's Docker view passes ``filters`` (as ``parse_filters`` made them)."""
    state = view.get("State") or {}
    name = (view.get("Name") or "").lstrip("/")
    networks = dict((view.get("NetworkSettings") or {}).get("Networks") or {})
    mode = (view.get("HostConfig") or {}).get("NetworkMode") or ""
    # Docker matches the endpoints only; the mode stands in when there are none (created, not yet shown):
    # a running container disconnected from the network it started on no longer matches it
    network_ids = ({mode} if not networks else set()) | set(networks) | {
        str(n.get("NetworkID") or "") for n in networks.values() if isinstance(n, dict)}
    mounts = view.get("Mounts") or []
    tests = {
        "id": lambda v: view.get("Id", "").startswith(v),
        "name": lambda v: bool(re.search(v, name) or re.search(v, "/" + name)),
        "status": lambda v: state.get("Status") == v,
        "ancestor": lambda v: bool(_image_names(v) & _image_names(view.get("Image") or "")),
        "network": lambda v: bool(v) and any(n == v or (len(v) >= 4 and n.startswith(v)) for n in network_ids if n),
        "volume": lambda v: any(v in (m.get("Name"), m.get("Destination"), m.get("Source")) for m in mounts),
        "exited": lambda v: state.get("Status") == "exited" and state.get("ExitCode") == int(v),
        "health": lambda v: (state.get("Health") or {}).get("Status", "none") == v,
    }
    for key, values in filters.items():
        if not values:
            continue
        if key == "label":
            if not labels_match((view.get("Config") or {}).get("Labels") or {}, values):
                return False
        elif not any(tests[key](v) for v in values):
            return False
    return True
