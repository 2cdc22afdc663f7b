"""The domain event log: one append-only table that every result flows into.

A writer calls `emit()` inside the transaction that did the work, so an event exists
exactly when its effect committed. Readers (trust signals, campaign workflows, the
webhook outbox, the console) follow the log by `seq`, which only grows.

Event kinds are dotted names, `<noun>.<past verb>`; see `KINDS`. Payloads hold ids,
verdicts and reason codes only: never images, templates, ID numbers or names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.platform.models import DomainEventRow
from services.platform.records import new_id, utcnow

# Known kinds; emit() refuses others so a typo cannot create a stream nobody reads.
KINDS: frozenset[str] = frozenset(
    {
        "subject.created",
        "verification.recorded",  # payload: verification_id, kind, verdict, reasons[]
        "duplicate.found",  # payload: verification_id, other_subject_ids[], kind (face|id_number)
        "case.opened",  # payload: case_id, case_kind, reasons[]
        "case.claimed",  # payload: case_id, assignee
        "case.decided",  # payload: case_id, decision, reason, decided_by
        "suspicious_activity.reported",  # payload: report_id, kind, severity, source
        "platform_signal.recorded",  # payload: signal_id, name, value
        "trust.score_changed",  # payload: score, band, decision, policy_version
        "shop_opening.decided",  # payload: decision_id, decision, shop_ref
        "enterprise.registered",  # payload: verification_id, licence_verdict
        "executive.added",  # payload: role
        "reverification.required",  # payload: reason, source (report_id | campaign_id)
        "reverification.task_changed",  # payload: campaign_id, task_id, state
    }
)

# Payload keys that must never appear (defence in depth: payloads are logged by consumers).
_FORBIDDEN_KEYS = frozenset({"id_number", "name", "image", "template", "address", "code"})


@dataclass(frozen=True)
class DomainEvent:
    seq: int
    event_id: str
    kind: str
    subject_id: str | None
    enterprise_id: str | None
    payload: dict[str, Any]
    actor: str | None
    at: datetime


def emit(
    session: Session,
    kind: str,
    *,
    subject_id: str | None = None,
    enterprise_id: str | None = None,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
) -> str:
    """Append an event in the caller's transaction; returns its event id."""
    if kind not in KINDS:
        raise ValueError(f"unknown domain event kind {kind!r}")
    body = dict(payload or {})
    bad = _FORBIDDEN_KEYS.intersection(body)
    if bad:
        raise ValueError(f"domain event payloads carry no personal data: {sorted(bad)}")
    event_id = new_id()
    session.add(
        DomainEventRow(
            event_id=event_id,
            kind=kind,
            subject_id=subject_id,
            enterprise_id=enterprise_id,
            payload=body,
            actor=actor,
            at=utcnow(),
        )
    )
    return event_id


def _to_event(row: DomainEventRow) -> DomainEvent:
    return DomainEvent(
        seq=row.seq,
        event_id=row.event_id,
        kind=row.kind,
        subject_id=row.subject_id,
        enterprise_id=row.enterprise_id,
        payload=dict(row.payload or {}),
        actor=row.actor,
        at=row.at,
    )


def read_after(
    session: Session,
    after_seq: int,
    *,
    kinds: Iterable[str] | None = None,
    subject_id: str | None = None,
    limit: int = 500,
) -> list[DomainEvent]:
    """Events with seq > after_seq, oldest first (a consumer's next page)."""
    q = select(DomainEventRow).where(DomainEventRow.seq > after_seq)
    if kinds is not None:
        q = q.where(DomainEventRow.kind.in_(list(kinds)))
    if subject_id is not None:
        q = q.where(DomainEventRow.subject_id == subject_id)
    return [_to_event(r) for r in session.scalars(q.order_by(DomainEventRow.seq).limit(limit))]


def for_subject(session: Session, subject_id: str, *, kinds: Iterable[str] | None = None) -> list[DomainEvent]:
    """Every event of one subject, oldest first."""
    return read_after(session, 0, kinds=kinds, subject_id=subject_id, limit=100_000)
