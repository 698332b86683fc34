"""``nsrun daemon``: serve the API on every ``-H`` address until SIGTERM/SIGINT.

The daemon holds no container state of its own: records on disk are the truth, so a restarted daemon finds
every container again (and ``gc`` runs at start to finish what a crash left). Stopping the daemon never
stops a container: each runs under its own supervisor, in its own session.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import signal
import socket
import threading
from typing import Any

from .._context import Paths
from .._engine import Engine
from ..errors import ConfigError, NsrunError
from .hosts import Host, TlsFiles, check_hosts, tls_context
from .launcher import Launcher

__all__ = ["Daemon", "serve"]

log = logging.getLogger("nsrun.daemon")


class Daemon:
    """What the handlers share: the engine, the launcher, exec records, and the seams to optional plugins."""

    def __init__(self, paths: Paths, root_arg: str | None, debug: bool = False,
                 selection: list[str] | None = None) -> None:
        self.engine = Engine(paths)
        self.launcher = Launcher(paths, self.engine.store)
        self.execs: dict[str, dict[str, Any]] = {}
        self.root_arg = root_arg
        self.debug = debug
        self._image_lock = threading.Lock()
        from .._plugins import default_selection, load_plugins
        # The plugins this daemon runs containers with (``nsrun --plugins ... daemon``, else the default set):
        # Docker's clients cannot choose, so the operator does. Checked now: a bad set fails at start.
        self.selection = load_plugins(selection).names if selection is not None else default_selection()

    @property
    def plugins(self) -> Any:
        """Every installed plugin (``InstalledPlugins``): the API's field mapping, views and routes."""
        from .._plugins import installed_manager
        return installed_manager()

    def docker_create(self) -> Any:
        """The ``docker_create`` hook of the daemon's plugins."""
        return self.plugins.subset("docker_create", self.selection)

    def view_hook(self, rec: Any) -> Any:
        """The ``docker_view`` hook of ``rec``'s own plugins."""
        return self.plugins.subset("docker_view", rec.spec.plugins)

    def create(self, args: dict[str, Any]) -> tuple[Any, list[str]]:
        """Prepare and write a container record (blocking; called in a worker thread)."""
        args.setdefault("plugins", self.selection)
        with self._image_lock:  # the built-in busybox image is made on first use: once, not per thread
            self.engine.images.rootfs(args["image"])
        _loaded, ctx = self.engine.prepare(**args)
        rec = self.engine.create_unstarted(ctx)  # a daemon restart must not make it look dead
        return rec, list(ctx.warnings)


def _unix_in_use(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


async def _run(daemon: Daemon, hosts: list[Host], tls: TlsFiles | None) -> None:
    from aiohttp import web
    from .app import build_app
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=64,
                                                                    thread_name_prefix="nsrun-daemon"))
    for line in await asyncio.to_thread(daemon.engine.gc):
        log.info("gc: %s", line)
    if not os.environ.get("NSRUN_NO_FORKSERVER"):
        await daemon.launcher.start_forkserver()
    # Streams (attach, logs -f, wait) can last as long as a container: on stop they get a second, then
    # they are cancelled. Their containers keep running.
    runner = web.AppRunner(build_app(daemon), handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    ssl_ctx = tls_context(tls) if tls else None
    made: list[str] = []
    try:
        for host in hosts:
            if host.kind == "unix":
                if os.path.exists(host.path):
                    if _unix_in_use(host.path):
                        raise ConfigError(f"{host}: another daemon is already listening there")
                    os.unlink(host.path)
                os.makedirs(os.path.dirname(host.path) or "/", exist_ok=True)
                await web.UnixSite(runner, host.path).start()
                os.chmod(host.path, 0o660)
                made.append(host.path)
            else:
                try:
                    await web.TCPSite(runner, host.ip, host.port, ssl_context=ssl_ctx).start()
                except OSError as exc:
                    raise ConfigError(f"{host}: cannot listen: {exc.strerror}", errno=exc.errno) from exc
            log.info("listening on %s%s", host, " (mutual TLS)" if ssl_ctx and host.kind == "tcp" else "")
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping (containers keep running)")
    finally:
        await runner.cleanup()
        log.debug("connections closed")
        await daemon.launcher.close()
        log.debug("fork server stopped")
        for path in made:
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise


def serve(hosts: list[Host], tls: TlsFiles | None, root_arg: str | None, debug: bool = False,
          plugins: list[str] | None = None) -> None:
    """Run the daemon in the foreground until SIGTERM/SIGINT."""
    check_hosts(hosts, tls)
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not debug:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    daemon = Daemon(Paths.from_root(root_arg), root_arg, debug, plugins)
    try:
        asyncio.run(_run(daemon, hosts, tls))
    except NsrunError:
        raise
    except KeyboardInterrupt:
        pass
