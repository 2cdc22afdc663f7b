"""Enterprise sellers and their executives: registration from a read business licence,
linking executives (the legal representative's ID name must match the licence), and
each executive's standing: what is verified, when it expires, what is missing.

Functions take a SQLAlchemy session and plain values; sealed fields are opened by a
callable the caller passes (the servicer owns the key ring).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, invalid, not_found, precondition
from services.core.reasons import Reason
from services.identity import subjects
from services.identity.documents.enterprise_check import compare_legal_representative
from services.platform import events
from services.platform.models import CampaignTaskRow, DocumentRow, EnterpriseRow, ExecutiveRow, SubjectRow
from services.platform.records import new_id, utcnow
from services.reverify import policy as pol

ROLES = ("legal_representative", "major_shareholder", "director", "manager")
OPEN_TASK_STATES = ("pending", "notified", "reminded", "overdue")
LICENCE_KIND = "cn_business_licence"
# Fields of a read document, by name (the caller opens the sealed DocumentRow.fields_sealed).
FieldReader = Callable[[DocumentRow], dict[str, str]]


@dataclass
class ExecutiveView:
    subject_id: str
    role: str
    name: str
    share_percent: float
    status: str
    verified_at: datetime | None
    last_full_at: datetime | None
    due_at: datetime | None
    missing_checks: list[str]
    id_valid_until: str | None
    reasons: list[tuple[Reason, str]] = field(default_factory=list)
    open_task_id: str | None = None
    open_task_state: str | None = None


@dataclass
class EnterpriseView:
    row: EnterpriseRow
    executives: list[ExecutiveView]
    reasons: list[tuple[Reason, str]]


def region_of(credit_code: str | None) -> str | None:
    """The GB/T 2260 division code inside a unified social credit code (characters 3-8)."""
    if not credit_code or len(credit_code) != 18 or not credit_code[2:8].isdigit():
        return None
    return credit_code[2:8]


def register(
    session: Session, *, licence_document_id: str, external_ref: str, read_fields: FieldReader, actor: str
) -> EnterpriseRow:
    """Register an enterprise from a business licence SubmitDocument read (PASS or REVIEW)."""
    doc = session.get(DocumentRow, licence_document_id)
    hidden = not_found(Reason.DOCUMENT_NOT_FOUND, f"no document with id {licence_document_id!r}")
    if doc is None:
        raise hidden
    subjects.require_document_visible(session, doc, hidden)  # another onboarding client's licence: as unknown
    if doc.kind != LICENCE_KIND:
        raise invalid(
            Reason.LICENCE_NOT_ACCEPTED,
            f"document {licence_document_id} is a {doc.kind}, not a business licence: submit the licence photo "
            "with SubmitDocument (kind_hint CN_BUSINESS_LICENCE) and pass that document id",
            "licence_document_id",
        )
    if doc.verdict == "fail":
        raise precondition(
            Reason.LICENCE_NOT_ACCEPTED,
            f"business licence {licence_document_id} failed its checks ({', '.join(r['code'] for r in doc.reasons)}); "
            "submit a clear photo of a valid licence",
        )
    fields = read_fields(doc)
    credit_code = fields.get("credit_code") or None
    if external_ref and session.scalar(select(EnterpriseRow.id).where(EnterpriseRow.external_ref == external_ref)):
        raise DomainError(
            Reason.ALREADY_EXISTS, f"an enterprise with external_ref {external_ref!r} exists", ErrorKind.CONFLICT
        )
    if credit_code:
        other = session.scalar(select(EnterpriseRow.id).where(EnterpriseRow.credit_code == credit_code))
        if other:
            raise DomainError(
                Reason.ALREADY_EXISTS,
                f"the enterprise with this credit code is registered already as {other}",
                ErrorKind.CONFLICT,
                metadata={"enterprise_id": other},
            )
    row = EnterpriseRow(
        id=new_id(),
        external_ref=external_ref or f"licence:{licence_document_id}",
        credit_code=credit_code,
        company_name=fields.get("company_name") or None,
        legal_representative=fields.get("legal_representative") or None,
        licence_verdict=doc.verdict,
        licence_reasons=list(doc.reasons),
        document_id=doc.id,
        created_at=utcnow(),
        company_type=fields.get("company_type") or None,
        registered_capital=fields.get("registered_capital") or None,
        establishment_date=fields.get("establishment_date") or None,
        valid_until=fields.get("business_term") or None,
        region_code=region_of(credit_code),
    )
    session.add(row)
    session.flush()
    events.emit(
        session,
        "enterprise.registered",
        enterprise_id=row.id,
        payload={"verification_id": doc.verification_id, "licence_verdict": doc.verdict},
        actor=actor,
    )
    return row


def id_document_valid_until(session: Session, subject_id: str, read_fields: FieldReader) -> str | None:
    """The last valid day of the subject's latest accepted ID document (ISO), None if long-term or unknown."""
    doc = session.scalars(
        select(DocumentRow)
        .where(DocumentRow.subject_id == subject_id, DocumentRow.kind != LICENCE_KIND, DocumentRow.verdict != "fail")
        .order_by(DocumentRow.created_at.desc())
        .limit(1)
    ).first()
    if doc is None:
        return None
    fields = read_fields(doc)
    value = fields.get("valid_until") or fields.get("expiry_date") or ""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None  # 长期 (long-term) or unreadable


