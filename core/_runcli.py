"""The body of ``nsrun run``, shared by the click command and the click-free fast path (``_entry``).

It takes plain values (no click objects) and returns the exit status; ``NsrunError`` propagates.
"""
from __future__ import annotations

import sys
from typing import Any

from . import _trace
from .errors import ConfigError, ImageNotFoundError, NsrunError

__all__ = ["run_command"]

# What a foreground run leaves behind, kept until the process ends: the CLI leaves with os._exit right after
# (``_entry.exit_now``), so freeing it first is wasted work (a libnftables context alone takes ~2 ms to free).
_KEEP_UNTIL_EXIT: list[Any] = []


def _stop_timeout(text: Any) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid --stop-timeout {text!r}: expected a whole number of seconds") from None


def run_command(engine: Any, plugins: list[str] | None, *, remove: bool, detach: bool, name: str | None,
                env: tuple[str, ...], workdir: str | None, user: str | None, interactive: bool, tty: bool,
                rootfs: str | None, image_and_cmd: tuple[str, ...], entrypoint: str | None = None,
                stop_signal: str | None = None, stop_timeout: str | None = None, pull: str | None = None,
                group_add: tuple[str, ...] = (), label: tuple[str, ...] = (), restart: str | None = None,
                log_opt: tuple[str, ...] = (), health_cmd: str | None = None,
                health_interval: str | None = None, health_timeout: str | None = None,
                health_retries: str | None = None, health_start_period: str | None = None,
                no_healthcheck: bool = False, create_only: bool = False, **plugin_opts: Any) -> int:
    from ._parse import parse_env, parse_labels
    words = list(image_and_cmd)
    image = None
    if not rootfs:
        if not words:
            raise NsrunError('"nsrun run" requires at least 1 argument: an image (or --rootfs DIR)')
        image = words.pop(0)
    # No command: the image's (its config's Cmd; ``Engine.prepare`` merges). ``--entrypoint ""`` clears.
    config = {"entrypoint": None if entrypoint is None else [entrypoint], "stop_signal": stop_signal or None,
              "stop_timeout": None if stop_timeout in (None, "") else _stop_timeout(stop_timeout),
              "group_add": list(group_add or ()), "labels": parse_labels(label), "restart": restart or ""}
    if log_opt:
        from ._logfile import parse_log_opts
        config["log_opts"] = parse_log_opts(log_opt)
    if health_cmd or health_interval or health_timeout or health_retries or health_start_period or no_healthcheck:
        from ._health import from_options
        config["healthcheck"] = from_options(health_cmd, health_interval, health_timeout, health_retries,
                                             health_start_period, no_healthcheck)
    if pull not in (None, "missing", "always", "never"):
        raise ConfigError(f'invalid pull option: "{pull}": must be one of "missing", "always" or "never"')
    def pulled_if_missing(make: Any) -> Any:
        """``make()``, pulling ``image`` first (``always``) or when it is missing (``missing``, the default)."""
        if image and pull == "always":
            _pull(engine, image)
        try:
            return make()
        except ImageNotFoundError:
            if not image or pull == "never":
                raise
            print(f"Unable to find image '{image}' locally", file=sys.stderr, flush=True)
            _pull(engine, image)
            return make()
    if getattr(engine, "remote", False):  # -H: the daemon prepares, creates and runs it
        result = pulled_if_missing(lambda: engine.run_cli(
            argv=words, image=image, rootfs=rootfs, name=name, env=parse_env(env), workdir=workdir, user=user,
            tty=tty, interactive=interactive, detach=detach, remove=remove, plugins=plugins,
            options=plugin_opts, **config))
        if detach:
            print(result, flush=True)
            return 0
        return result

    def prepare() -> Any:
        with _trace.phase("prepare (the rest)"):
            return engine.prepare(argv=words, image=image, rootfs=rootfs, name=name, env=parse_env(env),
                                  workdir=workdir, user=user, tty=tty, interactive=interactive, detach=detach,
                                  remove=remove, plugins=plugins, options=plugin_opts,
                                  # the docker CLI's: -i sets StdinOnce, run -d clears it (create -i keeps it)
                                  stdin_once=interactive and (create_only or not detach),
                                  **config)
    loaded, ctx = pulled_if_missing(prepare)
    for warning in ctx.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if create_only:  # ``nsrun create``: ``nsrun start`` runs it
        print(engine.create_unstarted(ctx).id, flush=True)
        return 0
    with _trace.phase("create record"):
        record = engine.create(ctx)
    if detach:
        try:
            engine.start_detached(record)
        except NsrunError:
            if remove:
                engine.store.remove(record.id)
            raise
        print(record.id, flush=True)
        return 0
    from ._io import PipeIO, PtyIO
    io = PtyIO(interactive) if tty else PipeIO(interactive)
    status = engine.run(loaded, ctx, record, io)
    _KEEP_UNTIL_EXIT.append((loaded, ctx))
    _trace.report()
    return status


def _pull(engine: Any, image: str) -> None:
    """``run --pull``: pull ``image`` with docker's progress display on stderr (stdout is the container's)."""
    from .image.progress import Display
    from .image.service import pull_image
    display = Display(sys.stderr)
    if getattr(engine, "remote", False):
        engine.images.pull(image, display=display)
        return
    pull_image(engine.paths, image, progress=display, images=engine.images)
