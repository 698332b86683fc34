"""An example third-party plugin: ``--motd TEXT`` puts TEXT in the container's /etc/motd and $NSRUN_MOTD.

Everything it needs is the public ``nsrun`` API and one entry point in its own pyproject.toml::

    [project.entry-points."nsrun.plugins"]
    motd = "nsrun_example"
"""
import os

from nsrun import ConfigError, Mount, Option, RunContext, StashKey, hookimpl

REQUIRES = ("mnt",)          # the motd file is bind-mounted, so a mount namespace must exist
OPTIONS = [Option(("--motd",), "motd", metavar="TEXT", help="Message of the day for the container")]
FILE_KEY = StashKey[str]()
_MS_BIND = 4096


@hookimpl
def configure(ctx: RunContext) -> None:
    text = ctx.options.get("motd") or "hello from a plugin"
    if "\0" in text:
        raise ConfigError("--motd must not contain NUL")
    ctx.spec.env.setdefault("NSRUN_MOTD", text)


@hookimpl
def pre_clone(ctx: RunContext) -> None:
    path = os.path.join(ctx.container_dir, "motd")
    with open(path, "w") as f:
        f.write(ctx.spec.env["NSRUN_MOTD"] + "\n")
    ctx.stash[FILE_KEY] = path
    ctx.mounts.append(Mount(path, "/etc/motd", None, _MS_BIND, readonly=True))


@hookimpl
def docker_create(fields):
    """Through the daemon (``nsrun --plugins ...,motd daemon``): the container label ``motd``."""
    text = fields.take("Labels.motd", str)
    return {"motd": text} if text else None


@hookimpl
def teardown(ctx: RunContext) -> None:
    path = ctx.stash.pop(FILE_KEY, None)
    if path and os.path.exists(path):
        os.unlink(path)
