"""Bad input and hostile clients: the right status and a JSON message, the daemon keeps serving everyone,
nothing is left half-made. Raw HTTP over the daemon's unix socket."""
from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import time


def raw(daemon, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is; return (status, headers, body) of the first response (Content-Length bodies)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(daemon.sock)
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def call(daemon, method: str, path: str, body: bytes | None = None, headers: str = "") -> tuple[int, bytes]:
    req = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
    if body is not None:
        req += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    status, hdrs, data = raw(daemon, req.encode() + b"\r\n" + (body or b""))
    if status >= 400:
        assert hdrs.get("content-type") == "application/json", (status, hdrs, data)
        assert isinstance(json.loads(data)["message"], str)
    return status, data


def message(data: bytes) -> str:
    return json.loads(data)["message"]


def test_malformed_and_mistyped_bodies_get_400(daemon):
    assert call(daemon, "POST", "/v1.41/containers/create", b"{not json")[0] == 400
    assert call(daemon, "POST", "/v1.41/containers/create", b"[1, 2]")[0] == 400
    assert call(daemon, "POST", "/v1.41/containers/create", b"")[0] == 400
    assert call(daemon, "POST", "/v1.41/containers/create", b"[" * 200000 + b"]" * 200000)[0] == 400
    assert call(daemon, "POST", "/v1.41/containers/create", b'{"Image": "\xff\xfe"}')[0] == 400
    for bad in ({"Image": "busybox", "Cmd": 5}, {"Image": 7}, {"Image": "busybox", "Tty": "yes"},
                {"Image": "busybox", "HostConfig": []}, {"Image": "busybox", "Env": ["A=1", 2]},
                {"Image": "busybox", "HostConfig": {"PortBindings": {"x/tcp": []}}}, {"Cmd": ["true"]}):
        status, data = call(daemon, "POST", "/v1.41/containers/create", json.dumps(bad).encode())
        assert status == 400, (bad, data)
    status, data = call(daemon, "POST", "/v1.41/containers/create?name=has%20space",
                        json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode())
    assert status == 400 and "Invalid container name" in message(data)
    assert daemon.leftovers() == []


def test_fields_nobody_maps_are_refused_by_name_not_ignored(daemon):
    body = {"Image": "busybox", "Cmd": ["true"], "Bogus": {"x": 1}, "HostConfig": {"NetworkMode": "none",
                                                                                    "Whatever": True}}
    status, data = call(daemon, "POST", "/containers/create", json.dumps(body).encode())
    assert status == 400 and "Bogus.x" in message(data) and "HostConfig.Whatever" in message(data)
    for host in ({"Isolation": "hyperv"}, {"DeviceCgroupRules": ["c 1:3 rwm"]}, {"CpuRealtimePeriod": 1000}):
        status, data = call(daemon, "POST", "/containers/create",
                            json.dumps({"Image": "busybox", "HostConfig": host}).encode())
        assert status == 400 and f"HostConfig.{next(iter(host))}" in message(data)
    # zero values are what clients send for options the user did not give: those are fine
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Privileged": False, "CapAdd": None,
                                                                "MemorySwappiness": -1, "NetworkMode": "none"}}
    status, data = call(daemon, "POST", "/containers/create", json.dumps(body).encode())
    assert status == 201, data
    cid = json.loads(data)["Id"]
    assert call(daemon, "DELETE", f"/containers/{cid}")[0] == 204
    assert daemon.leftovers() == []


def test_huge_bodies_get_413(daemon):
    big = b'{"Image": "busybox", "Cmd": ["' + b"x" * (2 << 20) + b'"]}'
    assert call(daemon, "POST", "/v1.41/containers/create", big)[0] == 413
    chunked = (b"POST /containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json"
               b"\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
                   b"%x\r\n%s\r\n" % (65536, b"x" * 65536) for _ in range(20)) + b"0\r\n\r\n")
    assert raw(daemon, chunked)[0] == 413
    assert daemon.leftovers() == []


