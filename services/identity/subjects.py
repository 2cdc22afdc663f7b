"""Subjects: the people being verified (repository over the subjects table)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, not_found
from services.core.masking import MRZ_NUMBER_FIELDS, mask_document_number, mask_id_number  # noqa: F401 (re-export)
from services.core.reasons import Reason
from services.identity.documents.model import DocumentKind, DocumentResult
from services.platform import ownership
from services.platform.models import DocumentRow, SubjectRow, VerificationRow
from services.platform.records import new_id, utcnow

KINDS = ("individual", "executive")
STATUSES = ("pending", "verified", "in_review", "rejected", "reverification_required")


def create_subject(session: Session, external_ref: str, kind: str) -> SubjectRow:
    """Register a new subject, owned by the calling client; an external_ref can be registered once."""
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
        owner_client_id=ownership.owner_for_new_record(),
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
    # Another onboarding client's subject is answered as if it did not exist (ownership.py).
    if row is None or not ownership.may_see(row.owner_client_id):
        raise not_found(Reason.SUBJECT_NOT_FOUND, f"no subject with id {subject_id!r}")
    return row


def require_visible(session: Session, subject_id: str | None, hidden: DomainError) -> None:
    """Raise `hidden` (the record's own NOT_FOUND) unless the caller may see `subject_id`'s
    records: documents, verifications and challenges are visible with their subject."""
    if subject_id is None:
        return
    owner = session.scalars(select(SubjectRow.owner_client_id).where(SubjectRow.id == subject_id)).first()
    if not ownership.may_see(owner):
        raise hidden


def mrz_number_confirmed(result: DocumentResult) -> bool:
    """Whether `result` is a passport / TD1 whose document number its check digit confirmed."""
    field = result.fields.get("document_number")
    return (
        result.kind in (DocumentKind.PASSPORT_TD3, DocumentKind.ID_CARD_TD1)
        and field is not None
        and bool(field.value)
        and field.status.value in ("valid", "corrected")
    )


CHECKS = ("document", "face", "liveness")


def mark_passed(session: Session, subject: SubjectRow, check: str) -> None:
    """Record that one real-person check passed now, and recompute the status."""
    now = utcnow()
    setattr(subject, f"{check}_verified_at", now)
    subject.updated_at = now
    recompute_status(session, subject)


def require_reverification(session: Session, subject: SubjectRow) -> None:
    """Face and liveness must pass again (annual campaign or suspicious activity)."""
    subject.reverify_required_at = utcnow()
    subject.updated_at = subject.reverify_required_at
    recompute_status(session, subject)


def recompute_status(session: Session, subject: SubjectRow) -> None:
    """Status from the check timestamps, open review cases and re-verification demands.

    verified: document, face and liveness all passed, face and liveness after the last
    re-verification demand. A CS rep's rejection clears the check timestamps (see
    `reject`), so it stands until every check passes again.
    """
    from services.trust.cases import open_cases_for

    if open_cases_for(session, subject.id):
        subject.status = "in_review"
        return
    stamps = [subject.document_verified_at, subject.face_verified_at, subject.liveness_verified_at]
    if any(s is None for s in stamps):
        subject.status = "rejected" if subject.status == "rejected" else "pending"
        return
    latest = max(s for s in stamps if s is not None)
    since = subject.reverify_required_at
    if since is not None and (
        subject.face_verified_at is None
        or subject.face_verified_at < since
        or subject.liveness_verified_at is None
        or subject.liveness_verified_at < since
    ):
        subject.status = "reverification_required"
        return
    subject.status = "verified"
    subject.verified_at = latest


def reject(session: Session, subject: SubjectRow) -> None:
    """A CS rep rejected the subject: every check must pass again."""
    subject.document_verified_at = subject.face_verified_at = subject.liveness_verified_at = None
    subject.status = "rejected"
    subject.updated_at = utcnow()


def require_document_visible(session: Session, doc: DocumentRow, hidden: DomainError) -> None:
    """Raise `hidden` unless the caller may see document `doc`: with its subject, or, for a
    document on no subject (a business licence), when the caller submitted it."""
    if doc.subject_id is not None:
        require_visible(session, doc.subject_id, hidden)
        return
    submitter = session.scalars(
        select(VerificationRow.client_id).where(VerificationRow.id == doc.verification_id)
    ).first()
    if not ownership.may_see(submitter):
        raise hidden
