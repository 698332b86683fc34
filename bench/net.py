"""Network benchmarks for ``make bench`` (issue 3): bridge start with a published port, start-time growth with
the number of published ports, and TCP throughput through the bridge against loopback.

Run: ``.venv/bin/python bench/net.py [--starts 20] [--containers 100] [--iperf-seconds 3]``. Traffic stays
between loopback and namespaces this script makes; everything goes with ``system reset`` at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")
DOCKER_BRIDGE_P_MS = 308.0  # `docker run --rm -p` on this kind of machine (ENVIRONMENT.md)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return (time.perf_counter() - start) * 1000


def start_cost(n: nsrun_t, runs: int) -> dict:
    out = {}
    for label, extra in (("none", ["--network", "none"]), ("bridge", []), ("bridge -p", ["-p", "18181:80"])):
        n("run", "--rm", *extra, "busybox", "true")  # warm: bridge and table exist, caches are hot
        out[label] = statistics.median(timed([NSRUN, "--root", n.root, "run", "--rm", *extra, "busybox", "true"])
                                       for _ in range(runs))
    return out


class nsrun_t:
    def __init__(self, root: str) -> None:
        self.root = root

    def __call__(self, *args: str, timeout: float = 120) -> str:
        return subprocess.run([NSRUN, "--root", self.root, *args], check=True, capture_output=True, text=True,
                              timeout=timeout).stdout


def growth(n: nsrun_t, containers: int, ports: int) -> dict:
    times = []
    for i in range(containers):
        pub = [a for p in range(ports) for a in ("-p", str(80 + p))]  # host ports chosen by nsrun
        times.append(timed([NSRUN, "--root", n.root, "run", "-d", "--name", f"g{i}", *pub, "busybox",
                            "sleep", "600"]))
    first, last = statistics.median(times[:5]), statistics.median(times[-5:])
    for i in range(containers):
        n("rm", "-f", f"g{i}")
    return {"first5_ms": first, "last5_ms": last, "ratio": last / first, "containers": containers, "ports": ports}


def iperf(n: nsrun_t, seconds: int) -> dict:
    def rate(argv: list[str]) -> float:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=True)
        return json.loads(res.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
    lo = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", "15201"], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    loopback = rate(["iperf3", "-c", "127.0.0.1", "-p", "15201", "-t", str(seconds), "-J"])
    lo.wait(timeout=10)
    n("run", "-d", "--name", "iperf-srv", "--rootfs", "/", "iperf3", "-s")
    ip = json.loads(n("inspect", "iperf-srv"))[0]["Info"]["NetworkSettings"]["IPAddress"]
    time.sleep(0.3)
    host_ctr = rate(["iperf3", "-c", ip, "-t", str(seconds), "-J"])
    ctr_ctr = rate([NSRUN, "--root", n.root, "run", "--rm", "--rootfs", "/", "iperf3", "-c", ip, "-t",
                    str(seconds), "-J"])
    n("rm", "-f", "iperf-srv")
    return {"loopback_gbps": loopback, "host_to_ctr_gbps": host_ctr, "ctr_to_ctr_gbps": ctr_ctr,
            "host_ratio": host_ctr / loopback, "ctr_ratio": ctr_ctr / loopback}


def pyroute2_import() -> dict:
    code = ("import time; t=time.process_time(); {imp}; print((time.process_time()-t)*1000)")
    out = {}
    for label, imp in (("pyroute2 (full package)", "from pyroute2 import IPRoute"),
                       ("nsrun's IPRoute import", "from nsrun_ns_net.netlink import _import_iproute; "
                                                  "_import_iproute()")):
        out[label] = statistics.median(float(subprocess.run([sys.executable, "-c", code.format(imp=imp)],
                                                            capture_output=True, text=True, check=True).stdout)
                                       for _ in range(5))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--ports", type=int, default=10)
    ap.add_argument("--iperf-seconds", type=int, default=3)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="nsrnetbench-", dir="/tmp")
    os.chmod(root, 0o755)
    n = nsrun_t(root)
    try:
        imports = pyroute2_import()
        print("import CPU ms: " + ", ".join(f"{k} {v:.0f}" for k, v in imports.items()))
        starts = start_cost(n, args.starts)
        print("start median ms: " + ", ".join(f"{k} {v:.0f}" for k, v in starts.items()) +
              f"  (docker run --rm -p: {DOCKER_BRIDGE_P_MS:.0f}; target <= {DOCKER_BRIDGE_P_MS / 4:.0f}, "
              f"ratio {starts['bridge -p'] / DOCKER_BRIDGE_P_MS:.2f})")
        g = growth(n, args.containers, args.ports)
        print(f"start with {g['ports']} ports: 1st-5 {g['first5_ms']:.0f} ms, {g['containers']}th-5 "
              f"{g['last5_ms']:.0f} ms, ratio {g['ratio']:.2f} (target <= 1.2)")
        t = iperf(n, args.iperf_seconds)
        print(f"TCP Gbit/s: loopback {t['loopback_gbps']:.1f}, host->ctr {t['host_to_ctr_gbps']:.1f} "
              f"({t['host_ratio']:.2f}x), ctr->ctr {t['ctr_to_ctr_gbps']:.1f} ({t['ctr_ratio']:.2f}x) "
              f"(target >= 0.8x)")
    finally:
        subprocess.run([NSRUN, "--root", root, "system", "reset"], capture_output=True, timeout=300)
        subprocess.run(["rm", "-rf", root], timeout=60)


if __name__ == "__main__":
    main()
