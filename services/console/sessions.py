"""Rep sessions kept in the console process: the browser holds only a random session id
in a signed, HttpOnly, SameSite=Strict cookie; the rep's API token never reaches the
browser. Each session has its own CSRF token, checked on every POST."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 3600


MAX_PREFETCHED = 24  # images held per rep (a case page shows 4-8)


@dataclass
class RepSession:
    """A signed-in rep."""

    sid: str
    token: str
    client_id: str
    role: str
    csrf: str
    flash: str = ""
    # Cases whose full ID number the rep asked for (audited by RevealIdNumber).
    revealed: set[str] = field(default_factory=set)
    # Where ID numbers are printed on document images, by document id.
    secret_boxes: dict[str, dict[str, list[tuple[float, float, float, float]]]] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    # Images of the case page just rendered, fetched (and audited) while the page was
    # built, held in memory until the browser asks for them: (case, evidence) ->
    # (content, media type, monotonic expiry). Taken once; never on disk.
    prefetched: dict[tuple[str, str], tuple[bytes, str, float]] = field(default_factory=dict)

    def keep_image(self, case_id: str, evidence_id: str, content: bytes, media: str, ttl: float = 30.0) -> None:
        now = time.monotonic()
        for key in [k for k, (_, _, until) in self.prefetched.items() if until < now]:
            self.prefetched.pop(key, None)
        if len(self.prefetched) < MAX_PREFETCHED:
            self.prefetched[(case_id, evidence_id)] = (content, media, now + ttl)

    def take_image(self, case_id: str, evidence_id: str) -> tuple[bytes, str] | None:
        got = self.prefetched.pop((case_id, evidence_id), None)
        if got is None or got[2] < time.monotonic():
            return None
        return got[0], got[1]


class SessionStore:
    """In-memory sessions (one console process; signing in again after a restart is
    the price of never writing tokens to disk)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._sessions: dict[str, RepSession] = {}
        self._lock = threading.Lock()

    def sign(self, value: str) -> str:
        mac = hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{value}.{mac}"

    def unsign(self, signed: str) -> str | None:
        value = signed.rpartition(".")[0]
        if not value or not hmac.compare_digest(self.sign(value), signed):
            return None
        return value

    def create(self, token: str, client_id: str, role: str) -> tuple[RepSession, str]:
        """A new session and its signed cookie value."""
        session = RepSession(secrets.token_urlsafe(24), token, client_id, role, secrets.token_urlsafe(24))
        with self._lock:
            self._sessions[session.sid] = session
        return session, self.sign(session.sid)

    def get(self, cookie: str | None) -> RepSession | None:
        """The live session of a cookie, or None (bad signature, idle or too old)."""
        sid = self.unsign(cookie or "")
        if sid is None:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.seen > IDLE_SECONDS or now - session.created > MAX_AGE_SECONDS:
                del self._sessions[sid]
                return None
            session.seen = now
            return session

    def drop(self, cookie: str | None) -> None:
        sid = self.unsign(cookie or "")
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)

    def csrf_ok(self, expected: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(expected, given or "")
