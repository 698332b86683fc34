"""A host whose FORWARD policy is DROP in both iptables variants (as Docker leaves the one it uses): published
ports still work for every backend, through nsrun's own chains only. The "host" is a network namespace this test makes, so the real
host's firewall is never touched; nsrun runs inside it (``ip netns exec``)."""
from __future__ import annotations

import os
import random
import subprocess

from leakcheck import root_tag
from netenv import NSRUN, backend, sh  # noqa: F401 (fixtures)
from waiting import wait_for


def test_forward_policy_drop_is_worked_around_in_own_chains(backend, nsrun_root, unique):
    tag = root_tag(nsrun_root)
    host, client = f"nsr{tag}h{unique}", f"nsr{tag}k{unique}"
    octet = int(unique, 16) % 250
    env = {**os.environ, **backend["env"]}
    hp = random.randint(20000, 29999)

    def nsrun(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", host, NSRUN, "--root", nsrun_root,
                               "--plugins", backend["plugins"], *args],
                              capture_output=True, text=True, timeout=timeout, env=env)
    sh("ip", "netns", "add", host)
    sh("ip", "netns", "add", client)
    try:
        sh("ip", "-n", host, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", client)
        sh("ip", "-n", host, "addr", "add", f"10.103.{octet}.1/30", "dev", "eth1")
        sh("ip", "-n", client, "addr", "add", f"10.103.{octet}.2/30", "dev", "eth0")
        for ns, dev in ((host, "eth1"), (host, "lo"), (client, "eth0"), (client, "lo")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        for variant in ("iptables-nft", "iptables-legacy"):  # Docker may use either: both drop here
            sh("ip", "netns", "exec", host, variant, "-P", "FORWARD", "DROP")
        res = nsrun("run", "-d", "--name", f"w{unique}", "-p", f"{hp}:80", "busybox", "sh", "-c",
                    "mkdir -p /w && echo dropped-ok > /w/index.html && exec httpd -f -p 80 -h /w")
        assert res.returncode == 0, res.stderr
        url = f"http://10.103.{octet}.1:{hp}/"
        got = wait_for(lambda: sh("ip", "netns", "exec", client, "curl", "-s", "-m", "2", url,
                                  check=False, timeout=10).stdout, timeout=8)
        assert got.strip() == "dropped-ok"
        for variant in ("iptables-nft", "iptables-legacy"):
            policy = sh("ip", "netns", "exec", host, variant, "-S", "FORWARD").stdout.splitlines()[0]
            assert policy == "-P FORWARD DROP"  # never changed
        nsrun("rm", "-f", f"w{unique}")
    finally:
        nsrun("system", "reset")
        sh("ip", "netns", "del", client, check=False)
        sh("ip", "netns", "del", host, check=False)
