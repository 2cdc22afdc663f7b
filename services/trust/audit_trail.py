"""The audit trail, read back: who read or decided what, when (filters, newest first, pages)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import invalid
from services.core.reasons import Reason
from services.platform.models import AuditEventRow

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass
class AuditPage:
    """One page and the token of the next ("" on the last page)."""

    events: list[AuditEventRow]
    next_page_token: str


def _fingerprint(*filters: object) -> str:
    return hashlib.sha256("|".join(str(f) for f in filters).encode()).hexdigest()[:12]


def list_events(
    session: Session,
    *,
    subject_id: str = "",
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> AuditPage:
    """Audit events matching every given filter, newest first."""
    if page_size < 0:
        raise invalid(Reason.INVALID_FIELD, "page.page_size must not be negative", "page.page_size")
    if since and until and since >= until:
        raise invalid(Reason.INVALID_FIELD, "since must be before until", "since")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fp = _fingerprint(subject_id, actor, action, since, until)
    q = select(AuditEventRow)
    if subject_id:
        q = q.where(AuditEventRow.subject_id == subject_id)
    if actor:
        q = q.where(AuditEventRow.actor == actor)
    if action:
        q = q.where(AuditEventRow.action == action)
    if since:
        q = q.where(AuditEventRow.at >= since)
    if until:
        q = q.where(AuditEventRow.at < until)
    if page_token:
        q = q.where(AuditEventRow.id < _decode(page_token, fp))
    rows = list(session.scalars(q.order_by(AuditEventRow.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    token = base64.urlsafe_b64encode(f"{rows[-1].id}|{fp}".encode()).decode().rstrip("=") if more else ""
    return AuditPage(rows, token)


def _decode(token: str, fp: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        last, got = raw.split("|")
        value = int(last)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        value, got = 0, ""
    if got != fp or value <= 0:
        raise invalid(
            Reason.INVALID_FIELD,
            "page.page_token is not a token from this listing; pass the previous page's next_page_token with "
            "the same filters, or leave it empty",
            "page.page_token",
        )
    return value
