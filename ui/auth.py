"""Who a request comes from: a Bearer token checked against the token store, or, on a server without tokens,
the client's address.

When any token exists every route but ``/api/health`` needs one (401 without a valid one; the token is never
logged). Limits count per principal: per token, or per address on an open server. ``X-Forwarded-For`` and
``X-Client-Id`` are believed only when the connection comes from an address given with ``--trusted-proxy``;
from anyone else they would let a client pick a fresh identity per request and escape its limit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from docqa.qa.errors import NotAuthenticatedError, SettingsError
from docqa.ui.tokens import Principal, TokenStore

bearer = HTTPBearer(auto_error=False, description="a token from `docqa token create` (needed once any exists)")


def _networks(items: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for it in items:
        try:
            out.append(ipaddress.ip_network(it.strip(), strict=False))
        except ValueError:
            raise SettingsError(f"--trusted-proxy {it!r}: not an IP address or network") from None
    return tuple(out)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Gate:
    """Authentication and client identity for one server."""

    def __init__(self, tokens: TokenStore | None = None, trusted_proxies: Iterable[str] = ()) -> None:
        self.tokens = tokens
        self.trusted = _networks(trusted_proxies)

    @property
    def required(self) -> bool:
        """Whether requests need a token (true as soon as one exists)."""
        return bool(self.tokens)

    def _trusted(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def address(self, request: Request) -> str:
        """The client's address: the peer, or the nearest untrusted hop of X-Forwarded-For behind a trusted
        proxy."""
        host = request.client.host if request.client else "unknown"
        if not self._trusted(host):
            return host
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else host

    def authenticate(self, token: str | None, address: str) -> Principal:
        """The principal of a token (or of the address on an open server); NotAuthenticatedError otherwise."""
        if self.tokens is None or not self.tokens:
            return Principal.open_server(address)
        if not token:
            raise NotAuthenticatedError("a token is required: send Authorization: Bearer <token>")
        who = self.tokens.verify(token)
        if who is None:
            raise NotAuthenticatedError("invalid or revoked token")
        return who

    def principal(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        token = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
        return self.authenticate(token, self.address(request))

    def limit_key(self, request: Request, who: Principal) -> str:
        """What the per-client limits count: the token, or the address (or a trusted proxy's X-Client-Id)."""
        if self.required:
            return who.token_id
        host = request.client.host if request.client else "unknown"
        if self._trusted(host) and request.headers.get("x-client-id"):
            return "client:" + request.headers["x-client-id"][:200]
        return "addr:" + self.address(request)