def test_unknown_endpoints_names_and_bad_queries(daemon):
    status, data = call(daemon, "GET", "/v1.41/nosuch/endpoint")
    assert status == 404 and "page not found" in message(data)
    assert call(daemon, "PUT", "/containers/json")[0] == 405
    for method, path in (("GET", "/containers/nosuch/json"), ("POST", "/containers/nosuch/start"),
                         ("POST", "/containers/nosuch/stop"), ("DELETE", "/containers/nosuch"),
                         ("GET", "/containers/nosuch/logs?stdout=1"), ("POST", "/containers/nosuch/wait"),
                         ("GET", "/exec/nosuch/json"), ("DELETE", "/images/nosuch:img")):
        status, data = call(daemon, method, path)
        assert status == 404 and "nosuch" in message(data), (method, path, data)
    assert call(daemon, "POST", "/containers/nosuch/exec", b'{"Cmd": ["true"]}')[0] == 404
    assert call(daemon, "GET", "/containers/json?all=maybe")[0] == 400
    assert call(daemon, "GET", "/containers/json?filters=%7Bbad")[0] == 400
    status, _, _ = raw(daemon, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400
    assert call(daemon, "GET", "/_ping")[0] == 200


def test_slow_and_vanishing_clients_do_not_stall_others(daemon):
    slow = socket.socket(socket.AF_UNIX)
    slow.connect(daemon.sock)
    slow.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Ima")
    half = socket.socket(socket.AF_UNIX)
    half.connect(daemon.sock)
    half.sendall(b"GET /containers/json HTT")
    start = time.monotonic()
    assert call(daemon, "GET", "/_ping")[0] == 200
    assert time.monotonic() - start < 5     # not held up by the stalled clients (generous: CI may be loaded)
    r = daemon.docker("run", "-d", "--name", "streamer", "--network", "none", "busybox", "sh", "-c",
                      "while true; do echo tick; sleep 0.05; done", check=True)
    cid = r.stdout.strip()
    for path in (f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1", f"/containers/{cid}/logs?follow=1&stdout=1"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.sock)
        verb = "POST" if "attach" in path else "GET"
        s.sendall(f"{verb} {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
        assert s.recv(100)
        s.close()                             # gone mid-stream
    # A client that never reads: the daemon must not block on it.
    lazy = socket.socket(socket.AF_UNIX)
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.connect(daemon.sock)
    lazy.sendall(f"GET /containers/{cid}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.3)
    assert call(daemon, "GET", "/_ping")[0] == 200
    assert daemon.docker("inspect", "--format", "{{.State.Running}}", "streamer").stdout.strip() == "true"
    for s in (slow, half, lazy):
        s.close()
    daemon.docker("rm", "-f", "streamer", check=True)
    assert daemon.proc.poll() is None


def test_a_client_that_disconnects_during_create_leaves_nothing_half_made(daemon):
    body = json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}).encode()
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.sock)
        s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        s.close()
    time.sleep(0.5)
    for cid in daemon.leftovers():            # whole containers or none: each has its config and state
        cdir = os.path.join(daemon.root, "containers", cid)
        assert {"config.json", "state.json"} <= set(os.listdir(cdir))
        assert call(daemon, "DELETE", f"/containers/{cid}")[0] == 204


def test_a_hundred_concurrent_clients_each_get_their_output_and_exit_code(daemon):
    def one(i: int) -> tuple[int, int, str]:
        r = daemon.docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", f"echo client-{i}; exit {i % 8}",
                          timeout=240)
        return i, r.returncode, r.stdout + r.stderr
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        results = list(pool.map(one, range(100)))
    bad = [(i, code, out) for i, code, out in results if code != i % 8 or out != f"client-{i}\n"]
    assert not bad, f"{len(bad)} wrong: {bad[:5]}"
    assert daemon.leftovers() == []
