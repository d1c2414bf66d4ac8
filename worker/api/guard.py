"""The API's front door: Host, Origin, Content-Type and the bearer token, checked before any route.

- ``Host`` must name loopback (``localhost``, ``127.0.0.1``, ``[::1]``, any port), the address the
  API was bound to, or one of ``TITAN_API_ALLOWED_HOSTS``: anything else gets 421, so a web page
  whose DNS name was re-pointed at this machine (DNS rebinding) is not answered.
- A request whose ``Origin`` differs from its own ``Host`` gets 403 (another site's page). No CORS
  header is ever sent, so browsers keep other sites from reading answers too.
- ``POST``/``PUT``/``PATCH``/``DELETE`` need ``Content-Type: application/json`` (415), even
  without a body: a browser cannot send that type across sites without a CORS preflight, which
  Titan never answers.
- With ``TITAN_API_TOKEN`` set, everything but ``/health`` and the API docs needs
  ``Authorization: Bearer <token>`` (401). Ops routes may present ``X-OPS-TOKEN`` instead, which the
  route itself checks (worker/api/deps.py). ``/health`` without the token answers only
  ``{"status": "ok"}``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from worker.config import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
# Readable without the token: the liveness answer and the API's own description.
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPS_PREFIX = "/api/ops/"


def is_loopback_host(host: str) -> bool:
    """Does binding ``host`` keep the API on this machine?"""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None] | None:
    """``'Example.com:3000'`` -> ``('example.com', 3000)``; None when it is not a host."""
    try:
        parts = urlsplit("//" + value)
        name, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not name or parts.username is not None or parts.path or parts.query:
        return None
    return name.rstrip("."), port


class HostPolicy:
    """Which Host names the API answers: loopback, the bind address, TITAN_API_ALLOWED_HOSTS."""

    def __init__(self, allowed: Iterable[str], bind_host: str | None = None) -> None:
        names = {_host_name(n) for n in allowed if n.strip()}
        if bind_host and bind_host.strip("[]") not in WILDCARD_BINDS:
            names.add(bind_host.strip("[]").lower())
        self.exact = {n for n in names if not n.startswith("*.")}
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    def allows(self, name: str) -> bool:
        name = name.lower()
        if name in LOOPBACK_NAMES or name in self.exact or name.endswith(self.suffixes or ("\0",)):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False


def _host_name(entry: str) -> str:
    """An allowed-hosts entry without a port: ``Titan.example.com:443`` -> ``titan.example.com``."""
    entry = entry.strip().lower()
    if entry.startswith("*."):
        return entry.rstrip(".")
    parsed = split_host(entry)
    return parsed[0] if parsed else entry.strip("[]").rstrip(".")


def same_secret(given: str, expected: str) -> bool:
    # Constant time, so answer timings do not tell how much of a guess was right.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class Guard:
    """Pure ASGI middleware applying the rules above; sets ``request.state.api_authenticated``."""

    def __init__(self, app: ASGIApp, settings: Settings, bind_host: str | None = None) -> None:
        self.app = app
        self.hosts = HostPolicy(settings.api_allowed_hosts, bind_host)
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        self.token = token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers") or []:
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, detail, extra = refusal
            await _answer(send, status, detail, extra)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]
                 ) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        host_header = headers.get("host", "")
        host = split_host(host_header)
        if host is None:
            return 400, "missing or malformed Host header", []
        if not self.hosts.allows(host[0]):
            return (421, f"this API does not answer for host {host[0][:100]!r}; add it to "
                         "TITAN_API_ALLOWED_HOSTS if it is yours", [])
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host_header):
            return 403, "cross-origin requests are refused (the Origin is not this API)", []
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        authenticated = self._authenticated(headers)
        if authenticated is False:
            return 401, "wrong bearer token", [(b"www-authenticate", b"Bearer")]
        scope.setdefault("state", {})["api_authenticated"] = bool(authenticated)
        if not authenticated and path not in OPEN_PATHS and not (
                path.startswith(OPS_PREFIX) and "x-ops-token" in headers):
            return (401, "missing Authorization: Bearer <TITAN_API_TOKEN>",
                    [(b"www-authenticate", b"Bearer")])
        if method in CHANGING_METHODS:
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "application/json":
                return 415, "requests that change something need Content-Type: application/json", []
        return None

    def _authenticated(self, headers: dict[str, str]) -> bool | None:
        """True: the right token (or none is configured); None: no token given; False: wrong."""
        if self.token is None:
            return True
        given = headers.get("authorization")
        if given is None:
            return None
        scheme, _, credential = given.partition(" ")
        return scheme.lower() == "bearer" and same_secret(credential.strip(), self.token)


def _same_origin(origin: str, host_header: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.netloc)
            and parts.netloc.lower() == host_header.strip().lower())


async def _answer(send: Send, status: int, detail: str,
                  extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})
