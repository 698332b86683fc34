"""A small client for the OCI distribution spec (Docker Registry HTTP API v2), on stdlib ``http.client``.

``Registry(host)`` talks to one registry: ``ping()`` (``GET /v2/``, which also settles the scheme and the
authentication challenge), manifests (Docker schema 2, OCI manifests, manifest lists / OCI indexes; see
``select_platform``; a single manifest checked by ``check_platform``), blobs (streamed into ``Content`` and verified while they stream) and pushes (blob
``HEAD``, ``POST`` + ``PUT`` upload, manifest ``PUT``). ``login`` verifies credentials and stores them as
``docker login`` does.

Transport rules: HTTPS with the system trust store, plus ``ca_file`` and Docker's
``/etc/docker/certs.d/<host>/*.crt``. Plain HTTP only for loopback hosts and hosts listed in ``insecure``
(``--insecure-registry``: those may also present an unverified certificate); HTTPS is tried first and plain
HTTP only when the server does not speak TLS at all. Redirects (blob storage) are followed; the
``Authorization`` header is never sent to another host. Every failure is one typed line: NotFoundError for
an unknown repository, tag or blob; ``AuthError`` for 401/403; ``RegistryError`` for the rest (5xx, a
registry that is down, a malformed answer).
"""
from __future__ import annotations

import glob
import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
from typing import Any, BinaryIO, Iterable
from urllib.parse import urlencode, urljoin, urlsplit

from .._fields import Fields
from ..errors import ConfigError, NotFoundError, NsrunError
from .auth import (AuthError, Authorizer, Challenge, Credentials, load_credentials, parse_challenge,
                   save_credentials)
from .content import Content, check_digest, sha256_digest
from .reference import DOCKER_HUB, DOCKER_HUB_ENDPOINT, Platform

__all__ = ["Registry", "Transport", "RegistryError", "TLSError", "Manifest", "select_platform", "check_platform",
           "login", "verify_login", "AUTO",
           "DOCKER_MANIFEST", "DOCKER_LIST", "OCI_MANIFEST", "OCI_INDEX", "MANIFEST_TYPES", "INDEX_TYPES"]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
MAX_MANIFEST = 4 << 20
CHUNK = 1 << 20
AUTO = "auto"  # credentials: look them up in ~/.docker/config.json
CERTS_D = "/etc/docker/certs.d"


class RegistryError(NsrunError):
    """The registry cannot be reached or answered something other than what the protocol promises."""

    def __init__(self, message: str, *, status: int | None = None, errno: int | None = None) -> None:
        super().__init__(message, errno=errno)
        self.status = status


class TLSError(RegistryError):
    """The TLS handshake failed for another reason than an untrusted certificate (e.g. the server speaks
    plain HTTP)."""


