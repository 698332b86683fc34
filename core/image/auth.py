"""Registry credentials and authorization: Docker's ``config.json``, the ``WWW-Authenticate`` challenge,
basic auth, and bearer tokens from the challenge's ``realm``.

Credentials live where ``docker login`` writes them: ``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``, ``{"auths": {"<host>": {"auth": base64("user:password")}}}``; Docker Hub's entry
is keyed ``https://index.docker.io/v1/``. Credential helpers (``credsStore``) are not run.

``Authorizer`` answers one question per request: which ``Authorization`` header to send for a scope
(``repository:<name>:pull[,push]``), learning from the registry's 401 challenges. A Bearer challenge is
answered by a GET of ``realm?service=..&scope=..`` (with basic credentials when there are some), whose JSON
``token`` (or ``access_token``) is cached per scope until it expires.
"""
from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from typing import Any, Callable

from ..errors import ConfigError

__all__ = ["Credentials", "Challenge", "Authorizer", "AuthError", "parse_challenge", "docker_config_path",
           "load_credentials", "save_credentials", "remove_credentials", "config_key", "registry_host",
           "encode_registry_auth", "decode_registry_auth"]

HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", HUB_KEY)


class AuthError(ConfigError):
    """The registry (or its token service) refused the credentials, or asked for some and there are none."""


class Credentials:
    """A user name and password (or token) for one registry."""

    __slots__ = ("username", "password")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def __repr__(self) -> str:  # never the password
        return f"Credentials({self.username!r}, ***)"


# -- ~/.docker/config.json ------------------------------------------------------------------------------------
def docker_config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def config_key(host: str) -> str:
    """The ``auths`` key Docker uses for a registry host (Hub's is its v1 URL)."""
    return HUB_KEY if host in _HUB_NAMES else host


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"cannot read {path}: not a JSON object")
    return data


def _host_of(key: str) -> str:
    key = re.sub(r"^[a-z]+://", "", key)
    return key.split("/", 1)[0]


def load_credentials(host: str, path: str | None = None) -> Credentials | None:
    """The credentials ``docker login`` stored for ``host`` (keys with a scheme or path match too)."""
    path = path or docker_config_path()
    auths = _read_config(path).get("auths") or {}
    wanted = {config_key(host), host} | (set(_HUB_NAMES) if host in _HUB_NAMES else set())
    for key, entry in auths.items():
        if (key in wanted or _host_of(key) in wanted) and isinstance(entry, dict):
            if entry.get("auth"):
                try:
                    user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise ConfigError(f"{path}: the auth entry for {key} is not base64 user:password") from None
                if sep:
                    return Credentials(user, password)
            if entry.get("username") and entry.get("password"):
                return Credentials(entry["username"], entry["password"])
    return None