def add_executive(
    session: Session,
    *,
    enterprise_id: str,
    subject_id: str,
    role: str,
    name: str,
    share_percent: float,
    subject_name: Callable[[SubjectRow], str | None],
    read_fields: FieldReader,
    actor: str,
) -> list[tuple[Reason, str]]:
    """Link a subject to an enterprise; returns the check's reasons (empty when matched).

    The legal representative's name as read from their ID card must match the licence
    (LEGAL_REPRESENTATIVE_MISMATCH otherwise, FAILED_PRECONDITION before the card is read).
    """
    if role not in ROLES:
        raise invalid(Reason.INVALID_FIELD, f"role must be one of {', '.join(ROLES)}", "role")
    if not 0.0 <= share_percent <= 100.0:
        raise invalid(Reason.INVALID_FIELD, "share_percent must be between 0 and 100", "share_percent")
    enterprise = session.get(EnterpriseRow, enterprise_id)
    if enterprise is None:
        raise not_found(Reason.ENTERPRISE_NOT_FOUND, f"no enterprise with id {enterprise_id!r}")
    subject = subjects.get_subject(session, subject_id)  # NOT_FOUND for another onboarding client's
    if session.get(ExecutiveRow, (enterprise_id, subject_id)) is not None:
        raise DomainError(
            Reason.EXECUTIVE_ALREADY_ADDED,
            f"subject {subject_id} is already an executive of {enterprise_id}",
            ErrorKind.CONFLICT,
        )
    reasons: list[tuple[Reason, str]] = []
    declared = name
    if role == "legal_representative":
        on_card = subject_name(subject)
        if not on_card:
            raise precondition(
                Reason.FAILED_PRECONDITION,
                f"subject {subject_id} has no ID card read yet: submit the legal representative's ID card "
                "(IdentityService.SubmitDocument) before adding them",
            )
        check = compare_legal_representative(enterprise.legal_representative or "", on_card)
        if check.matched is not True:
            code, message = check.reasons[0]
            raise precondition(code, message)
        declared = enterprise.legal_representative or on_card
    elif not name:
        raise invalid(
            Reason.MISSING_FIELD, "name is required for executives other than the legal representative", "name"
        )
    session.add(
        ExecutiveRow(
            enterprise_id=enterprise_id,
            subject_id=subject_id,
            role=role,
            name=declared,
            share_percent=share_percent,
            added_at=utcnow(),
            id_valid_until=id_document_valid_until(session, subject_id, read_fields),
        )
    )
    events.emit(
        session,
        "executive.added",
        subject_id=subject_id,
        enterprise_id=enterprise_id,
        payload={"role": role},
        actor=actor,
    )
    return reasons


def missing_checks(subject: SubjectRow, since: datetime | None) -> list[str]:
    """Checks that have not passed (after `since`, a re-verification start or demand)."""
    out = []
    for check, stamp in (
        ("document", subject.document_verified_at),
        ("face_match", subject.face_verified_at),
        ("liveness", subject.liveness_verified_at),
    ):
        if stamp is None or (since is not None and stamp <= since):
            out.append(check)
    return out


