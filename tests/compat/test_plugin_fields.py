"""A third-party plugin maps its own field of a Docker create body (the example's `motd` label), and the
daemon runs the plugin set its operator chose (`nsrun --plugins L daemon`)."""
from __future__ import annotations

from conftest import Daemon

PLUGINS = "pid,mnt,ipc,uts,sec,cgroup,seccomp,motd"


def test_a_plugins_field_reaches_it_through_the_docker_cli(nsrun_root, docker_cli):
    d = Daemon(nsrun_root, global_args=("--plugins", PLUGINS)).start()
    try:
        out = d.docker("run", "--rm", "--label", "motd=hello from a label", "busybox", "cat", "/etc/motd",
                       check=True).stdout
        assert out.strip() == "hello from a label"
        # a label no plugin of this daemon owns is refused by name, not dropped
        res = d.docker("run", "--rm", "--label", "color=blue", "busybox", "true")
        assert res.returncode == 125 and "Labels.color" in res.stderr, res.stderr
        assert d.leftovers() == []
    finally:
        d.stop()
