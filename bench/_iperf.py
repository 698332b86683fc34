"""Section 5: TCP throughput with iperf3 (bounded: -t seconds, one-off servers) on four paths, for nsrun's
default network, a network with the other ``nsrun.bridge.big_tcp`` setting and (FULL=1) Docker's default
bridge, all interleaved in the same rounds against loopback: host -> container, container -> host,
container -> container, container -> an "upstream" network namespace behind a veth without BIG TCP (what a
container sends out of the host through an ordinary uplink). Traffic goes only to 127.0.0.1, to containers
this benchmark started and to the namespace it made; every address is checked to be on a link it created.
Every iperf3 is the host's binary, entered into a container's network namespace with ``nsenter --net`` (the
pid from ``nsrun inspect`` / ``docker inspect``), so all setups are measured with the same program."""
from __future__ import annotations

import dataclasses
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

OPTION = "nsrun.bridge.big_tcp"


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


@dataclasses.dataclass
class _Setup:
    """One network under test: two containers on it (netns pid, address) and the host's address on it."""

    label: str
    a: tuple[int, str]
    b: tuple[int, str]
    gateway: str


def _direct_route(ip: str, devs: tuple[str, ...] = ("nsr",)) -> str | None:
    """Why traffic to ``ip`` must not be sent (None when it is safe): the host must reach it directly on a
    link the benchmark made (a name starting with one of ``devs``), never through a gateway, so a wrong
    address can never send packets off the machine."""
    res = run(["ip", "-j", "route", "get", ip])
    try:
        route = json.loads(res.stdout or "[]")[0]
    except (ValueError, IndexError):
        return f"`ip route get {ip}` failed: {res.stderr.strip()[-200:]}"
    if route.get("gateway") or not route.get("dev", "").startswith(devs):
        return (f"{ip} is not on a link the benchmark created (route: dev {route.get('dev')} via "
                f"{route.get('gateway', '-')}); not sending traffic to it")
    return None


def _nsrun_container(b: Bench, net: str, name: str, subnet: str) -> tuple[int, str]:
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "run", "-d", "--name", name, "--network", net,
                          "busybox", "sleep", "86400"))  # removed by the section; never outlives a long run
    if res.returncode != 0:
        raise NotRun(f"`nsrun run -d --network {net}` failed: {(res.stderr or res.stdout).strip()[-200:]}")
    info = json.loads(run(b.nsrun.cmd("inspect", name)).stdout or "[{}]")[0]
    pid = info.get("State", {}).get("Pid")
    ip = _find_ip(info.get("NetworkSettings", info), ipaddress.ip_network(subnet))
    if not pid or not ip:
        raise NotRun(f"`nsrun inspect {name}` shows no pid or no address in {subnet}")
    why = _direct_route(ip)
    if why:
        raise NotRun(why)
    return pid, ip


def _docker_container(docker, name: str) -> tuple[int, str, str]:
    """A busybox container on dockerd's default bridge: (pid, address, docker0's address)."""
    res = run(docker.cli("run", "-d", "--name", name, docker.image, "sleep", "86400"), timeout=120, env=docker.full_env)
    if res.returncode != 0:
        raise NotRun(f"`docker run -d` failed: {(res.stderr or res.stdout).strip()[-200:]}")
    res = run(docker.cli("inspect", "-f", "{{.State.Pid}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}}",
                         name), env=docker.full_env)
    try:
        pid, ip, gateway = res.stdout.split()
    except ValueError:
        raise NotRun(f"`docker inspect {name}` shows no pid, address or gateway: {res.stderr.strip()[-200:]}") from None
    why = _direct_route(ip, ("docker0",))
    if why:
        raise NotRun(why)
    return int(pid), ip, gateway


def _other_network(b: Bench, tag: str, value: str) -> tuple[str, str]:
    """A second network of the benchmark's with ``nsrun.bridge.big_tcp=value`` (the other setting)."""
    from _env import free_subnet
    name, subnet = f"nsrbother{tag}", free_subnet()
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "create", "--subnet", subnet,
                          "-o", f"{OPTION}={value}", name))
    if res.returncode != 0:
        raise NotRun(f"`nsrun network create -o {OPTION}={value}` failed: {res.stderr.strip()[-200:]}")
    return name, subnet


