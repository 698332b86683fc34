"""containerd's CRI path (what the kubelet drives) with ``runtimes.nsrun`` (docs/oci.md's config), as far as it
runs on this machine: a private containerd 1.6 with the CRI plugin on, a runtime handler ``nsrun`` whose
``BinaryName`` is nsrun-oci, and a CRI client speaking gRPC over its socket (grpcio with hand-encoded protobuf
messages of runtime.v1: no crictl here — it is a Go program, and no Go toolchain nor Debian package of it is at
hand).

The pod uses the node's network (``NamespaceMode NODE``): the CRI plugin then calls no CNI plugin, so nothing on
the host's network or firewall is touched. The sandbox image is made here (busybox, entrypoint ``sleep``) and
imported into containerd's ``k8s.io`` namespace; its streaming server listens on 127.0.0.1:18501.

Here it runs the whole way with ``restrict_oom_score_adj = true``: ``RunPodSandbox`` (nsrun-oci create + start
of the sandbox), ``CreateContainer`` of a container that joins the sandbox's ipc and uts namespaces by ``path``,
``StartContainer`` (its CRI log shows the pod's hostname), ``StopPodSandbox``, ``RemovePodSandbox``, and nothing of
nsrun-oci's left. Without that setting containerd asks for the sandbox ``process.oomScoreAdj: -998``, below the
score of the shim that runs nsrun-oci: lowering it needs CAP_SYS_RESOURCE, which root lacks on this machine
(``/proc/self/status`` CapEff bit 24), and nsrun refuses a field it cannot honour rather than ignore it — the
second test asserts exactly that failure where the capability is missing, and a running sandbox where it is not.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

import grpc  # a test dependency (pyproject's [test]): a missing one fails here, never skips
import pytest

from ocienv import busybox_tar, records, unmount_under, write_runtime

IMAGE = "docker.io/library/o13bpause:1"
STREAM_PORT = "18501"
NODE, CONTAINER = 2, 1  # runtime.v1 NamespaceMode


# -- protobuf, by hand: just the wire format (varints and length-delimited fields) ------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _msg(*fields: tuple[int, object]) -> bytes:
    """A message of (field number, value) pairs: str/bytes/bytes of a sub-message are length-delimited, ints
    varints; a list repeats the field."""
    out = b""
    for num, value in fields:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int):
                out += _varint(num << 3) + _varint(item)
            else:
                data = item.encode() if isinstance(item, str) else item
                out += _varint(num << 3 | 2) + _varint(len(data)) + data
    return out


def _fields(data: bytes) -> dict[int, list]:
    def varint(i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, i
    out: dict[int, list] = {}
    i = 0
    while i < len(data):
        key, i = varint(i)
        if key & 7 == 0:
            value, i = varint(i)
        elif key & 7 == 2:
            size, i = varint(i)
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"wire type {key & 7} not expected in these replies")
        out.setdefault(key >> 3, []).append(value)
    return out


def _sandbox_image(base: str) -> str:
    """An OCI image archive: busybox's applets as one layer, entrypoint ``sleep 3600`` (a pause image)."""
    layer_path = os.path.join(base, "layer.tar")
    busybox_tar(layer_path)
    with open(layer_path, "rb") as f:
        layer = f.read()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/bin/sleep", "3600"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}
                         }).encode()

    def desc(media: str, blob: bytes) -> dict:
        return {"mediaType": media, "digest": f"sha256:{hashlib.sha256(blob).hexdigest()}", "size": len(blob)}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": desc("application/vnd.oci.image.config.v1+json", config),
                           "layers": [desc("application/vnd.oci.image.layer.v1.tar", layer)]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {**desc("application/vnd.oci.image.manifest.v1+json", manifest),
         "annotations": {"io.containerd.image.name": IMAGE}}]}).encode()
    path = os.path.join(base, "image.tar")
    with tarfile.open(path, "w") as tar:
        for name, blob in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index),
                           *((f"blobs/sha256/{hashlib.sha256(b).hexdigest()}", b) for b in (layer, config, manifest))):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


