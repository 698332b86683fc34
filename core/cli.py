"""The ``nsrun`` command line (click). Docker's shape where Docker has one.

This is the only module that calls ``sys.exit``. A user mistake prints one line on stderr and exits 125
(126/127 when the command cannot be executed / is not found); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import click

from . import _trace
from ._console import each_name, format_table
from .errors import ConfigError, NsrunError

__all__ = ["main", "build_cli"]


class _State:
    def __init__(self, root: str | None, plugins: str | None, debug: bool, host: str | None = None) -> None:
        self.root = root
        self.plugins = [p.strip() for p in plugins.split(",") if p.strip()] if plugins is not None else None
        self.debug = debug
        self.host = host
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The embedded Engine, or with ``-H`` the daemon's (``RemoteEngine``: imported only then)."""
        if self._engine is None and self.host:
            from .daemon.client import RemoteEngine
            self._engine = RemoteEngine(self.host)
        if self._engine is None:
            from ._context import Paths
            from ._engine import Engine
            self._engine = Engine(Paths.from_root(self.root))
        return self._engine


pass_state = click.make_pass_decorator(_State)


def _click_option(opt: dict[str, Any]) -> click.Option:
    """A click option from one row of the option table (``_options``; a plugin's options are rows too)."""
    help_text = f"{opt['help']} [plugin: {opt['plugin']}]" if opt.get("plugin") else opt["help"]
    return click.Option([*opt["flags"], opt["dest"]], multiple=opt["multiple"], is_flag=opt["is_flag"] or None,
                        metavar=opt["metavar"], envvar=opt.get("envvar"), help=help_text,
                        type=click.Choice(list(opt["choices"])) if opt.get("choices") else None)


@click.group(context_settings={"help_option_names": ["--help"]})
@click.pass_context
def cli(ctx: click.Context, root: str | None, plugins: str | None, debug: bool, host: str | None) -> None:
    """nsrun: containers from pluggable namespaces."""
    if debug:
        _trace.enable()
    ctx.obj = _State(root, plugins, debug, host or None)


@cli.command(context_settings={"allow_interspersed_args": False})
@click.argument("image_and_cmd", nargs=-1, type=click.UNPROCESSED, metavar="(IMAGE | --rootfs DIR) [CMD [ARG...]]")
@pass_state
def run(state: _State, image_and_cmd: tuple[str, ...], **opts: Any) -> None:
    """Run a command in a new container."""
    from ._runcli import run_command
    sys.exit(run_command(state.engine, state.plugins, image_and_cmd=image_and_cmd, **opts))


@cli.command(context_settings={"allow_interspersed_args": False})
@click.argument("image_and_cmd", nargs=-1, type=click.UNPROCESSED, metavar="(IMAGE | --rootfs DIR) [CMD [ARG...]]")
@pass_state
def create(state: _State, image_and_cmd: tuple[str, ...], **opts: Any) -> None:
    """Create a new container without starting it (``nsrun start`` starts it, detached); prints its id."""
    from ._runcli import run_command
    if state.host:
        raise ConfigError("create: not supported with -H (use docker create against the daemon)")
    opts["detach"] = True
    sys.exit(run_command(state.engine, state.plugins, image_and_cmd=image_and_cmd, create_only=True, **opts))


@cli.command()
@click.option("-a", "--attach", is_flag=True, help="Follow its output until it exits; exit with its code")
@click.argument("names", nargs=-1, required=True)
@pass_state
def start(state: _State, attach: bool, names: tuple[str, ...]) -> None:
    """Start created or stopped containers (detached, each under a supervisor of its own)."""
    if attach and len(names) != 1:
        raise ConfigError("you cannot start and attach multiple containers at once")
    if not attach:
        _each(names, lambda n: state.engine.start(n))
        return
    since = time.time()
    state.engine.start(names[0])
    _copy_out(state.engine.logs(names[0], follow=True, since=since))
    sys.exit(state.engine.wait(names[0]))


def _copy_out(frames: Any) -> None:
    """(stream, bytes) frames of a container's output onto our stdout and stderr, as they come."""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for stream, data in frames:
        target = err if stream == 2 else out
        target.write(data)
        target.flush()


@cli.command()
@click.option("-t", "--time", "timeout", default=None, type=int,
              help="Seconds to wait before killing (default: the container's --stop-timeout, else 10)")
@click.argument("names", nargs=-1, required=True)
@pass_state
def restart(state: _State, timeout: int | None, names: tuple[str, ...]) -> None:
    """Restart containers: stop (as ``stop``), then start."""
    _each(names, lambda n: state.engine.restart(n, timeout))


@cli.command()
@click.argument("names", nargs=-1, required=True)
@pass_state
def wait(state: _State, names: tuple[str, ...]) -> None:
    """Block until containers stop; print each one's exit code."""
    _each(names, lambda n: [str(state.engine.wait(n))])


@cli.command()
@pass_state
def ps(state: _State, show_all: bool, quiet: bool, fmt: str | None, filters: tuple[str, ...]) -> None:
    """List containers."""
    from ._pscli import ps_command
    ps_command(state.engine, show_all, quiet, fmt, filters)


