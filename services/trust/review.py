"""Review cases for customer-service reps: open, list, attach evidence, decide.

Functions take the caller's open Session (like `cases.py` and `subjects.py`), so that a
decision, the subject's new state, the verification record and the audit events commit
together. A decision is final. An approval counts like the passed check the case stood
in for (`APPROVAL_COUNTS_AS`): an approved video call or liveness case updates the
subject exactly as a PASS from RespondChallenge does (`subjects.mark_passed`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, invalid, not_found
from services.core.reasons import Reason
from services.identity import subjects
from services.identity.face_match import Decision, FaceMatcher, FaceTemplate, PairType
from services.platform import events
from services.platform.auth import Caller
from services.platform.models import (
    CaseEvidenceRow,
    ChallengeRow,
    DocumentRow,
    ReviewCaseRow,
    SubjectRow,
    TrustSnapshotRow,
)
from services.platform.records import new_id, utcnow
from services.trust.cases import CASE_KINDS, open_case

CASE_STATES = ("open", "approved", "rejected", "recapture_requested")
DECISIONS = ("approve", "reject", "request_new_capture")
DECIDED_STATE = {"approve": "approved", "reject": "rejected", "request_new_capture": "recapture_requested"}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_LABEL_CHARS = 40
MAX_NOTE_CHARS = 2000
# Which real-person check an approval stands for.
APPROVAL_COUNTS_AS = {
    "document": "document",
    "face_match": "face",
    "duplicate": "face",
    "liveness": "liveness",
    "video_call": "liveness",
}


@dataclass
class CasePage:
    """One page of a listing and the token of the next one ("" on the last page)."""

    cases: list[ReviewCaseRow]
    next_page_token: str


def get_case(session: Session, case_id: str, *, for_update: bool = False) -> ReviewCaseRow:
    """The case, or NOT_FOUND / CASE_NOT_FOUND."""
    stmt = select(ReviewCaseRow).where(ReviewCaseRow.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise not_found(Reason.CASE_NOT_FOUND, f"no review case with id {case_id!r}")
    return row


def evidence_of(session: Session, case_ids: list[str]) -> dict[str, list[CaseEvidenceRow]]:
    """Evidence rows per case, oldest first (no image data)."""
    out: dict[str, list[CaseEvidenceRow]] = {cid: [] for cid in case_ids}
    if not case_ids:
        return out
    rows = session.scalars(
        select(CaseEvidenceRow)
        .where(CaseEvidenceRow.case_id.in_(case_ids))
        .order_by(CaseEvidenceRow.created_at, CaseEvidenceRow.id)
    )
    for row in rows:
        out[row.case_id].append(row)
    return out


def get_evidence(session: Session, case_id: str, evidence_id: str) -> CaseEvidenceRow:
    """One evidence row of a case, or NOT_FOUND / EVIDENCE_NOT_FOUND."""
    get_case(session, case_id)
    row = session.get(CaseEvidenceRow, evidence_id)
    if row is None or row.case_id != case_id or row.blob_id is None:
        raise not_found(Reason.EVIDENCE_NOT_FOUND, f"case {case_id!r} has no evidence with id {evidence_id!r}")
    return row


def open_manual_case(session: Session, *, subject_id: str, kind: str, note: str, caller: Caller) -> ReviewCaseRow:
    """A case opened by a rep or a service (for example before a video call).

    The subject must exist; it moves to in_review until the case is decided.
    """
    if kind not in CASE_KINDS:
        raise invalid(Reason.INVALID_FIELD, f"unknown case kind {kind!r}", "kind")
    subjects.get_subject(session, subject_id, for_update=True)
    message = note.strip() or f"opened by {caller.client_id}"
    return open_case(
        session,
        subject_id=subject_id,
        kind=kind,
        opened_by=caller,
        reasons=[{"code": Reason.CASE_OPENED_MANUALLY.value, "message": message[:MAX_NOTE_CHARS], "field": ""}],
    )


def require_open(case: ReviewCaseRow) -> None:
    """FAILED_PRECONDITION when the case was already decided."""
    if case.state != "open":
        when = f" at {case.decided_at:%Y-%m-%d %H:%M:%S} UTC" if case.decided_at else ""
        raise DomainError(
            Reason.FAILED_PRECONDITION,
            f"case {case.id} was already {case.state} by {case.decided_by}{when}; a decided case cannot be "
            "changed (open a new case if needed)",
            ErrorKind.PRECONDITION,
        )


def attach_evidence(
    session: Session,
    case: ReviewCaseRow,
    items: list[tuple[str, str, str, list[dict[str, Any]]]],
) -> list[CaseEvidenceRow]:
    """Add evidence to an open case. `items` are (blob_id, label, media_type, checks) of
    images already sealed in this transaction."""
    require_open(case)
    now = utcnow()
    rows = [
        CaseEvidenceRow(
            id=new_id(),
            case_id=case.id,
            blob_id=blob_id,
            label=label,
            media_type=media_type,
            verification_id=None,
            checks=checks,
            # One microsecond apart: listings (by created_at) keep the order of attachment.
            created_at=now + timedelta(microseconds=i),
        )
        for i, (blob_id, label, media_type, checks) in enumerate(items)
    ]
    session.add_all(rows)
    return rows


def decide(
    session: Session,
    case: ReviewCaseRow,
    decision: str,
    note: str,
    caller: Caller,
    *,
    reason: str = "",
    ban: bool = False,
    confirmed_by: str | None = None,
) -> str | None:
    """Record a decision on an open case and apply it to the subject (the four-eyes
    check is the caller's: `review_servicer` asks `review_policy.four_eyes` first).

    Approve: the check the case stood for counts as passed now (`APPROVAL_COUNTS_AS`,
    via `subjects.mark_passed`, as the passing RPC would have done); challenges that
    waited for this review become passed. Reject: the subject is rejected and every
    check must pass again (`subjects.reject`); with `ban` the queue row records that the
    seller may not try again. Request new capture: the case closes, the check it stood
    for must be done again (the subject is not rejected). Waiting challenges fail.
    Emits `case.decided` (case_id, case_kind, decision, reason, ban).
    Returns the check that counted as passed, if any.
    """
    from services.trust import review_queue

    if decision not in DECISIONS:
        raise invalid(Reason.INVALID_FIELD, "decision must be APPROVE, REJECT or REQUEST_NEW_CAPTURE", "decision")
    require_open(case)
    now = utcnow()
    case.state = DECIDED_STATE[decision]
    case.decided_at = now
    case.decided_by = caller.client_id
    case.decision_note = note[:MAX_NOTE_CHARS]
    queue = review_queue.queue_row(session, case)
    queue.decision = decision
    queue.decision_reason = reason or None
    queue.confirmed_by = confirmed_by
    queue.ban = bool(ban and decision == "reject")
    session.flush()  # the subject's status is recomputed from the open cases
    payload: dict[str, Any] = {"case_id": case.id, "case_kind": case.kind, "decision": decision}
    if reason:
        payload["reason"] = reason
    if queue.ban:
        payload["ban"] = True
    events.emit(session, "case.decided", subject_id=case.subject_id, payload=payload, actor=caller.client_id)
    waiting = [v for v in case.verification_ids if v]
    if waiting:
        for challenge in session.scalars(
            select(ChallengeRow).where(ChallengeRow.verification_id.in_(waiting), ChallengeRow.state == "in_review")
        ):
            challenge.state = "passed" if decision == "approve" else "failed"
    subject = subjects.get_subject(session, case.subject_id, for_update=True)
    if decision == "reject":
        subjects.reject(session, subject)
        return None
    check = APPROVAL_COUNTS_AS.get(case.kind)
    if decision == "request_new_capture":
        if check is not None:
            setattr(subject, f"{check}_verified_at", None)
        subjects.recompute_status(session, subject)
        subject.updated_at = now
        return None
    if check is None:
        subjects.recompute_status(session, subject)
        subject.updated_at = now
    else:
        subjects.mark_passed(session, subject, check)
    return check


def list_cases(
    session: Session,
    *,
    state: str,
    kind: str | None,
    subject_id: str | None,
    page_size: int,
    page_token: str,
    assignee: str | None = None,
    escalated_only: bool = False,
    hide_snoozed: bool = False,
    pending_only: bool = False,
    risk_bands: list[str] | None = None,
) -> CasePage:
    """Cases in one state (optionally of one kind / subject), oldest first, by pages.

    The page token is opaque: the position after the last case returned, bound to the
    filters it was issued for.
    """
    if page_size < 0:
        raise invalid(Reason.INVALID_FIELD, "page.page_size must not be negative", "page.page_size")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    from services.trust import review_queue

    filters = f"{state}|{kind or ''}|{subject_id or ''}"
    if assignee or escalated_only or hide_snoozed or pending_only:
        filters += f"|{assignee or ''}|{escalated_only:d}{hide_snoozed:d}{pending_only:d}"
    stmt = select(ReviewCaseRow).where(ReviewCaseRow.state == state)
    stmt = review_queue.queue_filter(
        stmt,
        assignee=assignee,
        escalated_only=escalated_only,
        hide_snoozed=hide_snoozed,
        pending_only=pending_only,
        now=utcnow(),
    )
    if kind:
        stmt = stmt.where(ReviewCaseRow.kind == kind)
    if risk_bands:
        bands = sorted(set(risk_bands))
        filters += f"|bands={','.join(bands)}"
        stmt = stmt.where(
            ReviewCaseRow.subject_id.in_(
                select(TrustSnapshotRow.target_id).where(
                    TrustSnapshotRow.target_kind == "subject", TrustSnapshotRow.band.in_(bands)
                )
            )
        )
    if subject_id:
        stmt = stmt.where(ReviewCaseRow.subject_id == subject_id)
    if page_token:
        after_at, after_id = _decode_token(page_token, filters)
        stmt = stmt.where(
            or_(
                ReviewCaseRow.opened_at > after_at,
                and_(ReviewCaseRow.opened_at == after_at, ReviewCaseRow.id > after_id),
            )
        )
    rows = list(session.scalars(stmt.order_by(ReviewCaseRow.opened_at, ReviewCaseRow.id).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    token = _encode_token(rows[-1].opened_at, rows[-1].id, filters) if more else ""
    return CasePage(rows, token)


def risk_bands_of(session: Session, subject_ids: list[str]) -> dict[str, str]:
    """Each subject's band in its trust snapshot (subjects without one are left out)."""
    if not subject_ids:
        return {}
    rows = session.execute(
        select(TrustSnapshotRow.target_id, TrustSnapshotRow.band).where(
            TrustSnapshotRow.target_kind == "subject", TrustSnapshotRow.target_id.in_(sorted(set(subject_ids)))
        )
    )
    return {target_id: band for target_id, band in rows}


def _fingerprint(filters: str) -> str:
    return hashlib.sha256(filters.encode()).hexdigest()[:12]


def _encode_token(opened_at: datetime, case_id: str, filters: str) -> str:
    raw = f"{opened_at.isoformat()}|{case_id}|{_fingerprint(filters)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, filters: str) -> tuple[datetime, str]:
    bad = invalid(
        Reason.INVALID_FIELD,
        "page.page_token is not a token from this listing; pass the next_page_token of the previous "
        "page with the same filters, or leave it empty for the first page",
        "page.page_token",
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        at, case_id, fingerprint = raw.split("|")
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad from None
    if fingerprint != _fingerprint(filters) or when.tzinfo is None:
        raise bad
    return when, case_id


def frame_checks(matcher: FaceMatcher, reference: FaceTemplate | None, image: np.ndarray) -> list[dict[str, Any]]:
    """What a rep is shown about a video-call frame: one face? the same person as the
    ID portrait? (checks as stored with the evidence; no decision is taken here)."""
    quality, template = matcher.inspect_template(image, what="video frame")
    if template is None:
        code, message = quality.reasons[0] if quality.reasons else (Reason.NO_FACE, "no face found")
        return [_check("single_face", "fail", 0.0, message, [(code, message)])]
    checks = [_check("single_face", "pass", 0.0, f"one face, {quality.eye_distance_px:.0f} px between the eyes")]
    if reference is None:
        checks.append(_check("face_match", "", 0.0, "no ID portrait on file: compare by eye"))
        return checks
    outcome = matcher.decide(reference, template, PairType.ID_PORTRAIT_VS_PHOTO)
    verdict = {Decision.MATCH: "pass", Decision.NO_MATCH: "fail", Decision.UNCERTAIN: "review"}[outcome.decision]
    reasons = [r for r in outcome.reasons if r[0] in (Reason.FACE_NO_MATCH, Reason.FACE_MATCH_UNCERTAIN)]
    detail = (
        f"similarity {outcome.similarity:.3f} with the ID portrait (match at >= {outcome.threshold_match:.3f}, "
        f"estimated FMR {outcome.estimated_fmr:.2g})"
    )
    checks.append(_check("face_match", verdict, outcome.similarity, detail, reasons))
    return checks


def _check(
    name: str, verdict: str, score: float, detail: str, reasons: list[tuple[Reason, str]] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "verdict": verdict,
        "score": float(score),
        "detail": detail,
        "reasons": [{"code": r.value, "message": m, "field": ""} for r, m in reasons or []],
    }


@dataclass
class RelatedImage:
    """An image of a case's subject (or duplicate candidate) not attached to the case."""

    evidence_id: str
    label: str
    subject_id: str
    blob_id: str
    media_type: str


RELATED_LABELS = ("id_portrait", "document_front", "document_back")


def latest_document(session: Session, subject_id: str) -> DocumentRow | None:
    """The subject's newest ID document (not a business licence)."""
    return session.scalars(
        select(DocumentRow)
        .where(DocumentRow.subject_id == subject_id, DocumentRow.kind != "cn_business_licence")
        .order_by(DocumentRow.created_at.desc())
        .limit(1)
    ).first()


def related_images(session: Session, subject_id: str) -> list[RelatedImage]:
    """The subject's ID portrait and newest document sides, as the case view shows them."""
    out: list[RelatedImage] = []
    subject = session.get(SubjectRow, subject_id)
    if subject is not None and subject.reference_blob_id:
        out.append(RelatedImage(f"id_portrait.{subject_id}", "id_portrait", subject_id, subject.reference_blob_id, ""))
    doc = latest_document(session, subject_id)
    if doc is not None:
        for label, blob_id in (("document_front", doc.front_blob_id), ("document_back", doc.back_blob_id)):
            if blob_id:
                out.append(RelatedImage(f"{label}.{doc.id}", label, subject_id, blob_id, ""))
    return out


def resolve_related(session: Session, case: ReviewCaseRow, evidence_id: str) -> RelatedImage | None:
    """A related image id (`<label>.<subject or document id>`) of this case, or None when
    `evidence_id` is not of that form. The case's own subject's images resolve; a
    duplicate case also resolves its candidates' ID portraits (what the rep compares)."""
    label, dot, ref = evidence_id.partition(".")
    if not dot or label not in RELATED_LABELS:
        return None
    missing = not_found(Reason.EVIDENCE_NOT_FOUND, f"case {case.id!r} has no image {evidence_id!r}")
    if label == "id_portrait":
        if ref != case.subject_id and case.kind != "duplicate":
            raise missing
        subject = session.get(SubjectRow, ref)
        if subject is None or not subject.reference_blob_id:
            raise missing
        return RelatedImage(evidence_id, label, ref, subject.reference_blob_id, "")
    doc = session.get(DocumentRow, ref)
    if doc is None or doc.subject_id != case.subject_id:
        raise missing
    blob_id = doc.front_blob_id if label == "document_front" else doc.back_blob_id
    if not blob_id:
        raise missing
    return RelatedImage(evidence_id, label, case.subject_id, blob_id, "")
