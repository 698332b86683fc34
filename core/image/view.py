"""An image record as Docker shows it: ``docker image inspect`` and ``GET /images/{name}/json``
(``docker_image``), ``docker images`` and ``GET /images/json`` (``docker_summary``), ``rmi``'s list
(``docker_removed``), and the JSON messages of a pull or push stream (``progress_message``, ``pull_header``,
``pull_footer``, ``push_header``, ``push_footer``; ``show`` puts one on a ``progress.Display``); the one place
both the CLI and the daemon take these shapes from, so ``nsrun pull`` prints the same with and without -H."""
from __future__ import annotations

import time
from typing import Any

__all__ = ["docker_image", "docker_summary", "docker_removed", "repo_tags", "rfc3339", "progress_message",
           "progress_event", "docker_history", "pull_header", "pull_footer", "push_header", "push_footer", "message_text", "show",
           "error_message"]


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def _spelled(name: str) -> str:
    last = name.rpartition("/")[2]
    return name if ":" in last or "@" in last else f"{name}:latest"


def repo_tags(meta: dict[str, Any]) -> list[str]:
    """Docker's RepoTags: every name with its tag spelled out (``busybox`` -> ``busybox:latest``)."""
    return [_spelled(name) for name in meta.get("repo_tags") or []]


def docker_removed(items: list[dict[str, str]]) -> list[dict[str, str]]:
    """``Images.remove``/``prune``'s list as Docker's ``rmi`` answers it (``Untagged: busybox:latest``)."""
    return [{k: _spelled(v) if k == "Untagged" else v for k, v in item.items()} for item in items]


def docker_image(meta: dict[str, Any]) -> dict[str, Any]:
    """``docker image inspect``'s object for a record of ``nsrun.image.store``."""
    full = meta.get("config") or {}
    config = dict(full.get("config") or {})
    config.setdefault("Entrypoint", None)
    config.setdefault("Cmd", None)
    config.setdefault("Env", [])
    created = full.get("created")
    return {
        "Id": meta["id"], "RepoTags": repo_tags(meta), "RepoDigests": list(meta.get("repo_digests") or []),
        "Parent": meta.get("parent") or "", "Comment": (full.get("history") or [{}])[-1].get("comment", ""),
        "Created": created or rfc3339(meta.get("created") or 0),
        "Container": "", "DockerVersion": "", "Author": full.get("author", ""), "Config": config,
        "Architecture": full.get("architecture", "amd64"), "Os": full.get("os", "linux"),
        **({"Variant": full["variant"]} if full.get("variant") else {}),
        "Size": meta.get("size", 0), "VirtualSize": meta.get("size", 0),
        "GraphDriver": {"Name": "overlay2", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": list((full.get("rootfs") or {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def docker_summary(meta: dict[str, Any], containers: int = 0) -> dict[str, Any]:
    """One entry of ``GET /images/json``."""
    return {"Containers": containers, "Created": int(meta.get("created") or 0), "Id": meta["id"],
            "Labels": ((meta.get("config") or {}).get("config") or {}).get("Labels") or {},
            "ParentId": meta.get("parent") or "",
            "RepoDigests": list(meta.get("repo_digests") or []), "RepoTags": repo_tags(meta),
            "SharedSize": -1, "Size": meta.get("size", 0), "VirtualSize": meta.get("size", 0)}


def docker_history(meta: dict[str, Any], layer_sizes: list[int]) -> list[dict[str, Any]]:
    """``GET /images/{name}/history`` (newest first) of a record; ``layer_sizes``: its layers' sizes, bottom-most
    first. Entries without their own layer (``empty_layer``) have size 0; only the newest names the image."""
    full = meta.get("config") or {}
    history = list(full.get("history") or [])
    if not history:  # an image made without history (import, busybox): one entry per layer
        history = [{"created_by": "", "created": full.get("created")} for _ in layer_sizes] or [{}]
    sizes = iter(layer_sizes)
    out = []
    for entry in history:
        size = 0 if entry.get("empty_layer") else next(sizes, 0)
        out.append({"Id": "<missing>", "Created": _unix(entry.get("created")) or int(meta.get("created") or 0),
                    "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                    "Comment": entry.get("comment", "")})
    out.reverse()
    out[0]["Id"] = meta["id"]
    out[0]["Tags"] = repo_tags(meta) or None
    return out


def _unix(stamp: Any) -> int:
    if not isinstance(stamp, str) or len(stamp) < 19:
        return 0
    import calendar
    try:
        return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


# -- pull and push streams ------------------------------------------------------------------------------------
def progress_message(event: dict[str, Any]) -> dict[str, Any]:
    """A progress event of ``nsrun.image.pull`` (``{"id", "status", "current", "total"}``) as the Engine API
    streams it: ``{"status", "progressDetail": {"current", "total"}, "progress": "[==>  ] 1MB/5MB", "id"}``
    (``progressDetail`` empty and no ``progress`` for a status without byte counts)."""
    from .progress import bar
    current, total = event.get("current"), event.get("total")
    msg: dict[str, Any] = {"status": event["status"], "progressDetail": {}, "id": event["id"]}
    if event["status"] in ("Downloading", "Pushing") and current is not None:
        msg["progressDetail"] = {"current": current, **({"total": total} if total else {})}
        if total:
            msg["progress"] = bar(current, total)
    return msg


def progress_event(msg: dict[str, Any]) -> dict[str, Any] | None:
    """The reverse of ``progress_message`` (None for a message that is not a layer's)."""
    if "progressDetail" not in msg or not msg.get("id") or not msg.get("status"):
        return None
    detail = msg.get("progressDetail") or {}
    return {"id": msg["id"], "status": msg["status"], "current": detail.get("current"),
            "total": detail.get("total")}


def pull_header(path: str, tag: str | None, familiar: str) -> dict[str, Any]:
    """``latest: Pulling from library/redis`` (``path``: the repository's path on its registry)."""
    return {"status": f"Pulling from {path}", "id": tag} if tag else {"status": f"Pulling {familiar}"}


def pull_footer(familiar: str, digest: str, fresh: bool) -> list[dict[str, Any]]:
    return [{"status": f"Digest: {digest}"},
            {"status": f"Status: {'Downloaded newer image' if fresh else 'Image is up to date'} for {familiar}"}]


def push_header(repository: str) -> dict[str, Any]:
    return {"status": f"The push refers to repository [{repository}]"}


def push_footer(tag: str, digest: str, size: int) -> list[dict[str, Any]]:
    return [{"status": f"{tag}: digest: {digest} size: {size}"},
            {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}]


def error_message(message: str) -> dict[str, Any]:
    """A failure in the middle of a stream (the docker CLI prints it and exits 1)."""
    return {"errorDetail": {"message": message}, "error": message}


def message_text(msg: dict[str, Any]) -> str | None:
    """The line the docker CLI prints for a message without a progress bar (None: nothing to print)."""
    status = msg.get("status")
    if not status:
        return None
    return f"{msg['id']}: {status}" if msg.get("id") else status


def show(display: Any, msg: dict[str, Any]) -> None:
    """Put one stream message on a ``progress.Display``: a layer's event redraws its line, others print."""
    event = progress_event(msg)
    if event is not None:
        display(event)
    elif (text := message_text(msg)) is not None:
        display.line(text)
