"""The core names no built-in plugin and reads none of their options: proven by running the start path, the
daemon's create/inspect/networks and gc with every built-in replaced by a renamed copy — other entry-point
names, other import packages, other option names and flags. If a core module still said ``"net"`` or read
``options["init"]``, the copies would lose that behaviour and these tests would fail.

The copies are a distribution of their own in a scratch ``site-packages`` on PYTHONPATH (the real built-ins
stay installed, unselected); the test root and the plugin cache are the test's own.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from nsrun._discovery import discover

NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")
PREFIX = "zz"


def _rename_source(text: str, packages: dict[str, str], names: dict[str, str], dests: set[str]) -> str:
    for old, new in packages.items():
        text = re.sub(rf"\b{old}\b", new, text)
    # every option: a new flag and a new dest (the plugin reads its own dest, so it follows along)
    text = re.sub(r"Option\(\(([^)]*)\),\s*\"(\w+)\"",
                  lambda m: f'Option(("--{PREFIX}-{m.group(2).replace("_", "-")}",), "{PREFIX}_{m.group(2)}"',
                  text)
    for dest in dests:  # where a plugin reads or returns its own options
        text = re.sub(rf'(options\.get\(|options\[|return \{{|out\[|out\.get\(|out = \{{)"{dest}"', rf'\1"{PREFIX}_{dest}"', text)
    # plugin names where plugins name each other (REQUIRES/CONFLICTS)
    def names_in(m: re.Match) -> str:
        return m.group(1) + re.sub(r'"(\w+)"', lambda n: f'"{names.get(n.group(1), n.group(1))}"', m.group(2))
    return re.sub(r"((?:REQUIRES|CONFLICTS)\s*=\s*)(\([^)]*\))", names_in, text)


@pytest.fixture(scope="module")
def renamed() -> dict:
    """A scratch site-packages with renamed copies of every built-in plugin; returns env, plugin names, flags."""
    records = discover()
    builtins = {n: r for n, r in records.items() if r.dist == "nsrun"}
    site = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(os.path.join(p, "nsrun")))
    work = tempfile.mkdtemp(prefix="nsrtest-renamed-", dir="/tmp")
    target = os.path.join(work, "site-packages")
    os.makedirs(target)
    top = sorted({r.module.split(".")[0] for r in builtins.values()})
    packages = {pkg: f"{PREFIX}_{pkg}" for pkg in top}
    names = {n: f"{PREFIX}{n}" for n in builtins}
    dests = {o["dest"] for r in builtins.values() for o in r.options}
    for pkg in top:
        shutil.copytree(os.path.join(site, pkg), os.path.join(target, packages[pkg]),
                        ignore=shutil.ignore_patterns("__pycache__"))
    for dirpath, _, files in os.walk(target):
        for f in files:
            path = os.path.join(dirpath, f)
            if f.endswith(".py"):
                with open(path) as fh:
                    text = fh.read()
                with open(path, "w") as fh:
                    fh.write(_rename_source(text, packages, names, dests))
    dist = os.path.join(target, "zz_plugins-1.0.dist-info")
    os.makedirs(dist)
    with open(os.path.join(dist, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: zz-plugins\nVersion: 1.0\n")
    with open(os.path.join(dist, "entry_points.txt"), "w") as f:
        f.write("[nsrun.plugins]\n")
        for n, r in builtins.items():
            module = r.module.split(".", 1)
            f.write(f"{names[n]} = {'.'.join([packages[module[0]], *module[1:]])}\n")
    env = {**os.environ, "PYTHONPATH": target, "XDG_CACHE_HOME": os.path.join(work, "cache")}
    default = [names[n] for n, r in builtins.items() if r.default]
    yield {"env": env, "plugins": ",".join(default), "names": names, "work": work}
    shutil.rmtree(work, ignore_errors=True)


def _nsrun(renamed: dict, root: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([NSRUN, "--root", root, *args], capture_output=True, text=True, timeout=timeout,
                          env=renamed["env"])


def test_the_copies_are_what_nsrun_plugins_lists(renamed, nsrun_root):
    out = _nsrun(renamed, nsrun_root, "plugins").stdout
    for name in renamed["names"].values():
        assert re.search(rf"^{name}\s", out, re.M), out


def test_start_path_with_renamed_plugins(renamed, nsrun_root, unique):
    res = _nsrun(renamed, nsrun_root, "--plugins", renamed["plugins"], "run", "--rm", f"--{PREFIX}-init",
                 f"--{PREFIX}-hostname", f"box{unique}", "busybox", "sh", "-c",
                 "hostname; ps -o pid,comm | awk '$1 == 1 {print $2}'; grep -c . /proc/self/uid_map")
    assert res.returncode == 0, res.stderr
    hostname, pid1, _ = res.stdout.split()
    assert hostname == f"box{unique}"          # uts (renamed) applied its own option
    assert pid1 != "sh"                        # pid's --init (renamed) put the reaper in front as PID 1
    # the old option names belong to nobody selected now
    res = _nsrun(renamed, nsrun_root, "--plugins", renamed["plugins"], "run", "--rm", "--init", "busybox", "true")
    assert res.returncode != 0 and "init" in res.stderr


def test_daemon_create_inspect_networks_and_gc_with_renamed_plugins(renamed, nsrun_root, unique):
    sock = os.path.join(nsrun_root, "d.sock")
    log = open(os.path.join(nsrun_root, "daemon.log"), "wb")
    daemon = subprocess.Popen([NSRUN, "--root", nsrun_root, "--plugins", renamed["plugins"], "daemon", "-H",
                               f"unix://{sock}"], stdout=log, stderr=log, env=renamed["env"])
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        docker = ["docker", "-H", f"unix://{sock}"]
        env = {**os.environ, "DOCKER_CONFIG": tempfile.mkdtemp(dir=nsrun_root)}
        res = subprocess.run([*docker, "run", "--rm", "--init", "--hostname", f"d{unique}", "--network", "none",
                              "busybox", "sh", "-c", "hostname; ps -o pid,comm | awk '$1 == 1 {print $2}'"],
                             capture_output=True, text=True, timeout=60, env=env)
        assert res.returncode == 0, res.stderr + open(os.path.join(nsrun_root, "daemon.log")).read()
        hostname, pid1 = res.stdout.split()
        assert hostname == f"d{unique}" and pid1 != "sh"
        res = subprocess.run([*docker, "create", "--name", f"c{unique}", "--init", "-p", "18080:80", "busybox"],
                             capture_output=True, text=True, timeout=60, env=env)
        assert res.returncode == 0, res.stderr
        view = json.loads(subprocess.run([*docker, "inspect", f"c{unique}"], capture_output=True, text=True,
                                         env=env, timeout=30).stdout)[0]
        assert view["HostConfig"]["Init"] is True
        assert view["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}]}
        nets = subprocess.run([*docker, "network", "ls", "--format", "{{.Name}}"], capture_output=True,
                              text=True, env=env, timeout=30)
        assert "bridge" in nets.stdout.split(), nets.stderr
        subprocess.run([*docker, "rm", f"c{unique}"], capture_output=True, timeout=30, env=env)
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
        log.close()
    res = _nsrun(renamed, nsrun_root, "system", "reset")
    assert res.returncode == 0, res.stderr
