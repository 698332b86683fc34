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
        # labels are the container's metadata: the one the plugin read is kept with the others
        d.docker("create", "--name", "lab", "--label", "motd=hi", "--label", "color=blue", "busybox", "true",
                 check=True)
        shown = d.docker("inspect", "-f", "{{json .Config.Labels}}", "lab", check=True).stdout
        assert shown.strip() == '{"color":"blue","motd":"hi"}'
        d.docker("rm", "lab", check=True)
        # a field nobody of this daemon's plugins maps is still refused by name, not dropped
        res = d.docker("run", "--rm", "--cpu-rt-period", "1000", "busybox", "true")
        assert res.returncode == 125 and "CpuRealtimePeriod" in res.stderr, res.stderr
        assert d.leftovers() == []
    finally:
        d.stop()