def _write_config(path: str, data: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_credentials(host: str, creds: Credentials, path: str | None = None) -> str:
    """Store ``creds`` for ``host`` as ``docker login`` does (file mode 0600, other entries kept); the path."""
    path = path or docker_config_path()
    data = _read_config(path)
    auths = data.setdefault("auths", {})
    auths[config_key(host)] = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
    _write_config(path, data)
    return path


def remove_credentials(host: str, path: str | None = None) -> bool:
    """Forget ``host``'s credentials; False when there were none."""
    path = path or docker_config_path()
    data = _read_config(path)
    auths = data.get("auths") or {}
    keys = [k for k in auths if k in (config_key(host), host) or _host_of(k) == host]
    for k in keys:
        del auths[k]
    if keys:
        _write_config(path, data)
    return bool(keys)


def registry_host(server: str) -> str:
    """``https://host:port/v1/`` or ``host:port`` -> ``host:port`` (Hub's names stay as Docker keys them)."""
    host = re.sub(r"^[a-zA-Z]+://", "", server.strip()).split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


# -- X-Registry-Auth (the Engine API's credentials header) ----------------------------------------------------
def encode_registry_auth(creds: Credentials | None, server: str = "") -> str:
    """The ``X-Registry-Auth`` value the docker CLI sends: base64url of ``{"username", "password",
    "serveraddress"}`` (``{}`` when anonymous)."""
    data = {} if creds is None else {"username": creds.username, "password": creds.password,
                                     "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_registry_auth(value: str | None) -> Credentials | None:
    """Credentials from an ``X-Registry-Auth`` header (base64url JSON, padded or not; the older plain base64
    too): ``username``/``password``, or ``auth`` (base64 ``user:password``), or an ``identitytoken`` (sent
    as the password of ``<token>``, as credential helpers store it). None when empty or anonymous;
    ConfigError when malformed."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        std = value.replace("-", "+").replace("_", "/").rstrip("=")
        raw = base64.b64decode(std + "=" * (-len(std) % 4))
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("invalid X-Registry-Auth header: not base64url-encoded JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("invalid X-Registry-Auth header: not a JSON object")
    user, password = data.get("username") or "", data.get("password") or ""
    if not (user or password) and isinstance(data.get("auth"), str) and data["auth"]:
        try:
            user, _, password = base64.b64decode(data["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ConfigError("invalid X-Registry-Auth header: auth is not base64 user:password") from None
    if data.get("identitytoken"):
        return Credentials(user or "<token>", str(data["identitytoken"]))
    if not (isinstance(user, str) and isinstance(password, str)):
        raise ConfigError("invalid X-Registry-Auth header: username and password must be strings")
    return Credentials(user, password) if user or password else None


# -- challenges -----------------------------------------------------------------------------------------------
class Challenge:
    """One ``WWW-Authenticate`` challenge: ``scheme`` (lower case: ``bearer``, ``basic``) and its params."""

    __slots__ = ("scheme", "params")

    def __init__(self, scheme: str, params: dict[str, str]) -> None:
        self.scheme = scheme
        self.params = params

    def __repr__(self) -> str:
        return f"Challenge({self.scheme!r}, {self.params!r})"


_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="https://auth",service="reg",scope="repository:x:pull"`` -> Challenge; None if empty."""
    header = (header or "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1).lower()] = value
        pos = m.end()
    return Challenge(scheme.lower(), params)


# -- authorization --------------------------------------------------------------------------------------------
TokenFetcher = Callable[[str, dict[str, str], "Credentials | None"], dict[str, Any]]


class Authorizer:
    """Chooses the ``Authorization`` header per scope for one registry host.

    ``fetch_token(realm, query, creds)`` is the transport's GET of the token endpoint (the registry client
    supplies it); it returns the decoded JSON or raises AuthError. Thread-safe: layers are fetched in parallel.
    """

    def __init__(self, host: str, creds: Credentials | None, fetch_token: TokenFetcher) -> None:
        self.host = host
        self.creds = creds
        self._fetch_token = fetch_token
        self._challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def header(self, scope: str) -> str | None:
        """The header to send now for ``scope`` (None before any challenge: registries may be open)."""
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return self.creds.basic() if self.creds else None
        if ch.scheme == "bearer":
            with self._lock:
                token, expires = self._tokens.get(scope, ("", 0.0))
            if token and time.monotonic() < expires:
                return f"Bearer {token}"
        return None

    def answer(self, header: str, scope: str) -> str:
        """Learn from a 401's ``WWW-Authenticate`` and return the header to retry with (AuthError when there
        is nothing to answer with)."""
        ch = parse_challenge(header)
        if ch is None:
            raise AuthError(f"{self.host}: authentication required, and the registry sent no challenge")
        self._challenge = ch
        if ch.scheme == "basic":
            if not self.creds:
                raise AuthError(f"{self.host}: authentication required (no credentials: use `nsrun login "
                                f"{self.host}`)")
            return self.creds.basic()
        if ch.scheme != "bearer":
            raise AuthError(f"{self.host}: unsupported authentication scheme {ch.scheme!r}")
        return f"Bearer {self.token(scope)}"

    def token(self, scope: str | None) -> str:
        """A fresh bearer token for ``scope`` (None: no scope, as ``login`` asks) from the challenge's realm."""
        ch = self._challenge
        if ch is None or ch.scheme != "bearer" or not ch.params.get("realm"):
            raise AuthError(f"{self.host}: the registry's bearer challenge has no realm")
        query = {k: v for k, v in (("service", ch.params.get("service", "")), ("scope", scope or "")) if v}
        if self.creds:
            query["account"] = self.creds.username
        reply = self._fetch_token(ch.params["realm"], query, self.creds)
        token = reply.get("token") or reply.get("access_token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self.host}: the token service at {ch.params['realm']} returned no token")
        try:
            lifetime = max(int(reply.get("expires_in") or 60), 60)
        except (TypeError, ValueError):
            lifetime = 60
        if scope:
            with self._lock:
                self._tokens[scope] = (token, time.monotonic() + lifetime - 10)
        return token