@cli.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-t", "--timestamps", is_flag=True, help="Show each line's time")
@click.option("--since", metavar="TIME", help="Only what was written since (unix seconds, RFC 3339, or 10m)")
@click.option("--until", metavar="TIME", help="Only what was written before (unix seconds, RFC 3339, or 10m)")
@click.option("-n", "--tail", metavar="N", default="all", help="Only the last N lines (default all)")
@click.argument("name")
@pass_state
def logs(state: _State, follow: bool, timestamps: bool, since: str | None, until: str | None, tail: str,
         name: str) -> None:
    """Show a container's output (detached containers)."""
    from ._parse import parse_log_time
    now = time.time()
    if tail != "all" and not tail.isdigit():
        raise ConfigError(f"invalid value for --tail: {tail!r} (a number or all)")
    _copy_out(state.engine.logs(
        name, follow=follow, timestamps=timestamps, since=parse_log_time(since, now) if since else None,
        until=parse_log_time(until, now, "--until") if until else None, tail=None if tail == "all" else int(tail)))


@cli.command()
@click.option("--detach-keys", metavar="KEYS", help="The sequence that detaches (default ctrl-p,ctrl-q)")
@click.option("--no-stdin", is_flag=True, help="Do not attach stdin")
@click.argument("name")
@pass_state
def attach(state: _State, detach_keys: str | None, no_stdin: bool, name: str) -> None:
    """Attach this terminal to a running detached container (its output; its stdin with -i)."""
    if state.host:
        raise ConfigError("attach: not supported with -H (use docker attach against the daemon)")
    from ._attach import attach as attach_to
    sys.exit(attach_to(state.engine, name, detach_keys, no_stdin))


@cli.command(name="exec", context_settings={"allow_interspersed_args": False})
@click.argument("name")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_state
def exec_(state: _State, interactive: bool, tty: bool, env: tuple[str, ...], workdir: str | None,
          user: str | None, name: str, cmd: tuple[str, ...]) -> None:
    """Run a command in a running container."""
    if state.host:
        from ._parse import parse_env
        sys.exit(state.engine.exec(name, list(cmd), tty=tty, interactive=interactive, env=parse_env(env),
                                   workdir=workdir, user=user))
    from ._execclient import run_exec
    sys.exit(run_exec(state.root, name, list(cmd), tty=tty, interactive=interactive, env=list(env),
                      workdir=workdir, user=user))


@cli.command()
@click.option("-t", "--time", "timeout", default=None, type=int,
              help="Seconds to wait before killing (default: the container's --stop-timeout, else 10)")
@click.argument("names", nargs=-1, required=True)
@pass_state
def stop(state: _State, timeout: int | None, names: tuple[str, ...]) -> None:
    """Stop containers: SIGTERM, then SIGKILL after the timeout."""
    _each(names, lambda n: state.engine.stop(n, timeout))


@cli.command()
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send")
@click.argument("names", nargs=-1, required=True)
@pass_state
def kill(state: _State, sig: str, names: tuple[str, ...]) -> None:
    """Send a signal to containers."""
    from ._parse import parse_signal
    signum = parse_signal(sig)
    _each(names, lambda n: state.engine.kill(n, signum))


@cli.command()
@click.option("-f", "--force", is_flag=True, help="Kill a running container first")
@click.argument("names", nargs=-1, required=True)
@pass_state
def rm(state: _State, force: bool, names: tuple[str, ...]) -> None:
    """Remove containers."""
    _each(names, lambda n: state.engine.remove(n, force))


_each = each_name


@cli.command()
@click.argument("name")
@click.argument("new_name")
@pass_state
def rename(state: _State, name: str, new_name: str) -> None:
    """Rename a container."""
    state.engine.rename(name, new_name)


@cli.command()
@click.argument("names", nargs=-1, required=True)
@pass_state
def inspect(state: _State, names: tuple[str, ...]) -> None:
    """Show containers as JSON."""
    from ._pscli import inspect_command
    if inspect_command(state.engine, names):
        sys.exit(1)


@cli.command()
@pass_state
def plugins(state: _State) -> None:
    """List installed plugins: name, module, distribution, hooks."""
    from ._plugins import installed_plugins
    rows = [("NAME", "DEFAULT", "MODULE", "DISTRIBUTION", "HOOKS")]
    for rec in sorted(installed_plugins().values(), key=lambda r: (r.order, r.name)):
        rows.append((rec.name, "yes" if rec.default else "", rec.module, rec.dist, ",".join(rec.hooks)))
    click.echo(format_table(rows))


@cli.command()
@pass_state
def gc(state: _State) -> None:
    """Clean up after crashed runs: orphaned processes, records and kernel objects."""
    for line in state.engine.gc():
        click.echo(line)


@cli.group()
def system() -> None:
    """Manage the whole nsrun root."""


@system.command()
@click.option("-f", "--force", is_flag=True, help="Do not ask (the default; kept for Docker's muscle memory)")
@pass_state
def reset(state: _State, force: bool) -> None:
    """Remove every container and everything nsrun owns under this root."""
    for line in state.engine.gc(reset=True):
        click.echo(line)


