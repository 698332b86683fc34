"""A health check's probe: ``python -m nsrun._healthprobe ROOT RUN ID ARGV...`` runs the test as an ``nsrun
exec`` into the container (its output on our stdout and stderr, its exit status ours), for ``_health.Monitor``."""
from __future__ import annotations

import os
import sys

__all__: list[str] = []


def _probe(root: str, run: str, cid: str, argv: list[str]) -> int:
    from ._context import Paths
    from ._engine import Engine
    from ._exec import exec_in
    engine = Engine(Paths(root=root, run=run))
    rec = engine.find(cid)
    if not rec.running:
        print("the container is not running", file=sys.stderr)
        return 1
    return exec_in(engine, rec, argv, tty=False, interactive=False, env={}, workdir=None, user=None)


if __name__ == "__main__":
    from .errors import NsrunError
    try:
        code = _probe(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
    except NsrunError as exc:
        print(exc.message, file=sys.stderr)
        code = exc.exit_code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
