"""Typed errors. Every user-facing failure is an NsrunError; ``cli.py`` turns it into one line and exit 125.

The hierarchy follows DESIGN.md §6. Errors that come from a system call keep its ``errno``.
"""
from __future__ import annotations

import errno as _errno

__all__ = [
    "NsrunError", "ConfigError", "PluginError", "SetupError", "ChildSetupError", "TeardownError",
    "NotFoundError", "ImageNotFoundError", "ConflictError", "to_wire", "from_wire",
]


class NsrunError(Exception):
    """A failure of nsrun itself (not of the container's command). Exit status 125."""

    exit_code = 125

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno

    def __str__(self) -> str:
        return self.message


class ConfigError(NsrunError):
    """The user asked for something invalid (bad option, bad name, missing image)."""


class NotFoundError(ConfigError):
    """A named object (container, image, network) does not exist."""


class ImageNotFoundError(NotFoundError):
    """No image of that reference in the store (``run --pull missing`` pulls it then)."""


class ConflictError(ConfigError):
    """A named object already exists or is in use."""


class PluginError(NsrunError):
    """A plugin is unknown, conflicts with another, or lacks one it requires."""


class SetupError(NsrunError):
    """Setting a container up failed in the parent, in ``phase`` (a hook name), inside ``plugin``."""

    def __init__(self, message: str, *, phase: str = "", plugin: str = "", errno: int | None = None) -> None:
        super().__init__(message, errno=errno)
        self.phase = phase
        self.plugin = plugin


class ChildSetupError(SetupError):
    """Setting a container up failed inside the child, at ``stage``; reported over the error pipe.

    ``exec`` failures map onto Docker's statuses: ENOENT -> 127 (command not found),
    EACCES/ENOEXEC/EISDIR -> 126 (cannot execute).
    """

    def __init__(self, message: str, *, stage: str, plugin: str = "", errno: int | None = None) -> None:
        super().__init__(message, phase="child", plugin=plugin, errno=errno)
        self.stage = stage
        if stage == "exec" and errno == _errno.ENOENT:
            self.exit_code = 127
        elif stage == "exec" and errno in (_errno.EACCES, _errno.ENOEXEC, _errno.EISDIR, _errno.EPERM):
            self.exit_code = 126


class TeardownError(NsrunError):
    """One or more plugins failed to undo what they made; ``failures`` is a list of (plugin, exception)."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        text = "; ".join(f"{name}: {exc}" for name, exc in failures)
        super().__init__(f"teardown failed: {text}")
        self.failures = failures


def to_wire(exc: BaseException, stage: str = "", plugin: str = "") -> dict:
    """An error as the JSON object that crosses a process boundary (the child's error pipe, a supervisor's
    reply): ``{message, exit_code, stage, plugin, errno}``. An OSError keeps its errno and file name."""
    message = str(exc)
    if isinstance(exc, OSError):
        message = exc.strerror or message
        if exc.filename:
            message = f"{message}: {exc.filename}"
    if isinstance(exc, NsrunError):
        message = exc.message
        stage = stage or getattr(exc, "stage", "")
        plugin = plugin or getattr(exc, "plugin", "")
    return {"message": message, "exit_code": getattr(exc, "exit_code", 125), "stage": stage, "plugin": plugin,
            "errno": getattr(exc, "errno", None)}


def from_wire(info: dict, default: str = "container setup failed") -> NsrunError:
    """The one decoder of ``to_wire``'s objects: a ChildSetupError when a child stage failed, else an
    NsrunError with the exit code the other side chose."""
    if not isinstance(info, dict):
        return SetupError(default)
    message = info.get("message") or default
    if info.get("stage"):
        return ChildSetupError(message, stage=info["stage"], plugin=info.get("plugin") or "",
                               errno=info.get("errno"))
    err = NsrunError(message, errno=info.get("errno"))
    err.exit_code = info.get("exit_code") or 125
    return err
