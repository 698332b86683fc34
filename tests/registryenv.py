"""Real registries for the image tests: Debian's ``docker-registry`` (the CNCF distribution server) on
127.0.0.1 with a free port and its storage under the test's directory, in the modes users meet (plain HTTP,
TLS with a CA made here, htpasswd basic auth, bearer tokens from ``TokenIssuer``), plus small fronts that
misbehave on purpose (``Front``), OCI layouts made by hand (``OciLayout``) and ``skopeo`` as the independent
client. Every server is a process or thread the fixture owns and stops.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen | None, log: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited {proc.returncode}: {open(log).read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    if res.returncode != 0:
        raise AssertionError(f"{argv} -> {res.returncode}: {res.stderr.strip()[-2000:]}")
    return res


# -- certificates ---------------------------------------------------------------------------------------------
def make_ca(d: str) -> tuple[str, str]:
    """A CA (cert, key) and a server certificate for 127.0.0.1/localhost signed by it, under ``d``."""
    os.makedirs(d, exist_ok=True)
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", cakey, "-out", ca, "-days", "2", "-subj", "/CN=nsrun test CA"])
    key, csr, cert = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.pem"))
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext])
    return cert, key


# -- the registry ---------------------------------------------------------------------------------------------
class RegistryServer:
    """``docker-registry serve`` on 127.0.0.1:<free port>. ``tls``: (cert, key); ``htpasswd``: a file;
    ``token``: the ``auth.token`` section (realm, service, issuer, rootcertbundle)."""

    def __init__(self, d: str, *, tls: tuple[str, str] | None = None, htpasswd: str | None = None,
                 token: dict | None = None) -> None:
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {d}/storage", "  delete:", "    enabled: true",
                 "http:", f"  addr: 127.0.0.1:{self.port}", "  secret: nsrun-test-secret"]
        if tls:
            lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        if htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: nsrun-test", f"    path: {htpasswd}"]
        if token:
            lines += ["auth:", "  token:", *[f"    {k}: {v}" for k, v in token.items()]]
        self.config = os.path.join(d, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = os.path.join(d, "registry.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", self.config], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=d)
        try:
            _wait_listening(self.port, self.proc, self.log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def htpasswd_file(d: str, users: dict[str, str]) -> str:
    path = os.path.join(d, "htpasswd")
    with open(path, "w") as f:
        for user, password in users.items():
            f.write(run(["htpasswd", "-Bbn", user, password]).stdout.strip() + "\n")
    return path


# -- a token issuer -------------------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Threaded:
    """A stdlib HTTP server on 127.0.0.1:<free port> in a thread; ``stop()`` shuts it down."""

    def __init__(self, handler: type) -> None:
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.owner = self  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class TokenIssuer(_Threaded):
    """Docker's token service in miniature: ``GET /token?service=&scope=`` with optional basic auth. Wrong
    credentials get 401; a known user gets every action asked for; anonymous callers get ``pull`` only. Tokens
    are RS256 JWTs carrying the signing certificate (``x5c``), which is the registry's ``rootcertbundle``."""

    service, issuer = "nsrun-test-registry", "nsrun-test-issuer"

    def __init__(self, d: str, users: dict[str, str]) -> None:
        os.makedirs(d, exist_ok=True)
        self.key, self.cert = os.path.join(d, "token.key"), os.path.join(d, "token.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", self.cert,
             "-days", "2", "-subj", "/CN=nsrun test token issuer"])
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], capture_output=True,
                             check=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.users = users
        self.requests: list[dict] = []
        super().__init__(_TokenHandler)

    def registry_config(self) -> dict:
        return {"realm": f"http://{self.host}/token", "service": self.service, "issuer": self.issuer,
                "rootcertbundle": self.cert}

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                             capture_output=True, check=True).stdout
        return f"{signing}.{_b64url(sig)}"


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        issuer: TokenIssuer = self.server.owner  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if issuer.users.get(name) != password:
                return self._reply(401, {"details": "incorrect username or password"})
            user = name
        issuer.requests.append({"user": user, "scope": query.get("scope", []), "service": query.get("service")})
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            granted = [a for a in actions.split(",") if a and (user or a == "pull")]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        token = issuer.sign({"iss": issuer.issuer, "sub": user or "", "aud": issuer.service, "exp": now + 300,
                             "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access})
        self._reply(200, {"token": token, "access_token": token, "expires_in": 300})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# -- fronts that misbehave ------------------------------------------------------------------------------------
class Front(_Threaded):
    """A proxy in front of ``backend`` (host:port, plain HTTP). ``mode``:

    - ``lie``: blob bodies come back with one byte changed; ``truncate``: half a blob body, then the connection
      closes; ``error500``: manifests answer 500;
    - ``redirect``: asks for basic auth (``creds``) like an htpasswd registry, and answers blob GETs with a 307 to
      ``storage`` (another Front, mode ``record``, which keeps the Authorization headers it saw in ``seen``).
    """

    def __init__(self, backend: str, mode: str, *, creds: tuple[str, str] | None = None,
                 storage: "Front | None" = None) -> None:
        self.backend, self.mode, self.creds, self.storage = backend, mode, creds, storage
        self.seen: list[str | None] = []
        self.targets: set[str] | None = None  # lie/truncate only about these blob digests (None: all)
        super().__init__(_FrontHandler)


class _FrontHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _front(self) -> Front:
        return self.server.owner  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        front = self._front()
        is_blob = "/blobs/sha256:" in self.path
        if front.mode == "record":
            front.seen.append(self.headers.get("Authorization"))
        if front.mode == "redirect":
            want = "Basic " + base64.b64encode(":".join(front.creds or ("", "")).encode()).decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="nsrun-front"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if is_blob and self.command == "GET":
                self.send_response(307)
                self.send_header("Location", f"http://{front.storage.host}{self.path}")  # type: ignore[union-attr]
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if front.mode == "error500" and "/manifests/" in self.path:
            body = b'{"errors":[{"code":"UNKNOWN","message":"storage backend exploded"}]}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        conn = http.client.HTTPConnection(front.backend, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
        conn.request(self.command, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if is_blob and front.targets is not None and self.path.rsplit("/", 1)[-1] not in front.targets:
            is_blob = False
        if is_blob and resp.status == 200 and front.mode == "lie":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if is_blob and resp.status == 200 and front.mode == "truncate":
            body = body[:len(body) // 2]
        self.wfile.write(body)


# -- images made here -----------------------------------------------------------------------------------------
def layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip'd tar of ``files`` (regular files, mode 0644) and its diff id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


class OciLayout:
    """An OCI image layout directory written by hand, for skopeo to push (``oci:DIR:TAG``)."""

    def __init__(self, d: str) -> None:
        self.dir = d
        os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(d, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs: list[dict] = []

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.dir, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, layers: list[dict[str, bytes]], *, arch: str = "amd64", variant: str | None = None,
              cmd: list[str] | None = None) -> dict:
        """An image of these layers; its manifest's descriptor (with platform)."""
        descs, diff_ids = [], []
        for files in layers:
            gz, diff_id = layer(files)
            descs.append(self.blob(gz, OCI_LAYER))
            diff_ids.append(diff_id)
        config = {"architecture": arch, "os": "linux", "config": {"Cmd": cmd or ["/bin/sh"], "Env": ["A=1"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}, "created": "2026-01-01T00:00:00Z"}
        if variant:
            config["variant"] = variant
        cdesc = self.blob(json.dumps(config).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc, "layers": descs}
        desc = self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)
        desc["platform"] = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        return desc

    def index(self, manifests: list[dict]) -> dict:
        return self.blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode(),
                         OCI_INDEX)

    def tag(self, desc: dict, name: str) -> None:
        entry = {k: v for k, v in desc.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.refs.append(entry)
        with open(os.path.join(self.dir, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def skopeo(*args: str, env: dict | None = None) -> str:
    """Run skopeo (the independent client) with no host policy or auth file in play."""
    return run(["skopeo", "--insecure-policy", *args], env={**os.environ, **(env or {})}).stdout
