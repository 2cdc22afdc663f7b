"""Review cases: opening them from any service, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.platform import events
from services.platform.auth import Caller
from services.platform.models import CaseEvidenceRow, ReviewCaseRow, SubjectRow
from services.platform.records import new_id, utcnow
from services.trust.review_queue import new_queue_row

CASE_KINDS = ("document", "face_match", "liveness", "duplicate", "video_call", "suspicious_activity", "reverification")


def open_case(
    session: Session,
    *,
    subject_id: str,
    kind: str,
    opened_by: Caller,
    reasons: list[dict[str, Any]] | None = None,
    checks: list[dict[str, Any]] | None = None,
    verification_ids: list[str] | None = None,
    evidence: list[tuple[str, str, str]] | None = None,
) -> ReviewCaseRow:
    """Open a case for a CS rep, in the same transaction as the verification that needs it.

    `evidence` items are (blob_id, label, media_type) of images already stored.
    The subject moves to in_review unless it is already rejected.
    """
    if kind not in CASE_KINDS:
        raise ValueError(f"unknown case kind {kind!r}")
    now = utcnow()
    row = ReviewCaseRow(
        id=new_id(),
        subject_id=subject_id,
        kind=kind,
        state="open",
        reasons=reasons or [],
        checks=checks or [],
        verification_ids=verification_ids or [],
        opened_by=opened_by.client_id,
        opened_at=now,
    )
    session.add(row)
    session.flush()  # the evidence and queue rows reference the case
    session.add(new_queue_row(row))
    verification_id = verification_ids[0] if verification_ids else None
    for blob_id, label, media_type in evidence or []:
        session.add(
            CaseEvidenceRow(
                id=new_id(),
                case_id=row.id,
                blob_id=blob_id,
                label=label,
                media_type=media_type,
                verification_id=verification_id,
                checks=[],
                created_at=now,
            )
        )
    events.emit(
        session,
        "case.opened",
        subject_id=subject_id,
        payload={
            "case_id": row.id,
            "case_kind": kind,
            "reasons": [r.get("code") for r in reasons or [] if isinstance(r, dict)],
            "verification_ids": list(verification_ids or []),
        },
        actor=opened_by.client_id,
    )
    # One UPDATE, not a load and a flush (the session's copy, if loaded, is synchronised).
    session.execute(
        update(SubjectRow)
        .where(SubjectRow.id == subject_id, SubjectRow.status != "rejected")
        .values(status="in_review", updated_at=now)
    )
    return row


def open_cases_for(session: Session, subject_id: str) -> list[ReviewCaseRow]:
    return list(
        session.scalars(
            select(ReviewCaseRow).where(ReviewCaseRow.subject_id == subject_id, ReviewCaseRow.state == "open")
        )
    )
