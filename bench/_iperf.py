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


def _container(b: Bench, net: str, name: str) -> tuple[int, str]:
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "run", "-d", "--name", name, "--network", net,
                          "busybox", "sleep", "300"))
    if res.returncode != 0:
        raise NotRun(f"`nsrun run -d --network {net}` failed: {(res.stderr or res.stdout).strip()[-200:]}")
    info = json.loads(run(b.nsrun.cmd("inspect", name)).stdout or "[{}]")[0]
    pid = info.get("State", {}).get("Pid")
    ip = _find_ip(info.get("NetworkSettings", info), ipaddress.ip_network(b.shared["subnet"]))
    if not pid or not ip:
        raise NotRun(f"`nsrun inspect {name}` shows no pid or no address in {b.shared['subnet']}")
    why = _direct_route(ip)
    if why:
        raise NotRun(why)
    return pid, ip


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


def _iperf(server_ns: int | None, client_ns: int | None, addr: str, port: int, seconds: int) -> float:
    """One bounded iperf3 run; returns Gbit/s received. ``*_ns``: a pid whose network namespace to enter."""
    def where(pid: int | None) -> list[str]:
        return ["nsenter", "--target", str(pid), "--net"] if pid else []
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


def section_iperf(b: Bench) -> Section:
    sec = Section("iperf", "5. TCP throughput, iperf3 (Gbit/s; ratio = bridge / loopback)")
    if shutil.which("iperf3") is None:
        sec.not_run = "iperf3 is not installed"
        return sec
    try:
        net = bench_network(b)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    tag = uuid.uuid4().hex[:4]
    names = [f"nsrb-{tag}-ipa", f"nsrb-{tag}-ipb"]
    reps = 1 if b.quick else 3
    figs = {k: Figure(k, role, "Gbit/s") for k, role in (
        ("loopback 127.0.0.1 (host)", "anchor"), ("host -> container (bridge)", "subject"),
        ("container -> container (same bridge)", "subject"))}
    started = []
    try:
        (pa, ipa) = _container(b, net, names[0])
        started.append(names[0])
        (pb, _ipb) = _container(b, net, names[1])
        started.append(names[1])
        port = free_ports(1, start=25201)[0]
        for _ in range(reps):
            figs["loopback 127.0.0.1 (host)"].samples.append(_iperf(None, None, "127.0.0.1", port, b.iperf_seconds))
            figs["host -> container (bridge)"].samples.append(_iperf(pa, None, ipa, port, b.iperf_seconds))
            figs["container -> container (same bridge)"].samples.append(_iperf(pa, pb, ipa, port, b.iperf_seconds))
        for f in figs.values():
            f.rounds = list(f.samples)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    finally:
        if started:
            run(b.nsrun.cmd("rm", "-f", *started), timeout=120)
    sec.figures = list(figs.values())
    loop = sec.figures[0]
    for f in sec.figures[1:]:
        r = paired_ratio(f, loop)
        sec.targets.append(Target(f"{f.name} TCP >= 0.8x loopback", None if r is None else r >= 0.8,
                                  "not judged" if r is None else f"{r:.2f}x loopback"))
    sec.notes.append(f"iperf3 -t {b.iperf_seconds}, {reps} rounds, servers entered with nsenter --net into the "
                     "containers' namespaces")
    return sec
