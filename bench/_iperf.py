"""Section 5: TCP throughput with iperf3 (bounded: -t seconds, one-off servers), host <-> container and
container <-> container through the benchmark's own bridge, against loopback. Traffic goes only to 127.0.0.1
and to addresses of containers this benchmark started, on the bridge it created."""
from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
import uuid

from _common import Bench, NotRun, Section, Target
from _env import free_ports, run
from _measure import Figure, paired_ratio
from _start import bench_network

__all__ = ["section_iperf"]


def _find_ip(obj: object, subnet: ipaddress.IPv4Network) -> str | None:
    if isinstance(obj, dict):
        for v in obj.values():
            if (ip := _find_ip(v, subnet)) is not None:
                return ip
    elif isinstance(obj, list):
        for v in obj:
            if (ip := _find_ip(v, subnet)) is not None:
                return ip
    elif isinstance(obj, str):
        try:
            if ipaddress.ip_address(obj) in subnet and not obj.endswith(".1"):
                return obj
        except ValueError:
            return None
    return None


def _container(b: Bench, net: str, name: str, subnet: str | None = None) -> tuple[int, str]:
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "run", "-d", "--name", name, "--network", net,
                          "busybox", "sleep", "300"))
    if res.returncode != 0:
        raise NotRun(f"`nsrun run -d --network {net}` failed: {(res.stderr or res.stdout).strip()[-200:]}")
    info = json.loads(run(b.nsrun.cmd("inspect", name)).stdout or "[{}]")[0]
    pid = info.get("State", {}).get("Pid")
    ip = _find_ip(info.get("NetworkSettings", info), ipaddress.ip_network(subnet or b.shared["subnet"]))
    if not pid or not ip:
        raise NotRun(f"`nsrun inspect {name}` shows no pid or no address in {b.shared['subnet']}")
    why = _direct_route(ip)
    if why:
        raise NotRun(why)
    return pid, ip


def _small_network(b: Bench, tag: str) -> tuple[str, str]:
    """A second network of the benchmark's, with ``nsrun.bridge.big_tcp=false``: what containers send out of
    the host without super-packets, for the outbound comparison."""
    from _env import free_subnet
    name, subnet = f"nsrbsmall{tag}", free_subnet()
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "create", "--subnet", subnet,
                          "-o", "nsrun.bridge.big_tcp=false", name))
    if res.returncode != 0:
        raise NotRun(f"`nsrun network create -o nsrun.bridge.big_tcp=false` failed: {res.stderr.strip()[-200:]}")
    return name, subnet


def _upstream(tag: str) -> tuple[str, str, list[list[str]]]:
    """A network namespace standing for an upstream host: a veth ``nsrb{tag}u`` with a /30 of the benchmark's
    range, the host at .1, the namespace at .2 (the container reaches it through nsrun's masquerade).
    Returns (netns, its address, the commands that remove it)."""
    from _env import free_subnet
    net = ipaddress.ip_network(free_subnet(30))
    host, peer = (str(a) for a in list(net.hosts())[:2])
    ns, link = f"nsrb-{tag}-up", f"nsrb{tag}u"
    undo = [["ip", "netns", "del", ns], ["ip", "link", "del", link]]
    steps = [["ip", "netns", "add", ns],
             ["ip", "link", "add", link, "type", "veth", "peer", "name", "up0", "netns", ns],
             ["ip", "addr", "add", f"{host}/30", "dev", link], ["ip", "link", "set", link, "up"],
             ["ip", "-n", ns, "addr", "add", f"{peer}/30", "dev", "up0"], ["ip", "-n", ns, "link", "set", "up0", "up"],
             ["ip", "-n", ns, "link", "set", "lo", "up"]]
    for step in steps:
        res = run(step)
        if res.returncode != 0:
            for u in undo:
                run(u)
            raise NotRun(f"{' '.join(step)}: {res.stderr.strip()[-200:]}")
    return ns, peer, undo


def _direct_route(ip: str) -> str | None:
    """Why traffic to ``ip`` must not be sent (None when it is safe): the host must reach it directly on a
    link (our bridge), never through a gateway, so a wrong address can never send packets off the machine."""
    res = run(["ip", "-j", "route", "get", ip])
    try:
        route = json.loads(res.stdout or "[]")[0]
    except (ValueError, IndexError):
        return f"`ip route get {ip}` failed: {res.stderr.strip()[-200:]}"
    if route.get("gateway") or not route.get("dev", "").startswith("nsr"):
        return (f"{ip} is not on a bridge the benchmark created (route: dev {route.get('dev')} via "
                f"{route.get('gateway', '-')}); not sending traffic to it")
    return None