def _default_setting(b: Bench, net: str) -> str:
    """The big_tcp setting nsrun gave the benchmark's network, created without options: the default."""
    res = run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "inspect", net))
    try:
        value = json.loads(res.stdout)[0]["Nsrun"]["Options"][OPTION]  # nsrun's effective settings
    except (ValueError, IndexError, KeyError, TypeError):
        raise NotRun(f"`nsrun network inspect {net}` does not show {OPTION}") from None
    if value not in ("true", "false"):
        raise NotRun(f"`nsrun network inspect {net}` shows {OPTION}={value!r}")
    return value


def _uplink_mtu() -> int:
    """The MTU of the host's default-route interface (1500 if there is none): what the upstream veth gets."""
    try:
        dev = json.loads(run(["ip", "-j", "route", "show", "default"]).stdout or "[]")[0]["dev"]
        return int(json.loads(run(["ip", "-j", "link", "show", "dev", dev]).stdout)[0]["mtu"])
    except (ValueError, IndexError, KeyError, TypeError):
        return 1500


def _upstream(tag: str) -> tuple[str, str, list[list[str]]]:
    """A network namespace standing for an upstream host: a veth ``nsrb{tag}u`` with a /30 of the benchmark's
    range, the legacy 64 KiB GSO limit (an uplink without BIG TCP) and the MTU of the host's real uplink (so a
    runtime whose bridge has a larger MTU pays for it as it would on the wire), the host at .1, the namespace
    at .2 (containers reach it through their runtime's masquerade). Returns (netns, its address, the undo)."""
    from _env import free_subnet
    net = ipaddress.ip_network(free_subnet(30))
    mtu = str(_uplink_mtu())
    host, peer = (str(a) for a in list(net.hosts())[:2])
    ns, link = f"nsrb-{tag}-up", f"nsrb{tag}u"
    undo = [["ip", "netns", "del", ns], ["ip", "link", "del", link]]
    steps = [["ip", "netns", "add", ns],
             ["ip", "link", "add", link, "mtu", mtu, "type", "veth", "peer", "name", "up0", "mtu", mtu, "netns", ns],
             ["ip", "addr", "add", f"{host}/30", "dev", link], ["ip", "link", "set", link, "up"],
             ["ip", "-n", ns, "addr", "add", f"{peer}/30", "dev", "up0"], ["ip", "-n", ns, "link", "set", "up0", "up"],
             ["ip", "-n", ns, "link", "set", "lo", "up"]]
    for step in steps:
        res = run(step)
        if res.returncode != 0:
            for u in undo:
                run(u)
            raise NotRun(f"{' '.join(step)}: {res.stderr.strip()[-200:]}")
    why = _direct_route(peer)
    if why:
        for u in undo:
            run(u)
        raise NotRun(why)
    return ns, peer, undo


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
PATHS = ("host -> container", "container -> host", "container -> container", "container -> upstream netns")


def _endpoints(path: str, s: _Setup, upstream: str, up_ip: str) -> tuple[int | str | None, int | str | None, str]:
    """(server's namespace, client's namespace, address) of one path on one setup."""
    (pa, ipa), (pb, _ipb) = s.a, s.b
    return {PATHS[0]: (pa, None, ipa), PATHS[1]: (None, pa, s.gateway), PATHS[2]: (pa, pb, ipa),
            PATHS[3]: (upstream, pa, up_ip)}[path]


def _name(path: str, label: str) -> str:
    return f"{path}: {label}"