@cli.command()
@click.option("-H", "--host", "hosts", multiple=True, metavar="URL",
              help="Listen on unix:///PATH or tcp://IP:PORT (repeatable; default unix:///run/nsrun.sock)")
@click.option("--tlsverify", is_flag=True, help="Require mutual TLS on TCP (needed beyond loopback)")
@click.option("--tlscacert", type=click.Path(), help="CA that client certificates must be signed by")
@click.option("--tlscert", type=click.Path(), help="The server's certificate")
@click.option("--tlskey", type=click.Path(), help="The server's private key")
@click.option("--debug", "debug_", is_flag=True, help="Log more (request details, tracebacks)")
@pass_state
def daemon(state: _State, hosts: tuple[str, ...], tlsverify: bool, tlscacert: str | None, tlscert: str | None,
           tlskey: str | None, debug_: bool) -> None:
    """Serve the Docker-compatible API (docs/daemon.md) for the docker CLI, docker-py and `nsrun -H`."""
    from .daemon.hosts import DEFAULT_HOST, TlsFiles, parse_host
    from .daemon.server import serve
    tls = None
    if tlsverify or tlscacert or tlscert or tlskey:
        if not (tlsverify and tlscacert and tlscert and tlskey):
            raise NsrunError("mutual TLS needs --tlsverify with --tlscacert, --tlscert and --tlskey")
        tls = TlsFiles(tlscacert, tlscert, tlskey)
    serve([parse_host(h) for h in hosts or (DEFAULT_HOST,)], tls, state.root, debug=debug_ or state.debug,
          plugins=state.plugins)


@cli.command()
def version() -> None:
    """Show the version."""
    from ._console import version_line
    click.echo(version_line())


class _LazyCommand(click.Command):
    """A plugin's command (``COMMANDS``): its module is imported only when the command is used."""

    def __init__(self, name: str, target: str, plugin: str) -> None:
        super().__init__(name, help=f"(from plugin {plugin!r})", add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
        self.target = target

    def load(self) -> click.Command:
        import importlib
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.help or ""

    def invoke(self, ctx: click.Context) -> Any:
        real = self.load()
        with real.make_context(self.name, list(ctx.args), parent=ctx.parent) as sub:
            return real.invoke(sub)


def build_cli() -> click.Group:
    """The click CLI: the global, ``run``, ``exec``, ``ps``, ``stats``, ``pull`` and ``push`` options from the option
    table, plus every plugin's options and commands."""
    from ._discovery import discover, plugin_options
    from ._imagecli import COMMANDS, image, pull, push
    from ._options import EXEC_OPTIONS, GLOBAL_OPTIONS, PS_OPTIONS, PULL_OPTIONS, REGISTRY_OPTIONS, STATS_OPTIONS, \
        run_options
    from .stats.cli import COMMANDS as LIVE_COMMANDS, stats
    if not cli.params:
        cli.params.extend(_click_option({**o.to_dict(), "plugin": None}) for o in GLOBAL_OPTIONS)
        run.params[:0] = [_click_option(o) for o in run_options(plugin_options())]
        create.params[:0] = [p for p in run.params if isinstance(p, click.Option) and p.name != "detach"]
        exec_.params[:0] = [_click_option({**o.to_dict(), "plugin": None}) for o in EXEC_OPTIONS]
        stats.params[:0] = [_click_option({**o.to_dict(), "plugin": None}) for o in STATS_OPTIONS]
        ps.params[:0] = [_click_option({**o.to_dict(), "plugin": None}) for o in PS_OPTIONS]
        pull.params[:0] = [_click_option({**o.to_dict(), "plugin": None}) for o in PULL_OPTIONS]
        push.params[1:1] = [_click_option({**o.to_dict(), "plugin": None}) for o in REGISTRY_OPTIONS]  # after -q
    from ._buildcli import COMMANDS as BUILD_COMMANDS, history
    from ._cpcli import COMMANDS as CP_COMMANDS
    from ._systemcli import COMMANDS as SYSTEM_CLI, SYSTEM_COMMANDS
    for command in (*COMMANDS, *LIVE_COMMANDS, *BUILD_COMMANDS, *CP_COMMANDS, *SYSTEM_CLI):
        cli.add_command(command)
    for command in SYSTEM_COMMANDS:
        system.add_command(command)
    image.add_command(history)
    for rec in discover().values():
        for name, target in rec.commands.items():
            if name not in cli.commands:
                cli.add_command(_LazyCommand(name, target, rec.name), name)
    return cli


def main(argv: list[str] | None = None) -> None:
    from ._console import exit_now, protect
    args = list(argv if argv is not None else sys.argv[1:])

    def invoke() -> int:
        try:
            group = build_cli()
            group.main(args=args, prog_name="nsrun", standalone_mode=False)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except click.exceptions.Abort:
            return 130
        except click.ClickException as exc:
            exc.show()
            return 125
        return 0
    code = protect(invoke, "--debug" in args)
    if argv is not None:  # called from Python (tests): behave like a function
        sys.exit(code)
    exit_now(code)