class CriContainerd:
    """A private containerd with the CRI plugin and the ``nsrun`` runtime handler."""

    def __init__(self, base: str, restrict_oom: bool) -> None:
        self.base, self.sock = base, os.path.join(base, "c.sock")
        self.oci_root = os.path.join(base, "oci")
        runtime = os.path.join(base, "nsrun-oci-runtime")
        write_runtime(runtime, self.oci_root, drop_root=True)
        cri = '[plugins."io.containerd.grpc.v1.cri"'
        config = os.path.join(base, "config.toml")
        with open(config, "w") as f:
            f.write(f"""version = 2
root = "{base}/root"
state = "{base}/state"
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = "{base}/debug.sock"
{cri}]
  sandbox_image = "{IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "{STREAM_PORT}"
  restrict_oom_score_adj = {"true" if restrict_oom else "false"}
{cri}.cni]
  bin_dir = "{base}/cni-bin"
  conf_dir = "{base}/cni-conf"
{cri}.containerd]
  default_runtime_name = "nsrun"
{cri}.containerd.runtimes.nsrun]
  runtime_type = "io.containerd.runc.v2"
{cri}.containerd.runtimes.nsrun.options]
  BinaryName = "{runtime}"
""")
        self.log = open(os.path.join(base, "containerd.log"), "wb")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while self.ctr("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"containerd did not start: see {base}/containerd.log")
            time.sleep(0.1)
        self.channel = grpc.insecure_channel(f"unix://{self.sock}")

    def ctr(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "-a", self.sock, "-n", "k8s.io", *args], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    def call(self, method: str, request: bytes) -> dict[int, list]:
        rpc = self.channel.unary_unary(f"/runtime.v1.RuntimeService/{method}")
        return _fields(rpc(request, timeout=60))

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        unmount_under(self.base)


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        eff = next(line for line in f if line.startswith("CapEff:")).split()[1]
    return bool(int(eff, 16) >> 24 & 1)


@pytest.fixture
def cri(request):
    base = tempfile.mkdtemp(prefix="o13b-cri-", dir="/tmp")
    engine = CriContainerd(base, restrict_oom=request.param)
    try:
        imported = engine.ctr("images", "import", _sandbox_image(base))
        assert imported.returncode == 0, imported.stderr
        os.makedirs(os.path.join(base, "logs"))
        yield engine
    finally:
        engine.close()
        shutil.rmtree(base, ignore_errors=True)


def _pod(logs: str) -> bytes:
    """PodSandboxConfig: metadata, hostname ``o13bpod``, the log directory, the node's network (no CNI) and a
    pid namespace per container (the kubelet's default: no shareProcessNamespace)."""
    namespaces = _msg((1, NODE), (2, CONTAINER))
    return _msg((1, _msg((1, "o13b-pod"), (2, "o13b-uid-1"), (3, "default"))), (2, "o13bpod"), (3, logs),
                (8, _msg((2, _msg((1, namespaces))))))


@pytest.mark.parametrize("cri", [True], indirect=True)
def test_a_pod_runs_through_containerd_cri_on_nsrun(cri):
    version = cri.call("Version", _msg((1, "v1")))
    assert version[2] == [b"containerd"] and version[4] == [b"v1"]
    logs = os.path.join(cri.base, "logs")
    pod = _pod(logs)
    sandbox = cri.call("RunPodSandbox", _msg((1, pod), (2, "nsrun")))[1][0].decode()
    try:
        assert records(cri.oci_root) != []  # the sandbox is nsrun-oci's
        security = _msg((3, _msg((1, NODE), (2, CONTAINER))))  # LinuxContainerSecurityContext.namespace_options
        container = _msg((1, _msg((1, "o13b-c"))), (2, _msg((1, IMAGE))), (3, "/bin/sh"),
                         (4, ["-c", "hostname; echo done"]), (11, "c.log"), (15, _msg((2, security))))
        cid = cri.call("CreateContainer", _msg((1, sandbox), (2, container), (3, pod)))[1][0].decode()
        cri.call("StartContainer", _msg((1, cid)))
        deadline = time.monotonic() + 20
        text = ""
        while "done" not in text and time.monotonic() < deadline:
            time.sleep(0.1)
            if os.path.exists(os.path.join(logs, "c.log")):
                with open(os.path.join(logs, "c.log")) as f:
                    text = f.read()
        lines = [line.split(" ", 3)[3] for line in text.splitlines()]
        assert lines == ["o13bpod", "done"], text  # the pod's hostname: the sandbox's uts namespace, joined
    finally:
        cri.call("StopPodSandbox", _msg((1, sandbox)))
        cri.call("RemovePodSandbox", _msg((1, sandbox)))
    assert records(cri.oci_root) == []


@pytest.mark.parametrize("cri", [False], indirect=True)
def test_the_sandbox_oom_score_needs_cap_sys_resource_or_restrict_oom_score_adj(cri):
    pod = _pod(os.path.join(cri.base, "logs"))
    if _has_cap_sys_resource():
        sandbox = cri.call("RunPodSandbox", _msg((1, pod), (2, "nsrun")))[1][0].decode()
        cri.call("StopPodSandbox", _msg((1, sandbox)))
        cri.call("RemovePodSandbox", _msg((1, sandbox)))
        return
    with pytest.raises(grpc.RpcError) as excinfo:
        cri.call("RunPodSandbox", _msg((1, pod), (2, "nsrun")))
    details = excinfo.value.details()
    assert "OCI runtime create failed" in details  # the shim ran nsrun-oci create for the sandbox ...
    assert "--oom-score-adj -998: below nsrun's own" in details and "CAP_SYS_RESOURCE" in details, details
    assert records(cri.oci_root) == []  # ... which left nothing, and containerd removed its sandbox
    assert cri.ctr("containers", "ls", "-q").stdout.split() == []
