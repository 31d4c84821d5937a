"""API tokens: who may do what, in which collections.

A token is printed once, when it is created (``docqa token create``); the store keeps only a random salt and the
SHA-256 of salt + secret, so the file never holds a usable token. Tokens are 256-bit random secrets (no
dictionary to guess from), so one salted hash is as strong as a slow password hash here and costs microseconds
per request. A token reads ``dq_<id>_<secret>``: the id finds the record, the secret is compared in constant time.

Roles: ``reader`` asks, lists documents, opens sources and gives feedback; ``editor`` also uploads and deletes;
``admin`` does everything in every collection. A reader or editor token may be limited to named collections.
The store is a JSON file (mode 0600) written atomically; a running server re-reads it when it changes, so a
revoked token stops working without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, get_args

from docqa.qa.errors import SettingsError

Role = Literal["reader", "editor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
Action = Literal["read", "edit"]
_ALLOWED: dict[str, frozenset[str]] = {
    "reader": frozenset({"read"}),
    "editor": frozenset({"read", "edit"}),
    "admin": frozenset({"read", "edit"}),
}
_TOKEN = re.compile(r"^dq_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
NAME = re.compile(r"^[\w.@+-]{1,64}$")  # token and collection names
TOKENS_FILE = "tokens.json"


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a token's record, or an address on a server without tokens."""

    token_id: str
    name: str
    role: Role
    collections: tuple[str, ...] | None = None  # None: every collection

    def may(self, action: Action) -> bool:
        return action in _ALLOWED[self.role]

    def sees(self, collection: str) -> bool:
        return self.role == "admin" or self.collections is None or collection in self.collections

    @classmethod
    def open_server(cls, address: str) -> Principal:
        """Anyone on a server without tokens: may do everything (today's behaviour of a loopback server)."""
        return cls(token_id=f"addr:{address}", name=f"anonymous@{address}", role="admin")


@dataclass
class TokenRecord:
    token_id: str
    name: str
    role: Role
    salt: str
    digest: str
    collections: list[str] | None = None
    created: float = field(default_factory=time.time)

    def principal(self) -> Principal:
        cols = tuple(self.collections) if self.collections is not None else None
        return Principal(self.token_id, self.name, self.role, cols)

    def public(self) -> dict:
        """What ``token list`` shows: never the salt or the digest."""
        return {
            "id": self.token_id,
            "name": self.name,
            "role": self.role,
            "collections": self.collections if self.collections is not None else "all",
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)),
        }


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


class TokenStore:
    """The tokens of one server, in a JSON file (salted hashes only)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._records: dict[str, TokenRecord] = {}
        self._stamp: tuple[int, int, int] | None = None

    # ------------------------------------------------------------ reading

    def _load(self) -> dict[str, TokenRecord]:
        """The records, re-read when the file changed (a revocation from the CLI takes effect at once)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._records, self._stamp = {}, None
            return self._records
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                records = {r["token_id"]: TokenRecord(**r) for r in raw.get("tokens", [])}
            except (OSError, ValueError, TypeError, KeyError) as exc:
                # refusing everyone is safer than serving openly on a damaged token file
                raise SettingsError(f"{self.path}: unreadable token file ({exc}); fix or remove it") from None
            self._records, self._stamp = records, stamp
        return self._records

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._load())

    def records(self) -> list[TokenRecord]:
        with self._lock:
            return sorted(self._load().values(), key=lambda r: r.created)

    def verify(self, token: str) -> Principal | None:
        """The principal of a token, or None for an unknown, revoked or malformed one (constant-time compare)."""
        m = _TOKEN.match(token.strip())
        with self._lock:
            records = self._load()
        if not m:
            return None
        rec = records.get(m.group(1))
        if rec is None:
            _digest("00" * 16, m.group(2))  # the same work for an unknown id as for a known one
            return None
        ok = hmac.compare_digest(_digest(rec.salt, m.group(2)), rec.digest)
        return rec.principal() if ok else None

    def by_name(self, name: str) -> Principal | None:
        with self._lock:
            rec = next((r for r in self._load().values() if r.name == name), None)
        return rec.principal() if rec else None

    # ------------------------------------------------------------ changes

    def create(self, role: str, collections: list[str] | None = None, name: str | None = None) -> tuple[str, dict]:
        """A new token (returned once, never stored) and its public record."""
        if role not in ROLES:
            raise SettingsError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        if name is not None and not NAME.match(name):
            raise SettingsError("a token name is 1-64 letters, digits or . _ @ + -")
        if collections is not None:
            collections = sorted(set(collections))
            if not collections or not all(NAME.match(c) for c in collections):
                raise SettingsError("collection names are 1-64 letters, digits or . _ @ + -")
        with self._lock:
            records = dict(self._load())
            token_id = secrets.token_hex(6)
            while token_id in records:
                token_id = secrets.token_hex(6)
            name = name or f"{role}-{token_id[:6]}"
            if any(r.name == name for r in records.values()):
                raise SettingsError(f"a token named {name!r} exists already; choose another --name")
            secret, salt = secrets.token_urlsafe(32), secrets.token_hex(16)
            rec = TokenRecord(token_id, name, role, salt, _digest(salt, secret), collections)  # type: ignore[arg-type]
            records[token_id] = rec
            self._save(records)
        return f"dq_{token_id}_{secret}", rec.public()

    def revoke(self, which: str) -> dict:
        """Revoke a token by id or name; SettingsError when there is none."""
        with self._lock:
            records = dict(self._load())
            rec = records.get(which) or next((r for r in records.values() if r.name == which), None)
            if rec is None:
                raise SettingsError(f"no token with id or name {which!r} (see: docqa token list)")
            del records[rec.token_id]
            self._save(records)
        return rec.public()

    def _save(self, records: dict[str, TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"tokens": [asdict(r) for r in records.values()]}, indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._records, self._stamp = records, None


__all__ = ["NAME", "ROLES", "TOKENS_FILE", "Action", "Principal", "Role", "TokenRecord", "TokenStore"]