def is_loopback(netloc: str) -> bool:
    host = urlsplit(f"//{netloc}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- transport ------------------------------------------------------------------------------------------------
class Response:
    """One HTTP answer: ``status``, ``headers``, ``url`` (after redirects), and a streaming body."""

    def __init__(self, raw: http.client.HTTPResponse, url: str) -> None:
        self.raw = raw
        self.status = raw.status
        self.reason = raw.reason
        self.headers = raw.headers
        self.url = url

    def read(self, n: int = -1) -> bytes:
        return self.raw.read() if n is None or n < 0 else self.raw.read(n)

    def readinto(self, buf: Any) -> int:
        """Like a file's; a body cut short ends early (the reader's size check names it truncated)."""
        try:
            return self.raw.readinto(buf)
        except http.client.IncompleteRead:
            return 0
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryError(f"{urlsplit(self.url).netloc}: the connection failed while reading: "
                                f"{getattr(exc, 'strerror', None) or exc}") from exc

    def read_limited(self, limit: int = MAX_MANIFEST) -> bytes:
        data = self.raw.read(limit + 1)
        if len(data) > limit:
            self.close()
            raise RegistryError(f"{self.url}: the answer is larger than {limit} bytes")
        return data

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """HTTP(S) connections kept alive per thread and host, TLS per the module's rules, redirects."""

    def __init__(self, *, insecure: Iterable[str] = (), ca_file: str | None = None, timeout: float = 60.0,
                 certs_dir: str = CERTS_D) -> None:
        self.insecure = frozenset(insecure)
        self.ca_file = ca_file
        self.timeout = timeout
        self.certs_dir = certs_dir
        self._local = threading.local()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lazy: set[str] = set()  # hosts whose context has not loaded the system's CAs yet
        self._lock = threading.Lock()

    def allows_http(self, netloc: str) -> bool:
        return netloc in self.insecure or is_loopback(netloc)

    def _context(self, netloc: str) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(netloc)
            if ctx is None:
                # create_default_context() without its load_default_certs(): parsing the system's CA bundle
                # costs 25-40 ms, for nothing where certificates are not checked (--insecure-registry) and
                # where a TLS probe may well find plain HTTP (loopback): there the CAs are loaded when a
                # handshake first fails verification, which is then made again (_retry_with_system_cas).
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                keylog = os.environ.get("SSLKEYLOGFILE")
                if keylog and not sys.flags.ignore_environment:  # as create_default_context()
                    ctx.keylog_filename = keylog
                if netloc in self.insecure:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                elif self.allows_http(netloc):
                    self._lazy.add(netloc)
                else:
                    ctx.load_default_certs()
                try:
                    if self.ca_file:
                        ctx.load_verify_locations(cafile=self.ca_file)
                    hostdir = os.path.join(self.certs_dir, netloc)
                    for ca in sorted(glob.glob(os.path.join(glob.escape(hostdir), "*.crt"))):
                        ctx.load_verify_locations(cafile=ca)
                    cert, key = os.path.join(hostdir, "client.cert"), os.path.join(hostdir, "client.key")
                    if os.path.isfile(cert) and os.path.isfile(key):
                        ctx.load_cert_chain(cert, key)
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigError(f"cannot load TLS certificates for {netloc}: {exc}") from exc
                self._contexts[netloc] = ctx
            return ctx

    def _retry_with_system_cas(self, netloc: str) -> bool:
        """Load the system's CAs into ``netloc``'s context if it was made without them; True if it was (the
        handshake that failed verification is worth making again)."""
        with self._lock:
            if netloc not in self._lazy:
                return False
            self._lazy.discard(netloc)
            self._contexts[netloc].load_default_certs()
            return True

    def _connection(self, scheme: str, netloc: str, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._local.__dict__.setdefault("pool", {})
        key = (scheme, netloc)
        conn, last = pool.get(key, (None, None))
        if conn is not None and not fresh and (last is None or last.isclosed()):
            return conn, True
        if conn is not None:
            conn.close()
        parts = urlsplit(f"//{netloc}")
        if scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout,
                                               context=self._context(netloc), blocksize=CHUNK)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout, blocksize=CHUNK)
        pool[key] = (conn, None)
        return conn, False

    def close(self) -> None:
        """Close this thread's connections."""
        for conn, _ in self._local.__dict__.pop("pool", {}).values():
            conn.close()

    def _send(self, method: str, url: str, headers: dict[str, str], body: Any) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise RegistryError(f"refusing to fetch {url}: not http(s)")
        if parts.scheme == "http" and not self.allows_http(parts.netloc):
            raise RegistryError(f"refusing plain HTTP to {parts.netloc}: not a loopback host and not listed "
                                f"as an insecure registry")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        replayable = body is None or isinstance(body, (bytes, bytearray))
        for attempt in (0, 1):
            conn, reused = self._connection(parts.scheme, parts.netloc, fresh=attempt > 0)
            try:
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                if attempt == 0 and self._retry_with_system_cas(parts.netloc):
                    continue
                raise RegistryError(f"TLS certificate of {parts.netloc} is not trusted: "
                                    f"{exc.verify_message or exc.reason}") from exc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused and replayable and attempt == 0:
                    continue  # a kept-alive connection the server had closed
                raise RegistryError(f"{parts.netloc} closed the connection: {exc}") from exc
            except ssl.SSLError as exc:
                conn.close()
                raise TLSError(f"TLS with {parts.netloc} failed: {exc.reason or exc}") from exc
            except socket.timeout as exc:
                conn.close()
                raise RegistryError(f"{parts.netloc} did not answer within {self.timeout:g} s") from exc
            except socket.gaierror as exc:
                conn.close()
                raise RegistryError(f"cannot resolve registry host {parts.hostname}: {exc.strerror}") from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise RegistryError(f"cannot reach registry {parts.netloc}: {why}",
                                    errno=getattr(exc, "errno", None)) from exc
            self._local.pool[(parts.scheme, parts.netloc)] = (conn, resp)
            return resp
        raise AssertionError("unreachable")

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None,
                follow: bool = True) -> Response:
        """Send one request; redirects are followed (at most 5), without ``Authorization`` across hosts."""
        headers = dict(headers or {})
        origin = urlsplit(url).netloc
        for _ in range(6):
            resp = self._send(method, url, headers, body)
            location = resp.getheader("Location")
            if not (follow and resp.status in (301, 302, 303, 307, 308) and location):
                return Response(resp, url)
            resp.read(MAX_MANIFEST)
            resp.close()
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                headers.pop("Authorization", None)
            if resp.status == 303 or method not in ("GET", "HEAD"):
                if body is not None and resp.status in (307, 308):
                    raise RegistryError(f"{origin} redirected an upload, which cannot be replayed")
                method, body = ("GET" if resp.status == 303 else method), (None if resp.status == 303 else body)
        raise RegistryError(f"{origin}: too many redirects")


