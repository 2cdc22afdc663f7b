"""Subjects: the people being verified (repository over the subjects table)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, not_found
from services.core.reasons import Reason
from services.platform.models import SubjectRow
from services.platform.records import new_id, utcnow

KINDS = ("individual", "executive")
STATUSES = ("pending", "verified", "in_review", "rejected", "reverification_required")


def create_subject(session: Session, external_ref: str, kind: str) -> SubjectRow:
    """Register a new subject; an external_ref can be registered once."""
    if session.scalars(select(SubjectRow.id).where(SubjectRow.external_ref == external_ref)).first():
        raise DomainError(
            Reason.ALREADY_EXISTS,
            f"a subject with external_ref {external_ref!r} already exists; use GetSubject or another reference",
            ErrorKind.CONFLICT,
        )
    now = utcnow()
    row = SubjectRow(
        id=new_id(),
        external_ref=external_ref,
        kind=kind,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get_subject(session: Session, subject_id: str, *, for_update: bool = False) -> SubjectRow:
    stmt = select(SubjectRow).where(SubjectRow.id == subject_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise not_found(Reason.SUBJECT_NOT_FOUND, f"no subject with id {subject_id!r}")
    return row


def mask_id_number(number: str) -> str:
    """Keep the region prefix and the last 4 characters: 1101**********123X."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
