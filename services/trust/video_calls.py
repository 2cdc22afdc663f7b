"""Video-call sessions of review cases, with the seller's one-time join link.

The join token is random (32 bytes, URL-safe), returned once when the call starts and
kept only as its SHA-256 digest. Redeeming it marks the call joined; a second
redemption, an expired or ended call, or a decided case is CALL_LINK_INVALID.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, invalid, not_found
from services.core.reasons import Reason
from services.platform.auth import Caller
from services.platform.models import ReviewCaseRow, VideoCallRow
from services.platform.records import new_id, utcnow

DEFAULT_TTL_MINUTES = 30
MAX_TTL_MINUTES = 120


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_call(
    session: Session, case: ReviewCaseRow, caller: Caller, *, reason: str, note: str, ttl_minutes: int
) -> tuple[VideoCallRow, str]:
    """Open a call session on an open case; returns it with the one-time join token.
    Calls still running on the case end (one live link per case)."""
    from services.trust.review import require_open

    require_open(case)
    ttl = ttl_minutes or DEFAULT_TTL_MINUTES
    if not 1 <= ttl <= MAX_TTL_MINUTES:
        raise invalid(Reason.INVALID_FIELD, f"ttl_minutes must be 1 to {MAX_TTL_MINUTES}", "ttl_minutes")
    now = utcnow()
    for old in session.scalars(
        select(VideoCallRow).where(VideoCallRow.case_id == case.id, VideoCallRow.ended_at.is_(None))
    ):
        old.ended_at = now
    token = secrets.token_urlsafe(32)
    row = VideoCallRow(
        id=new_id(),
        case_id=case.id,
        token_sha256=_digest(token),
        started_by=caller.client_id,
        started_at=now,
        expires_at=now + timedelta(minutes=ttl),
        joined_at=None,
        ended_at=None,
        reason=reason,
        note=note[:2000],
    )
    session.add(row)
    return row, token


def join_call(session: Session, call_id: str, token: str) -> VideoCallRow:
    """Redeem the seller's one-time token (row-locked, so two redemptions cannot both win)."""
    bad = DomainError(
        Reason.CALL_LINK_INVALID,
        "this video-call link was already used, has expired or is not valid; ask the reviewer for a new link",
        ErrorKind.PERMISSION,
    )
    row = session.scalars(select(VideoCallRow).where(VideoCallRow.id == call_id).with_for_update()).first()
    if row is None or not hmac.compare_digest(row.token_sha256, _digest(token)):
        raise bad
    case = session.get(ReviewCaseRow, row.case_id)
    if row.joined_at is not None or row.ended_at is not None or row.expires_at <= utcnow():
        raise bad
    if case is None or case.state != "open":
        raise bad
    row.joined_at = utcnow()
    return row


def get_call(session: Session, call_id: str) -> VideoCallRow:
    """The call, or NOT_FOUND."""
    row = session.get(VideoCallRow, call_id)
    if row is None:
        raise not_found(Reason.CASE_NOT_FOUND, f"no video call with id {call_id!r}")
    return row


def end_call(session: Session, row: VideoCallRow) -> VideoCallRow:
    """End a call; its link stops working (idempotent)."""
    if row.ended_at is None:
        row.ended_at = utcnow()
    return row


def latest_calls(session: Session, case_ids: list[str]) -> dict[str, VideoCallRow]:
    """The newest call per case."""
    out: dict[str, VideoCallRow] = {}
    if not case_ids:
        return out
    for row in session.scalars(
        select(VideoCallRow).where(VideoCallRow.case_id.in_(case_ids)).order_by(VideoCallRow.started_at)
    ):
        out[row.case_id] = row
    return out


def require_live(row: VideoCallRow) -> None:
    """CALL_ENDED when the call is over or expired."""
    if row.ended_at is not None or row.expires_at <= utcnow():
        raise DomainError(Reason.CALL_ENDED, f"video call {row.id} has ended; start a new one", ErrorKind.PRECONDITION)