# -- manifests ------------------------------------------------------------------------------------------------
class Manifest(Fields):
    """A manifest or index as fetched: ``digest`` (of ``raw``, the exact bytes), ``media_type``, ``data``."""

    __slots__ = ("digest", "media_type", "raw", "data")

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def parse_manifest(raw: bytes, content_type: str = "", what: str = "manifest") -> Manifest:
    """Decode and check a manifest or index; RegistryError when it is malformed or of an unsupported kind."""
    def bad(why: str) -> RegistryError:
        return RegistryError(f"{what}: malformed manifest: {why}")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    if data.get("schemaVersion") == 1:
        raise RegistryError(f"{what}: Docker schema 1 manifests are deprecated and not supported")
    media_type = data.get("mediaType") or content_type.split(";")[0].strip()
    if media_type not in MANIFEST_TYPES + INDEX_TYPES:
        media_type = OCI_INDEX if "manifests" in data else OCI_MANIFEST if "layers" in data else media_type
    if media_type not in MANIFEST_TYPES + INDEX_TYPES:
        raise RegistryError(f"{what}: unsupported manifest type {media_type or 'unknown'!r}")
    if data.get("schemaVersion") != 2:
        raise bad("schemaVersion is not 2")
    try:
        descriptors = data["manifests"] if media_type in INDEX_TYPES else [data["config"], *data["layers"]]
        for d in descriptors:
            check_digest(d["digest"])
            if not isinstance(d["size"], int) or d["size"] < 0:
                raise ValueError("a negative or non-integer size")
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise bad(f"a bad descriptor ({exc})") from None
    return Manifest(sha256_digest(raw), media_type, raw, data)


def select_platform(index: Manifest, platform: Platform, what: str = "image") -> dict:
    """The index entry for ``platform``; NotFoundError naming the platforms there are when none matches."""
    available = []
    for entry in index.data["manifests"]:
        p = Platform.from_json(entry.get("platform") or {})
        if p.os == "unknown" or not p.os:
            continue  # attestations and other non-images
        if platform.matches(p):
            return entry
        available.append(str(p))
    raise NotFoundError(f"{what}: no matching manifest for {platform} in the manifest list entries "
                        f"(available: {', '.join(available) or 'none'})")


def check_platform(config: dict, platform: Platform, what: str = "image") -> None:
    """A single-platform image (no index) must be for ``platform``, as its config says (containerd refuses it
    too); NotFoundError otherwise. A config that names no os and architecture (a hand-made image) is taken."""
    have = Platform.from_json(config)
    if have.os and have.architecture and not platform.matches(have):
        raise NotFoundError(f"{what}: no matching manifest for {platform}: the image is for {have} only")


