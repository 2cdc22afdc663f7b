"""Facts: what the score of a subject or an enterprise is computed from, read from the
recorded results (verifications, cases, re-verification events, signals, the identity
graph). Plain JSON-able dicts of ids, verdicts, reason codes and ISO times: they are
stored with every snapshot and decision, so a score can be recomputed exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.platform.models import (
    DomainEventRow,
    EnterpriseRow,
    ExecutiveRow,
    IdentityClusterRow,
    ReviewCaseRow,
    SubjectRow,
    TrustSignalRow,
    VerificationRow,
)

# Signals kept per target in the facts (newest first); older ones have aged out of
# every characteristic of the shipped policy long before this many accumulate.
MAX_SIGNALS = 200
CHECK_KINDS = ("document", "face_match", "liveness")
LICENCE_KIND = "cn_business_licence"
ROLE_NAMES = {
    "legal_representative",
    "major_shareholder",
    "director",
    "manager",
}


def iso(value: datetime | None) -> str | None:
    """An ISO-8601 string (UTC offset kept) or None."""
    return value.isoformat() if value is not None else None


def _is_licence(row: Any) -> bool:
    return any(isinstance(c, dict) and c.get("detail") == LICENCE_KIND for c in row.checks or [])


def signal_fact(row: TrustSignalRow) -> dict[str, Any]:
    """One stored signal as a fact."""
    return {"id": row.id, "name": row.name, "value": row.value, "weight": row.weight, "at": iso(row.observed_at)}


def subject_facts(session: Session, subject_id: str) -> dict[str, Any] | None:
    """Everything the scorecard reads about one subject, or None if it does not exist."""
    subject = session.get(SubjectRow, subject_id)
    if subject is None:
        return None
    latest: dict[str, dict[str, Any]] = {}
    # Only the columns the facts use: this runs in every writing transaction of the
    # subject (snapshots.py), and whole rows carry the sealed responses.
    rows = session.execute(
        select(
            VerificationRow.id,
            VerificationRow.kind,
            VerificationRow.verdict,
            VerificationRow.reasons,
            VerificationRow.checks,
            VerificationRow.created_at,
        )
        .where(VerificationRow.subject_id == subject_id, VerificationRow.kind.in_(CHECK_KINDS))
        .order_by(VerificationRow.created_at.desc())
    )
    for row in rows:
        if row.kind in latest or (row.kind == "document" and _is_licence(row)):
            continue
        latest[row.kind] = {
            "id": row.id,
            "verdict": row.verdict,
            "reasons": [r.get("code") for r in row.reasons or [] if isinstance(r, dict)],
            "at": iso(row.created_at),
        }
    cases: dict[str, list[Any]] = {"open": [], "approved": [], "rejected": []}
    approved_verifications: list[str] = []
    for case in session.execute(
        select(ReviewCaseRow.id, ReviewCaseRow.state, ReviewCaseRow.kind, ReviewCaseRow.verification_ids)
        .where(ReviewCaseRow.subject_id == subject_id)
        .order_by(ReviewCaseRow.opened_at)
    ):
        if case.state == "open":
            cases["open"].append(case.id)
        elif case.state in ("approved", "rejected"):
            cases[case.state].append([case.id, case.kind])
            if case.state == "approved":
                approved_verifications += [v for v in case.verification_ids or [] if v]
    task_row = session.scalars(
        select(DomainEventRow)
        .where(DomainEventRow.subject_id == subject_id, DomainEventRow.kind == "reverification.task_changed")
        .order_by(DomainEventRow.seq.desc())
        .limit(1)
    ).first()
    task = None
    if task_row is not None:
        p = task_row.payload or {}
        task = {
            "state": p.get("state"),
            "task_id": str(p.get("task_id", "")),
            "campaign_id": str(p.get("campaign_id", "")),
            "at": iso(task_row.at),
        }
    cluster_row = session.get(IdentityClusterRow, subject_id)
    cluster = (
        {
            "id": cluster_row.cluster_id,
            "subjects": cluster_row.subjects,
            "faces": cluster_row.faces,
            "id_numbers": cluster_row.id_numbers,
        }
        if cluster_row is not None
        else None
    )
    signals = session.scalars(
        select(TrustSignalRow)
        .where(TrustSignalRow.subject_id == subject_id)
        .order_by(TrustSignalRow.observed_at.desc())
        .limit(MAX_SIGNALS)
    )
    return {
        "kind": "subject",
        "subject_id": subject_id,
        "status": subject.status,
        "passed": {
            "document": iso(subject.document_verified_at),
            "face": iso(subject.face_verified_at),
            "liveness": iso(subject.liveness_verified_at),
        },
        "verified_at": iso(subject.verified_at),
        "reverify_required_at": iso(subject.reverify_required_at),
        "latest": latest,
        "cases": cases,
        "approved_verifications": approved_verifications,
        "reverify_task": task,
        "cluster": cluster,
        "signals": [signal_fact(s) for s in signals],
    }


def enterprise_facts(session: Session, enterprise_id: str) -> dict[str, Any] | None:
    """An enterprise's licence, its executives' facts and its own signals, or None."""
    ent = session.get(EnterpriseRow, enterprise_id)
    if ent is None:
        return None
    executives = []
    for ex in session.scalars(
        select(ExecutiveRow).where(ExecutiveRow.enterprise_id == enterprise_id).order_by(ExecutiveRow.subject_id)
    ):
        f = subject_facts(session, ex.subject_id)
        if f is not None:
            executives.append({"subject_id": ex.subject_id, "role": role_name(ex.role), "facts": f})
    signals = session.scalars(
        select(TrustSignalRow)
        .where(TrustSignalRow.enterprise_id == enterprise_id)
        .order_by(TrustSignalRow.observed_at.desc())
        .limit(MAX_SIGNALS)
    )
    return {
        "kind": "enterprise",
        "enterprise_id": enterprise_id,
        "licence": {
            "verdict": ent.licence_verdict,
            "reasons": [r.get("code") if isinstance(r, dict) else str(r) for r in ent.licence_reasons or []],
            "document_id": ent.document_id,
        },
        "executives": executives,
        "signals": [signal_fact(s) for s in signals],
    }


def role_name(role: str) -> str:
    """Executive roles as stored ("legal_representative" or "EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE")."""
    r = role.lower()
    if r.startswith("executive_role_"):
        r = r[len("executive_role_") :]
    return r


def executive_subjects(session: Session, enterprise_id: str) -> list[str]:
    """Every executive's subject id of an enterprise."""
    return list(session.scalars(select(ExecutiveRow.subject_id).where(ExecutiveRow.enterprise_id == enterprise_id)))


def enterprises_of(session: Session, subject_id: str) -> list[str]:
    """The enterprises a subject is an executive of."""
    return list(session.scalars(select(ExecutiveRow.enterprise_id).where(ExecutiveRow.subject_id == subject_id)))
