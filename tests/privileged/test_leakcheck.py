"""The leak check itself: it reports what a container could leave (a veth, a published port, a DNAT rule, a
cgroup, a staging directory) and not the root's shared objects (bridge, table, fixed chains, network
elements), and under strict mode a probe that cannot look fails instead of seeing nothing."""
from __future__ import annotations

import os
import random
import shutil
import subprocess

import pytest

import leakcheck
from netenv import backend, sh  # noqa: F401 (fixture)


def _new_items(before: dict, after: dict, kind: str) -> set[str]:
    return leakcheck.diff(before, after).get(kind, set())


def test_a_hand_made_veth_port_and_dnat_rule_are_leaks_the_shared_objects_are_not(nsrun, nsrun_root, unique,
                                                                                    backend):
    tag = leakcheck.root_tag(nsrun_root)
    before = leakcheck.snapshot(nsrun_root, strict=True)
    hp = random.randint(30000, 39999)
    nsrun("--plugins", backend["plugins"], "run", "--rm", "-p", f"{hp}:80", "busybox", "true", check=True,
          env=backend["env"])
    clean = leakcheck.snapshot(nsrun_root, strict=True)
    # the run made shared objects (the bridge, the firewall's table or chains, the network's elements) ...
    assert f"nsr{tag}b0" in " ".join(_new_items(before, clean, "links"))
    firewall = "nft" if backend["name"] == "nft" else "iptables"
    assert len(_new_items(before, clean, firewall)) >= 5
    # ... which the allow-list lets stay: nothing leaked
    assert leakcheck.leaks(before, clean, nsrun_root) == {}

    veth, peer = f"nsr{tag}v{unique}", f"nsr{tag}p{unique}"
    ctr_ip = "10.100.250.2"
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
    try:
        if backend["name"] == "nft":
            table = f"nsrun{tag}"
            for m, value in (("any_addr", ctr_ip), ("any_port", "80")):
                sh("nft", "add", "element", "ip", table, m, f"{{ tcp . {hp} : {value} }}")
            sh("nft", "add", "rule", "ip", table, "publish", "tcp", "dport", str(hp + 1), "dnat", "to",
               f"{ctr_ip}:80")
        else:
            tool = "iptables-legacy" if backend["env"] else "iptables"
            sh(tool, "-t", "nat", "-A", f"NSRUN{tag.upper()}-DNAT", "-p", "tcp", "--dport", str(hp), "-j", "DNAT",
               "--to-destination", f"{ctr_ip}:80")
        leaked = leakcheck.leaks(before, leakcheck.snapshot(nsrun_root, strict=True), nsrun_root)
        assert leaked.keys() == {"links", firewall}, leaked
        assert leaked["links"] == {f"veth {veth}", f"veth {peer}"}
        text = " ".join(leaked[firewall])
        if backend["name"] == "nft":
            assert {i.split()[3] for i in leaked["nft"]} == {"any_addr", "any_port", "publish"}, leaked
            assert str(hp) in text and str(hp + 1) in text and ctr_ip in text
        else:
            assert len(leaked["iptables"]) == 1 and f"--dport {hp} -j DNAT" in text, leaked
        # and nothing the run made is among them: the bridge, the table or chains, the network's elements
        assert not (leakcheck.diff(before, clean)[firewall] & leaked[firewall])
    finally:
        sh("ip", "link", "del", veth, check=False)
        if backend["name"] == "nft":
            sh("nft", "delete", "element", "ip", f"nsrun{tag}", "any_addr", f"{{ tcp . {hp} }}", check=False)
            sh("nft", "delete", "element", "ip", f"nsrun{tag}", "any_port", f"{{ tcp . {hp} }}", check=False)
        nsrun("system", "reset", env=backend["env"])  # the rule with the rest
    assert leakcheck.leaks(before, leakcheck.snapshot(nsrun_root, strict=True), nsrun_root) == {}


def test_a_cgroup_and_a_staging_directory_are_leaks(nsrun_root, unique):
    before = leakcheck.snapshot(nsrun_root, strict=True)
    with open("/proc/self/cgroup") as f:  # beneath this session's own memory cgroup: nobody else's
        memory = next(line.strip().split(":", 2)[2] for line in f if line.split(":")[1] == "memory")
    cgroup = f"/sys/fs/cgroup/memory{memory}/nsr{leakcheck.root_tag(nsrun_root)}c{unique}"
    staging = os.path.join(nsrun_root, "images", f"img{unique}.tmpabc")
    os.mkdir(cgroup)
    try:
        os.makedirs(os.path.join(staging, "rootfs"))
        leaked = leakcheck.leaks(before, leakcheck.snapshot(nsrun_root, strict=True), nsrun_root)
        assert leaked == {"cgroups": {cgroup}, "staging": {staging}}
    finally:
        os.rmdir(cgroup)
        shutil.rmtree(os.path.join(nsrun_root, "images"))


@pytest.mark.parametrize("tool", leakcheck.TOOLS)
def test_a_missing_probe_tool_fails_the_strict_check_instead_of_counting_as_clean(nsrun_root, tmp_path,
                                                                                  monkeypatch, tool):
    for other in leakcheck.TOOLS:  # a PATH with every probe tool but one
        if other != tool:
            os.symlink(shutil.which(other), tmp_path / other)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(leakcheck.ProbeError, match=f"{tool} is not installed"):
        leakcheck.snapshot(nsrun_root, strict=True)
    assert leakcheck.snapshot(nsrun_root, strict=False)["nft"] == set()  # lenient: it looks where it can


def test_a_failing_probe_fails_the_strict_check(nsrun_root, tmp_path, monkeypatch):
    for tool in leakcheck.TOOLS:
        os.symlink(shutil.which(tool), tmp_path / tool)
    os.unlink(tmp_path / "nft")
    (tmp_path / "nft").write_text("#!/bin/sh\necho 'netlink: Error: cannot talk to the kernel' >&2\nexit 1\n")
    os.chmod(tmp_path / "nft", 0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(leakcheck.ProbeError, match="exited 1: netlink: Error"):
        leakcheck.snapshot(nsrun_root, strict=True)


def test_the_allow_list_keeps_the_skeleton_as_the_kernel_lists_it():
    fixed = leakcheck.fixed_nft()
    chains = {i.split()[1] for i in fixed if i.startswith("chain ")}
    assert {"publish", "prerouting", "output", "postrouting", "forward"} <= chains
    assert sum(i.startswith("rule ") for i in fixed) >= 10
    assert not [i for i in fixed if i.startswith("element ")]  # a fresh table holds no network, no port
    assert "nsrunleakcheck" not in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                                  text=True).stdout  # it was made in a private netns