# -- the client -----------------------------------------------------------------------------------------------
class Registry:
    """One registry host (``host[:port]``). ``credentials``: a ``Credentials``, None (anonymous) or ``AUTO``
    (what ``docker login`` stored). Safe to share between threads."""

    def __init__(self, host: str, *, credentials: Credentials | str | None = AUTO, insecure: Iterable[str] = (),
                 ca_file: str | None = None, transport: Transport | None = None) -> None:
        self.host = host
        creds = load_credentials(host) if credentials == AUTO else credentials
        self.transport = transport or Transport(insecure=insecure, ca_file=ca_file)
        self.auth = Authorizer(host, creds if isinstance(creds, Credentials) else None, self._fetch_token)
        self._base: str | None = None
        self._lock = threading.Lock()

    # -- basics
    def ping(self) -> Challenge | None:
        """``GET /v2/``: settles HTTPS or HTTP and learns the challenge (None: the registry is open)."""
        with self._lock:
            if self._base is None:
                self._base = self._probe()
        return self.auth.challenge

    def _probe(self) -> str:
        schemes = ["https", "http"] if self.transport.allows_http(self.host) else ["https"]
        for scheme in schemes:
            base = f"{scheme}://{self.host}"
            try:
                resp = self.transport.request("GET", f"{base}/v2/")
            except TLSError:
                if scheme == "https" and len(schemes) > 1:
                    continue  # it does not speak TLS: plain HTTP is allowed here
                raise
            with resp:
                resp.read_limited()
            if resp.status == 401:
                self.auth._challenge = _challenge_of(resp)
            elif resp.status != 200:
                raise RegistryError(f"{self.host} is not a registry (GET /v2/ answered {resp.status} "
                                    f"{resp.reason})", status=resp.status)
            return base
        raise AssertionError("unreachable")

    def _fetch_token(self, realm: str, query: dict[str, str], creds: Credentials | None) -> dict[str, Any]:
        headers = {"Authorization": creds.basic()} if creds else {}
        sep = "&" if "?" in realm else "?"
        with self.transport.request("GET", f"{realm}{sep}{urlencode(query)}", headers=headers) as resp:
            body = resp.read_limited()
        if resp.status in (401, 403):
            raise AuthError(f"{self.host}: the token service refused the credentials ({resp.status} "
                            f"{resp.reason}{': ' + _message(body) if _message(body) else ''})")
        if resp.status != 200:
            raise AuthError(f"{self.host}: the token service answered {resp.status} {resp.reason}")
        try:
            return json.loads(body)
        except ValueError:
            raise AuthError(f"{self.host}: the token service answered something that is not JSON") from None

    def call(self, method: str, path: str, scope: str, *, what: str, headers: dict[str, str] | None = None,
             body: Any = None, ok: tuple[int, ...] = (200,)) -> Response:
        """One authorized request to ``path`` (under ``/v2/``, or an absolute URL); answers 401 challenges
        once; a status outside ``ok`` raises the typed error for it, named by ``what``."""
        self.ping()
        url = path if "://" in path else f"{self._base}{path}"
        headers = dict(headers or {})
        auth = self.auth.header(scope)
        if auth:
            headers["Authorization"] = auth
        resp = self.transport.request(method, url, headers=headers, body=body)
        if resp.status == 401 and _rewind(body):
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.read_limited()
            resp.close()
            headers["Authorization"] = self.auth.answer(challenge, scope)
            resp = self.transport.request(method, url, headers=headers, body=body)
        if resp.status not in ok:
            raise self._error(resp, what, method)
        return resp

    def _error(self, resp: Response, what: str, method: str) -> NsrunError:
        body = b"" if method == "HEAD" else resp.read_limited()
        resp.close()
        msg = _message(body)
        if resp.status == 404:
            return NotFoundError(f"{what}: {msg or 'not found'}")
        if resp.status in (401, 403):
            hint = "" if self.auth.creds else f" (no credentials: use `nsrun login {self.host}`)"
            return AuthError(f"{what}: {msg or 'unauthorized'}{hint}")
        return RegistryError(f"{what}: registry {self.host} answered {resp.status} {resp.reason}"
                             f"{': ' + msg if msg else ''}", status=resp.status)

    # -- pulling
    def get_manifest(self, repo: str, reference: str, *, what: str | None = None) -> Manifest:
        """The manifest or index ``repo`` has under a tag or digest; a digest is verified."""
        what = what or f"{self.host}/{repo}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        with self.call("GET", f"/v2/{repo}/manifests/{reference}", _scope(repo), what=what,
                       headers={"Accept": _ACCEPT}) as resp:
            raw = resp.read_limited()
        manifest = parse_manifest(raw, resp.headers.get("Content-Type", ""), what)
        header = resp.headers.get("Docker-Content-Digest")
        for promised in (reference if reference.startswith("sha256:") else None, header):
            if promised and promised != manifest.digest:
                raise RegistryError(f"{what}: the manifest's digest is {manifest.digest}, not {promised}")
        return manifest

    def open_blob(self, repo: str, digest: str) -> Response:
        """A blob's bytes as a stream (the caller verifies; ``fetch_blob`` does)."""
        check_digest(digest)
        return self.call("GET", f"/v2/{repo}/blobs/{digest}", _scope(repo), what=f"{self.host}/{repo}@{digest}")

    def fetch_blob(self, repo: str, descriptor: dict, content: Content) -> str:
        """Stream one blob into ``content``, verified against the descriptor's digest and size."""
        digest, size = descriptor["digest"], descriptor.get("size")
        with self.open_blob(repo, digest) as resp, content.writer(digest, size) as w:
            buf = memoryview(bytearray(CHUNK))
            while n := resp.readinto(buf):
                w.write(buf[:n])
        return digest

    # -- pushing
    def has_blob(self, repo: str, digest: str) -> bool:
        resp = self.call("HEAD", f"/v2/{repo}/blobs/{digest}", _scope(repo, push=True),
                         what=f"{self.host}/{repo}@{digest}", ok=(200, 404))
        resp.close()
        return resp.status == 200

    def upload_blob(self, repo: str, digest: str, size: int, fileobj: BinaryIO) -> None:
        """A monolithic upload: ``POST`` for a session, ``PUT <location>?digest=`` with the bytes."""
        what = f"{self.host}/{repo}@{digest}"
        scope = _scope(repo, push=True)
        with self.call("POST", f"/v2/{repo}/blobs/uploads/", scope, what=what, ok=(202,),
                       headers={"Content-Length": "0"}) as resp:
            resp.read_limited()
            location = resp.headers.get("Location")
        if not location:
            raise RegistryError(f"{what}: the registry started an upload without a Location")
        url = urljoin(f"{self._base}/v2/{repo}/blobs/uploads/", location)
        url += ("&" if "?" in url else "?") + urlencode({"digest": digest})
        with self.call("PUT", url, scope, what=what, ok=(201, 204), body=fileobj,
                       headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}) as resp:
            resp.read_limited()

    def put_manifest(self, repo: str, reference: str, media_type: str, raw: bytes) -> str:
        """``PUT`` a manifest under a tag (or its digest); the digest the registry stored."""
        what = f"{self.host}/{repo}:{reference}"
        with self.call("PUT", f"/v2/{repo}/manifests/{reference}", _scope(repo, push=True), what=what,
                       ok=(200, 201), body=raw, headers={"Content-Type": media_type}) as resp:
            resp.read_limited()
        digest = sha256_digest(raw)
        stored = resp.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise RegistryError(f"{what}: the registry stored {stored}, not {digest}")
        return digest