def section_iperf(b: Bench) -> Section:
    sec = Section("iperf", "5. TCP throughput, iperf3 (Gbit/s; ratio = path / loopback, paired per round)")
    if shutil.which("iperf3") is None:
        sec.not_run = "iperf3 is not installed"
        return sec
    try:
        net = bench_network(b)
        default = _default_setting(b, net)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    other = "false" if default == "true" else "true"
    tag = uuid.uuid4().hex[:4]
    docker = b.shared.get("dockerd")
    labels = [f"nsrun default ({OPTION}={default})", f"nsrun {OPTION}={other}"]
    if docker is not None:
        labels.append("docker default bridge")
    else:
        sec.notes.append("Docker's default bridge not compared: " + (b.shared.get("dockerd_error")
                         or "run `make bench FULL=1`"))
    # Short runs, many rounds, every path of every setup in each round (the setups' order rotating): this
    # machine's loopback alone swings 8-24 Gbit/s from one second to the next, so a path is only compared
    # with runs of the same round.
    rounds = b.iperf_rounds or (3 if b.quick else 10)
    figs = {LOOP: Figure(LOOP, "anchor", "Gbit/s")}
    for path in PATHS:
        for label in labels:
            figs[_name(path, label)] = Figure(_name(path, label), "subject", "Gbit/s")
    started, dstarted, extra, undo = [], [], None, []
    try:
        setups = []
        names = [f"nsrb-{tag}-ip{c}" for c in "abcd"]
        for n in names[:2]:
            started.append(n)
        pairs = [_nsrun_container(b, net, n, b.shared["subnet"]) for n in names[:2]]
        setups.append(_Setup(labels[0], *pairs, str(next(ipaddress.ip_network(b.shared["subnet"]).hosts()))))
        extra, extra_subnet = _other_network(b, tag, other)
        started += names[2:]
        pairs = [_nsrun_container(b, extra, n, extra_subnet) for n in names[2:]]
        setups.append(_Setup(labels[1], *pairs, str(next(ipaddress.ip_network(extra_subnet).hosts()))))
        if docker is not None:
            dnames = [f"nsrb-{tag}-dk{c}" for c in "ab"]
            dstarted += dnames
            (pa, ipa, gw), (pb, ipb, _gw) = (_docker_container(docker, n) for n in dnames)
            setups.append(_Setup(labels[2], (pa, ipa), (pb, ipb), gw))
        upstream, up_ip, undo = _upstream(tag)
        port = free_ports(1, start=25201)[0]
        s = b.iperf_seconds
        for r in range(rounds):
            figs[LOOP].samples.append(_iperf(None, None, "127.0.0.1", port, s))
            order = setups[r % len(setups):] + setups[:r % len(setups)]
            for path in PATHS:
                for setup in order:
                    figs[_name(path, setup.label)].samples.append(_iperf(*_endpoints(path, setup, upstream, up_ip),
                                                                         port, s))
        for f in figs.values():
            f.rounds = list(f.samples)
    except NotRun as exc:
        sec.not_run = str(exc)
        return sec
    finally:
        if started:
            run(b.nsrun.cmd("rm", "-f", *started), timeout=120)
        if dstarted:
            run(docker.cli("rm", "-f", *dstarted), timeout=120, env=docker.full_env)
        if extra:
            run(b.nsrun.cmd(*b.nsrun.plugin_args("net"), "network", "rm", extra))
        for u in undo:
            run(u)
    sec.figures = list(figs.values())
    loop = figs[LOOP]
    for path in PATHS[:3]:
        r = paired_ratio(figs[_name(path, labels[0])], loop)
        sec.targets.append(Target(f"{path} TCP through the bridge >= 0.8x loopback (nsrun's default network)",
                                  None if r is None else r >= 0.8,
                                  "not judged" if r is None else f"{r:.2f}x loopback"))
    ratios: dict[str, dict[str, float | None]] = {}
    for path in PATHS:
        ratios[path] = {f"{OPTION}={other} / default": paired_ratio(figs[_name(path, labels[1])],
                                                                     figs[_name(path, labels[0])])}
        if docker is not None:
            for label in labels[:2]:
                ratios[path][f"{label} / docker"] = paired_ratio(figs[_name(path, label)], figs[_name(path, labels[2])])
    sec.extra["paired_ratios"] = ratios
    for path, rs in ratios.items():
        sec.notes.append(f"{path}: " + ", ".join(f"{k} = {v:.2f}x" for k, v in rs.items() if v is not None))
    if docker is not None:
        worst = min(((rs[f"{labels[0]} / docker"] or 0.0), path) for path, rs in ratios.items())
        sec.targets.append(Target("nsrun's default network loses on no path against Docker's default bridge "
                                  "(paired ratio >= 0.95x on all four)", worst[0] >= 0.95,
                                  f"lowest {worst[0]:.2f}x docker ({worst[1]})"))
    sec.notes.append(f"iperf3 -t {b.iperf_seconds}, {rounds} rounds, every path of every setup in each round; "
                     "the same iperf3 binary everywhere, entered with nsenter --net (containers, pid from inspect) "
                     "or ip netns exec (the upstream namespace: a veth without BIG TCP, reached through the "
                     "runtime's masquerade)")
    return sec
