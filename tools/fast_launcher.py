"""Replace pip's console scripts for nsrun with launchers that start the interpreter without ``site``.

``make setup`` runs this after installing the package. pip's script runs ``python`` with site: on this machine
that imports site, os, the ``sitecustomize`` of Debian's Python (which tries ``apport_python_hook``) and the
``_distutils_hack`` of setuptools' ``distutils-precedence.pth`` — about a millisecond of every ``nsrun run``
and ``nsrun exec`` (measured paired, ``-S`` vs the script pip writes). The launcher runs ``python -S`` and puts
the virtualenv's site-packages on ``sys.path`` itself; when that directory holds another ``.pth`` file (an
editable install of a plugin, say), it lets ``site`` process them as usual, so nothing installed is missed.

Usage: ``python tools/fast_launcher.py BIN_DIR NAME=MODULE:FUNCTION...``
"""
from __future__ import annotations

import os
import sys
import sysconfig

TEMPLATE = '''#!{python} -S
# Written by `make setup` (tools/fast_launcher.py) in place of pip's script: the same entry point,
# started without site (about 1 ms less per start); see that file for why and what it keeps.
import sys
_site = {purelib!r}
sys.path.append(_site)
import os
if any(n.endswith(".pth") and n != "distutils-precedence.pth" for n in os.listdir(_site)):
    import site
    site.addsitedir(_site)
from {module} import {function}
sys.exit({function}())
'''


def main(argv: list[str]) -> int:
    bin_dir, specs = argv[0], argv[1:]
    python = os.path.join(os.path.abspath(bin_dir), "python")
    purelib = sysconfig.get_paths()["purelib"]
    for spec in specs:
        name, _, target = spec.partition("=")
        module, _, function = target.partition(":")
        path = os.path.join(bin_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(TEMPLATE.format(python=python, purelib=purelib, module=module, function=function))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