def _scope(repo: str, push: bool = False) -> str:
    return f"repository:{repo}:{'pull,push' if push else 'pull'}"


def _challenge_of(resp: Response) -> Challenge | None:
    return parse_challenge(resp.headers.get("WWW-Authenticate", ""))


def _rewind(body: Any) -> bool:
    """Whether a request with this body can be sent again (after a 401)."""
    if body is None or isinstance(body, (bytes, bytearray)):
        return True
    try:
        body.seek(0)
        return True
    except (AttributeError, OSError, ValueError):
        return False


def _message(body: bytes) -> str:
    """The registry's error message: ``{"errors": [{"code", "message"}]}`` or a short plain text."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(str(e.get("message") or e.get("code") or "").strip() for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace").strip()
        return text.splitlines()[0][:200] if text and "<" not in text[:1] else ""


def verify_login(host: str, username: str, password: str, *, insecure: Iterable[str] = (),
                 ca_file: str | None = None) -> None:
    """Check ``username``/``password`` against ``host`` (a ping, then a token or an authorized ``GET /v2/``);
    AuthError when the registry refuses them. Nothing is stored (the daemon's ``POST /auth`` uses this)."""
    creds = Credentials(username, password)
    endpoint = DOCKER_HUB_ENDPOINT if host in (DOCKER_HUB, "index.docker.io") else host
    reg = Registry(endpoint, credentials=creds, insecure=insecure, ca_file=ca_file)
    try:
        challenge = reg.ping()
        if challenge is not None and challenge.scheme == "bearer":
            reg.auth.token(None)
        elif challenge is not None:
            resp = reg.call("GET", "/v2/", "", what=f"login to {host}")
            resp.read_limited()
            resp.close()
    finally:
        reg.transport.close()


def login(host: str, username: str, password: str, *, insecure: Iterable[str] = (), ca_file: str | None = None,
          config_path: str | None = None) -> str:
    """Verify ``username``/``password`` against ``host`` and store them in Docker's config.json (mode 0600);
    the file's path. AuthError when the registry refuses them (nothing is written then)."""
    verify_login(host, username, password, insecure=insecure, ca_file=ca_file)
    return save_credentials(host, Credentials(username, password), config_path)
