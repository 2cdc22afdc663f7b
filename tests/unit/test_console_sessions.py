"""Console sessions: the cookie is a signed random id (a tampered or foreign cookie is no
session), the API token never appears in it, idle sessions expire, CSRF compares exactly."""

from __future__ import annotations

from services.console import sessions
from services.console.sessions import SessionStore


def test_a_cookie_is_a_signed_id_and_tampering_or_another_key_is_refused() -> None:
    store = SessionStore()
    session, cookie = store.create("tok-cs-rep-0123456789abc", "rep-a", "cs_rep")
    assert "tok-cs-rep" not in cookie and store.get(cookie) is session
    sid, mac = cookie.rsplit(".", 1)
    assert store.get(f"{sid}x.{mac}") is None
    assert store.get(f"{sid}.{'0' * len(mac)}") is None
    assert SessionStore().get(cookie) is None  # another console's key
    assert store.get(None) is None and store.get("") is None
    store.drop(cookie)
    assert store.get(cookie) is None


def test_an_idle_session_expires_and_csrf_must_match(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = SessionStore()
    session, cookie = store.create("tok-cs-rep-0123456789abc", "rep-a", "cs_rep")
    assert store.csrf_ok(session.csrf, session.csrf)
    assert not store.csrf_ok(session.csrf, "") and not store.csrf_ok(session.csrf, session.csrf[:-1])
    now = sessions.time.monotonic()
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now + sessions.IDLE_SECONDS + 1)
    assert store.get(cookie) is None
