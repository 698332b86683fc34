"""A third party's firewall backend (examples/nsrun-example-firewall, plugin ``nftx``: the nft rules in a table
of its own, ``ip nsrx<tag>``) is selected, listed, publishes ports that answer, and is undone by ``gc``,
``network rm`` and ``system reset`` exactly like ``nft`` and ``iptables``: nothing in nsrun names it, the net
plugin reaches every installed backend through its ``net_firewall_backend`` hook."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess

from leakcheck import processes, root_tag
from netenv import peer, sh
from waiting import wait_for

PLUGINS = "ipc,uts,pid,net,nftx,mnt,sec"
WEB = ["sh", "-c", "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"]


def _table(root: str) -> str:
    """The backend's table as nft lists it ('' when it does not exist)."""
    return sh("nft", "list", "table", "ip", f"nsrx{root_tag(root)}", check=False).stdout


def _host_fetch(url: str) -> str:
    res = subprocess.run(["curl", "-s", "-m", "3", url], capture_output=True, text=True, timeout=10)
    return res.stdout if res.returncode == 0 else ""


def test_nsrun_plugins_lists_the_third_party_backend_like_the_built_in_ones(nsrun):
    rows = {line.split()[0]: line.split() for line in nsrun("plugins", check=True).stdout.splitlines()[1:]}
    assert rows["nftx"][1:] == ["nsrun_example_firewall", "nsrun-example-firewall", "net_firewall_backend"]
    assert rows["nft"][-1] == rows["iptables"][-1] == "net_firewall_backend"


def test_a_third_party_backend_publishes_and_gc_then_reset_undo_what_it_made(nsrun, nsrun_root, unique):
    hp = random.randint(20000, 29999)
    name = f"fx{unique}"
    nsrun("--plugins", PLUGINS, "run", "-d", "--rm", "--name", name, "-p", f"{hp}:80", "busybox", *WEB,
          check=True)
    info = json.loads(nsrun("inspect", name, check=True).stdout)[0]
    want = f"hello-{info['Config']['Hostname']}"
    with peer(nsrun_root, "c", unique, 0) as client:  # another host, through the DNAT of nftx's table
        assert wait_for(lambda: client.fetch(f"http://{client.host_ip}:{hp}/")).strip() == want
    assert _host_fetch(f"http://127.0.0.1:{hp}/").strip() == want
    assert str(hp) in _table(nsrun_root)
    assert sh("nft", "list", "table", "ip", f"nsrun{root_tag(nsrun_root)}", check=False).returncode != 0
    # The owner dies (kill -9): no teardown runs, the published port stays in nftx's table ...
    with open(os.path.join(nsrun_root, "containers", info["Id"], "state.json")) as f:
        os.kill(json.load(f)["owner_pid"], signal.SIGKILL)
    assert wait_for(lambda: not processes(nsrun_root))
    assert str(hp) in _table(nsrun_root)
    # ... until gc, run with the default plugins (nft, not nftx), finds nftx through the hook and unpublishes
    out = nsrun("gc", check=True).stdout
    assert f"released host port tcp-{hp}" in out and name in out
    table = _table(nsrun_root)
    assert table and str(hp) not in table  # the table is shared (like docker0's rules): it stays
    out = nsrun("system", "reset", check=True).stdout
    assert f"removed nftables table ip nsrx{root_tag(nsrun_root)}" in out
    assert _table(nsrun_root) == ""


def test_network_rm_undoes_what_the_third_party_backend_set_up(nsrun, nsrun_root, unique):
    net = f"fxn{unique}"
    subnet = f"10.103.{random.randint(128, 250)}.0/24"
    nsrun("network", "create", "--subnet", subnet, net, check=True)
    nsrun("--plugins", PLUGINS, "run", "--rm", "--network", net, "busybox", "true", check=True)
    bridge = json.loads(nsrun("network", "inspect", net, check=True).stdout)[0]["Nsrun"]["Bridge"]
    assert bridge in _table(nsrun_root) and subnet in _table(nsrun_root)
    nsrun("network", "rm", net, check=True)  # default plugins: nftx is not selected, and is still undone
    assert bridge not in _table(nsrun_root) and subnet not in _table(nsrun_root)
    nsrun("system", "reset", check=True)