def executive_view(
    session: Session, row: ExecutiveRow, subject: SubjectRow | None, policy: pol.Policy, now: datetime
) -> ExecutiveView:
    """One executive's standing on `now`."""
    if subject is None:
        return ExecutiveView(
            row.subject_id,
            row.role,
            row.name,
            row.share_percent,
            "unknown",
            None,
            None,
            None,
            ["document", "face_match", "liveness"],
            row.id_valid_until,
            [(Reason.EXECUTIVE_NOT_VERIFIED, "the subject no longer exists")],
        )
    task = session.scalars(
        select(CampaignTaskRow)
        .where(CampaignTaskRow.subject_id == row.subject_id, CampaignTaskRow.state.in_(OPEN_TASK_STATES))
        .order_by(CampaignTaskRow.created_at.desc())
        .limit(1)
    ).first()
    since = task.created_at if task is not None else subject.reverify_required_at
    missing = missing_checks(subject, since)
    last_full = pol.last_full_verification(
        subject.document_verified_at, subject.face_verified_at, subject.liveness_verified_at
    )
    due = pol.start_of_day(pol.due_date(last_full, policy), policy) if last_full else None
    reasons: list[tuple[Reason, str]] = []
    if task is not None and task.state == "overdue":
        reasons.append((Reason.REVERIFICATION_OVERDUE, f"re-verification was due by {task.deadline.isoformat()}"))
    elif task is not None:
        reasons.append((Reason.REVERIFICATION_PENDING, f"re-verification due by {task.deadline.isoformat()}"))
    elif missing:
        reasons.append((Reason.EXECUTIVE_NOT_VERIFIED, f"still to pass: {', '.join(missing)}"))
    elif due is not None and due <= now:
        reasons.append((Reason.VERIFICATION_STALE, f"the last full verification fell due on {due.date().isoformat()}"))
    today = pol.local_date(now, policy)
    if row.id_valid_until and row.id_valid_until <= pol.expiry_horizon(today, policy):
        reasons.append((Reason.ID_DOCUMENT_EXPIRING, f"the ID document is valid until {row.id_valid_until}"))
    return ExecutiveView(
        subject_id=row.subject_id,
        role=row.role,
        name=row.name,
        share_percent=row.share_percent,
        status=subject.status,
        verified_at=subject.verified_at,
        last_full_at=last_full,
        due_at=due,
        missing_checks=missing,
        id_valid_until=row.id_valid_until,
        reasons=reasons,
        open_task_id=task.id if task else None,
        open_task_state=task.state if task else None,
    )


def get(session: Session, enterprise_id: str, policy: pol.Policy, now: datetime | None = None) -> EnterpriseView:
    """An enterprise with every executive's standing."""
    row = session.get(EnterpriseRow, enterprise_id)
    if row is None:
        raise not_found(Reason.ENTERPRISE_NOT_FOUND, f"no enterprise with id {enterprise_id!r}")
    now = now or datetime.now(UTC)
    execs = list(
        session.scalars(
            select(ExecutiveRow).where(ExecutiveRow.enterprise_id == enterprise_id).order_by(ExecutiveRow.added_at)
        )
    )
    views = [executive_view(session, e, session.get(SubjectRow, e.subject_id), policy, now) for e in execs]
    reasons: list[tuple[Reason, str]] = []
    if not any(e.role == "legal_representative" for e in execs):
        reasons.append((Reason.LEGAL_REPRESENTATIVE_MISSING, "add the legal representative with AddExecutive"))
    unverified = [v.subject_id for v in views if v.missing_checks]
    if unverified:
        reasons.append((Reason.EXECUTIVE_NOT_VERIFIED, f"{len(unverified)} executive(s) still to pass their checks"))
    if any(v.open_task_state == "overdue" for v in views):
        reasons.append((Reason.REVERIFICATION_OVERDUE, "an executive's re-verification is overdue"))
    return EnterpriseView(row, views, reasons)
