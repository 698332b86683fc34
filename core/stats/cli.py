"""``nsrun stats`` and ``nsrun top``: the embedded engine's figures or, with ``-H``, the daemon's.

``stats`` prints the table of ``docker stats``; on a terminal it redraws it in place every second
(``--no-stream``: once, after the two samples CPU % needs). Into a pipe each frame follows the last.
"""
from __future__ import annotations

import sys
from typing import Any

import click

__all__ = ["COMMANDS"]

_CLEAR = "\033[2J\033[H"


def _state() -> Any:
    return click.get_current_context().find_root().obj


@click.command()
@click.option("--no-stream", "no_stream", is_flag=True, help="Print one table and exit (after one interval)")
@click.argument("names", nargs=-1)
def stats(no_stream: bool, names: tuple[str, ...]) -> None:
    """Show containers' resource usage: CPU %, memory, net and block I/O, PIDs (default: all running)."""
    from .._console import format_table
    from .table import HEADER, row
    tty = sys.stdout.isatty()
    for frame in _state().engine.stats(list(names), stream=not no_stream):
        text = format_table([HEADER, *(row(s) for s in frame)])
        sys.stdout.write((_CLEAR if tty and not no_stream else "") + text + "\n")
        sys.stdout.flush()


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED, metavar="[ps OPTIONS]")
def top(name: str, ps_args: tuple[str, ...]) -> None:
    """Show a running container's processes (`ps -ef` on the host by default, or your ps options)."""
    from .._console import format_table
    result = _state().engine.top(name, " ".join(ps_args) or None)
    click.echo(format_table([result["Titles"], *result["Processes"]]))


COMMANDS = (stats, top)
