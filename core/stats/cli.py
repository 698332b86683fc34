"""``nsrun stats`` and ``nsrun top`` as click commands: the embedded engine's figures or, with ``-H``, the daemon's.

``stats`` prints the table of ``docker stats``; on a terminal it redraws it in place every second
(``--no-stream``: once, after the two samples CPU % needs). Into a pipe each frame follows the last.
The bodies are ``show`` (the console entry runs them without click when it can); ``stats``'s options are
the option table's ``STATS_OPTIONS``, which ``cli.build_cli`` adds, as it adds ``exec``'s.
"""
from __future__ import annotations

from typing import Any

import click

from .show import show_stats, show_top

__all__ = ["COMMANDS"]


def _state() -> Any:
    return click.get_current_context().find_root().obj


@click.command()
@click.argument("names", nargs=-1)
def stats(no_stream: bool, names: tuple[str, ...]) -> None:
    """Show containers' resource usage: CPU %, memory, net and block I/O, PIDs (default: all running)."""
    show_stats(_state().engine, list(names), no_stream)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED, metavar="[ps OPTIONS]")
def top(name: str, ps_args: tuple[str, ...]) -> None:
    """Show a running container's processes (`ps -ef` on the host by default, or your ps options)."""
    show_top(_state().engine, name, list(ps_args))


COMMANDS = (stats, top)
