"""Callers, roles and API tokens.

Tokens are configured as `client_id:role:token` (or `client_id:role:sha256:<hex>` so
that the configuration never holds the token itself). Only SHA-256 digests are kept in
memory; comparison is constant-time. With mTLS, a client certificate's common name can
map to a role instead.
"""

from __future__ import annotations

import hashlib
import hmac
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason


class Role(StrEnum):
    """Caller roles; values are the names used in configuration."""

    ONBOARDING = "onboarding"
    CS_REP = "cs_rep"
    SCHEDULER = "scheduler"
    RISK = "risk"
    ADMIN = "admin"


MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Caller:
    """The authenticated client of the current call."""

    client_id: str
    role: Role


_current: ContextVar[Caller | None] = ContextVar("sellerverify_caller", default=None)
SYSTEM_CALLER = Caller("system", Role.ADMIN)


def current_caller() -> Caller:
    """The caller of the RPC being served (set by the interceptor)."""
    return _current.get() or SYSTEM_CALLER


def set_current_caller(caller: Caller | None) -> object:
    return _current.set(caller)


class ConfigError(ValueError):
    """Malformed authentication configuration."""


class TokenStore:
    """Maps bearer tokens (by SHA-256 digest) to callers."""

    def __init__(self) -> None:
        self._by_digest: dict[bytes, Caller] = {}

    def __len__(self) -> int:
        return len(self._by_digest)

    def add(self, client_id: str, role: str, token: str) -> None:
        caller = Caller(client_id, _role(role, client_id))
        if token.startswith("sha256:"):
            try:
                digest = bytes.fromhex(token[len("sha256:") :])
            except ValueError:
                raise ConfigError(f"client {client_id}: sha256 digest must be 64 hex characters") from None
            if len(digest) != 32:
                raise ConfigError(f"client {client_id}: sha256 digest must be 64 hex characters")
        else:
            if len(token) < MIN_TOKEN_LENGTH:
                raise ConfigError(f"client {client_id}: tokens must be at least {MIN_TOKEN_LENGTH} characters")
            digest = hashlib.sha256(token.encode()).digest()
        self._by_digest[digest] = caller

    def load_spec(self, spec: str) -> None:
        """Parse `client:role:token` items separated by commas or newlines."""
        for raw in spec.replace("\n", ",").split(","):
            item = raw.strip()
            if not item or item.startswith("#"):
                continue
            parts = item.split(":", 2)
            if len(parts) != 3:
                raise ConfigError("each token entry must be client_id:role:token")
            self.add(*parts)

    def load_file(self, path: Path) -> None:
        self.load_spec(path.read_text())

    def authenticate(self, token: str) -> Caller:
        digest = hashlib.sha256(token.encode()).digest()
        for known, caller in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return caller
        raise DomainError(Reason.CREDENTIALS_INVALID, "the API token is not recognised", ErrorKind.UNAUTHENTICATED)


def _role(name: str, client_id: str) -> Role:
    try:
        return Role(name.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ConfigError(f"client {client_id}: unknown role {name!r} (one of {allowed})") from None


def parse_cert_roles(spec: str) -> dict[str, Caller]:
    """`cn:role,...` → callers keyed by certificate common name."""
    out: dict[str, Caller] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        cn, _, role = item.partition(":")
        out[cn] = Caller(cn, _role(role, cn))
    return out