def _iperf(server_ns: int | str | None, client_ns: int | str | None, addr: str, port: int, seconds: int) -> float:
    """One bounded iperf3 run; returns Gbit/s received. ``*_ns``: a pid whose network namespace to enter, or
    the name of a network namespace."""
    def where(ns: int | str | None) -> list[str]:
        if isinstance(ns, str):
            return ["ip", "netns", "exec", ns]
        return ["nsenter", "--target", str(ns), "--net"] if ns else []
    server = subprocess.Popen([*where(server_ns), "iperf3", "-s", "-1", "-B", addr, "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):   # wait until it listens (bounded)
            time.sleep(0.05)
            res = run([*where(client_ns), "iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J",
                       "--connect-timeout", "3000"],
                      timeout=seconds + 30)
            if res.returncode == 0:
                return json.loads(res.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
            if "refused" not in res.stdout + res.stderr:
                raise NotRun(f"iperf3 client failed: {(res.stderr or res.stdout).strip()[-200:]}")
        raise NotRun("iperf3 server did not start listening")
    finally:
        server.kill()
        server.wait()


LOOP = "loopback 127.0.0.1 (host)"
PATHS = ("host -> container", "container -> host", "container -> container")
OUT_BIG, OUT_SMALL = ("container -> upstream netns (default network)",
                      "container -> upstream netns (nsrun.bridge.big_tcp=false)")


def section_iperf(b: Bench) -> Section:
    sec = Section("iperf", "5. TCP throughput, iperf3 (Gbit/s; ratio = path / loopback, paired per round)")
    if shutil.which("iperf3") is None:
        sec.not_run = "iperf3 is not installed"
        return sec
    try:
        net = bench_network(b)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    tag = uuid.uuid4().hex[:4]
    names = [f"nsrb-{tag}-ipa", f"nsrb-{tag}-ipb", f"nsrb-{tag}-ipc"]
    # Short runs, many rounds, every path in each round: this machine's loopback alone swings 8-17 Gbit/s
    # from one second to the next, so a path is only compared with the loopback run next to it.
    rounds = 3 if b.quick else 10
    figs = {k: Figure(k, "anchor" if k == LOOP else "subject", "Gbit/s") for k in (LOOP, *PATHS, OUT_BIG, OUT_SMALL)}
    started, small, undo = [], None, []
    try:
        pa, ipa = _container(b, net, names[0])
        started.append(names[0])
        pb, _ipb = _container(b, net, names[1])
        started.append(names[1])
        small, small_subnet = _small_network(b, tag)
        pc, _ipc = _container(b, small, names[2], small_subnet)
        started.append(names[2])
        gateway = str(next(ipaddress.ip_network(b.shared["subnet"]).hosts()))
        upstream, up_ip, undo = _upstream(tag)
        port = free_ports(1, start=25201)[0]
        s = b.iperf_seconds
        for _ in range(rounds):
            for name, (server, client, addr) in ((LOOP, (None, None, "127.0.0.1")),
                                                 (PATHS[0], (pa, None, ipa)), (PATHS[1], (None, pa, gateway)),
                                                 (PATHS[2], (pa, pb, ipa)), (OUT_BIG, (upstream, pa, up_ip)),
                                                 (OUT_SMALL, (upstream, pc, up_ip))):
                figs[name].samples.append(_iperf(server, client, addr, port, s))
        for f in figs.values():
            f.rounds = list(f.samples)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    finally:
        if started:
            run(b.nsrun.cmd("rm", "-f", *started), timeout=120)
        if small:
            run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "rm", small))
        for u in undo:
            run(u)
    sec.figures = list(figs.values())
    loop = figs[LOOP]
    for name in PATHS:
        r = paired_ratio(figs[name], loop)
        sec.targets.append(Target(f"{name} TCP through the bridge >= 0.8x loopback", None if r is None else r >= 0.8,
                                  "not judged" if r is None else f"{r:.2f}x loopback"))
    out = paired_ratio(figs[OUT_BIG], figs[OUT_SMALL])
    if out is not None:
        sec.notes.append(f"outbound, what BIG TCP costs traffic leaving through an uplink without it: default "
                         f"network / big_tcp=false network = {out:.2f}x")
    sec.notes.append(f"iperf3 -t {b.iperf_seconds}, {rounds} rounds, every path in each round; servers entered "
                     "with nsenter --net (containers) or ip netns exec (the upstream namespace)")
    return sec
