"""The review queue: claims, "next case", snooze, escalation and four-eyes proposals.

Each case has one `CaseReviewRow` (opened with the case by `cases.open_case`, or
created on first use for cases older than the console). Functions take the caller's
open Session, so a claim and its `case.claimed` event commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, invalid
from services.core.reasons import Reason
from services.platform import events
from services.platform.auth import Caller, Role
from services.platform.models import CaseDecisionProposalRow, CaseReviewRow, ReviewCaseRow
from services.platform.records import new_id, utcnow
from services.trust import review_policy

MAX_SNOOZE_MINUTES = 7 * 24 * 60
MAX_NOTE_CHARS = 2000


def new_queue_row(case: ReviewCaseRow) -> CaseReviewRow:
    """The queue row of a case that has just been opened."""
    return CaseReviewRow(case_id=case.id, sla_due_at=case.opened_at + review_policy.sla_for(case.kind), ban=False)


def queue_row(session: Session, case: ReviewCaseRow) -> CaseReviewRow:
    """The case's queue row, created for cases opened before the console existed."""
    row = session.get(CaseReviewRow, case.id)
    if row is None:
        row = new_queue_row(case)
        session.add(row)
        session.flush()
    return row


def queue_rows(session: Session, case_ids: list[str]) -> dict[str, CaseReviewRow]:
    """Queue rows by case id (missing for cases never touched by the console)."""
    if not case_ids:
        return {}
    return {r.case_id: r for r in session.scalars(select(CaseReviewRow).where(CaseReviewRow.case_id.in_(case_ids)))}


def pending_proposals(session: Session, case_ids: list[str]) -> dict[str, CaseDecisionProposalRow]:
    """The decision waiting for a second rep, by case id."""
    if not case_ids:
        return {}
    rows = session.scalars(
        select(CaseDecisionProposalRow).where(
            CaseDecisionProposalRow.case_id.in_(case_ids), CaseDecisionProposalRow.state == "pending"
        )
    )
    return {r.case_id: r for r in rows}


def _require_open(case: ReviewCaseRow) -> None:
    from services.trust.review import require_open

    require_open(case)


def require_not_held_by_other(row: CaseReviewRow, caller: Caller) -> None:
    """CASE_CLAIMED_BY_OTHER when another rep holds the case (admins may act anyway)."""
    if row.assignee and row.assignee != caller.client_id and caller.role is not Role.ADMIN:
        raise DomainError(
            Reason.CASE_CLAIMED_BY_OTHER,
            f"case {row.case_id} is claimed by {row.assignee}; they must release it, or an admin can reassign it",
            ErrorKind.PRECONDITION,
        )


def claim(
    session: Session, case: ReviewCaseRow, caller: Caller, *, assignee: str = "", take_over: bool = False
) -> CaseReviewRow:
    """Claim an open case for the caller (admins: for `assignee`, or from another rep)."""
    _require_open(case)
    if (assignee or take_over) and caller.role is not Role.ADMIN:
        raise DomainError(
            Reason.ROLE_NOT_ALLOWED,
            "only an admin may assign a case to someone else or take it over",
            ErrorKind.PERMISSION,
        )
    target = assignee or caller.client_id
    row = queue_row(session, case)
    if row.assignee == target:
        return row
    if row.assignee and not take_over:
        raise DomainError(
            Reason.CASE_CLAIMED_BY_OTHER,
            f"case {case.id} is claimed by {row.assignee}; they must release it, or an admin can take it over",
            ErrorKind.PRECONDITION,
        )
    row.assignee = target
    row.claimed_at = utcnow()
    events.emit(
        session,
        "case.claimed",
        subject_id=case.subject_id,
        payload={"case_id": case.id, "case_kind": case.kind, "assignee": target},
        actor=caller.client_id,
    )
    return row


def release(session: Session, case: ReviewCaseRow, caller: Caller) -> CaseReviewRow:
    """Give a case back to the queue."""
    row = queue_row(session, case)
    require_not_held_by_other(row, caller)
    row.assignee = None
    row.claimed_at = None
    return row


def next_case(session: Session, caller: Caller, kind: str | None, now: datetime | None = None) -> ReviewCaseRow | None:
    """The caller's own claimed open case, else claim the unclaimed, not snoozed, not
    escalated open case due soonest. Cases without a queue row (opened before the
    console) count as due at opened_at + SLA."""
    now = now or utcnow()
    mine = (
        select(ReviewCaseRow)
        .join(CaseReviewRow, CaseReviewRow.case_id == ReviewCaseRow.id)
        .where(ReviewCaseRow.state == "open", CaseReviewRow.assignee == caller.client_id)
    )
    if kind:
        mine = mine.where(ReviewCaseRow.kind == kind)
    held = session.scalars(mine.order_by(CaseReviewRow.sla_due_at).limit(1)).first()
    if held is not None:
        return held
    due = func.coalesce(CaseReviewRow.sla_due_at, ReviewCaseRow.opened_at)
    stmt = (
        select(ReviewCaseRow)
        .outerjoin(CaseReviewRow, CaseReviewRow.case_id == ReviewCaseRow.id)
        .where(
            ReviewCaseRow.state == "open",
            CaseReviewRow.assignee.is_(None),
            or_(CaseReviewRow.snoozed_until.is_(None), CaseReviewRow.snoozed_until <= now),
            CaseReviewRow.escalated_at.is_(None),
        )
    )
    if kind:
        stmt = stmt.where(ReviewCaseRow.kind == kind)
    # Skip cases whose decision waits for a second rep: they are not "next" for anyone.
    stmt = stmt.where(
        ~select(CaseDecisionProposalRow.id)
        .where(CaseDecisionProposalRow.case_id == ReviewCaseRow.id, CaseDecisionProposalRow.state == "pending")
        .exists()
    )
    stmt = stmt.order_by(due, ReviewCaseRow.opened_at, ReviewCaseRow.id).limit(1)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=ReviewCaseRow)
    case = session.scalars(stmt).first()
    if case is None:
        return None
    claim(session, case, caller)
    return case


def snooze(session: Session, case: ReviewCaseRow, caller: Caller, minutes: int, note: str) -> CaseReviewRow:
    """Hide the case from "next case" for `minutes`; the claim is released."""
    _require_open(case)
    if not 1 <= minutes <= MAX_SNOOZE_MINUTES:
        raise invalid(Reason.INVALID_FIELD, f"minutes must be 1 to {MAX_SNOOZE_MINUTES} (a week)", "minutes")
    row = queue_row(session, case)
    require_not_held_by_other(row, caller)
    row.snoozed_until = utcnow() + timedelta(minutes=minutes)
    row.assignee = None
    row.claimed_at = None
    return row


def escalate(session: Session, case: ReviewCaseRow, caller: Caller, note: str) -> CaseReviewRow:
    """Mark the case for a senior reviewer or the risk team; the claim is released."""
    _require_open(case)
    if not note.strip():
        raise invalid(Reason.MISSING_FIELD, "note is required: say what the senior reviewer should look at", "note")
    row = queue_row(session, case)
    require_not_held_by_other(row, caller)
    row.escalated_at = utcnow()
    row.escalated_by = caller.client_id
    row.escalation_note = note.strip()[:MAX_NOTE_CHARS]
    row.assignee = None
    row.claimed_at = None
    return row


def propose(
    session: Session,
    case: ReviewCaseRow,
    caller: Caller,
    *,
    decision: str,
    reason: str,
    note: str,
    ban: bool,
    policy: str,
) -> CaseDecisionProposalRow:
    """Record a four-eyes decision that waits for a second rep (nothing takes effect)."""
    if pending_proposals(session, [case.id]):
        raise DomainError(
            Reason.DECISION_ALREADY_PENDING,
            f"case {case.id} already has a decision waiting for a second rep; confirm or decline it first",
            ErrorKind.PRECONDITION,
        )
    row = CaseDecisionProposalRow(
        id=new_id(),
        case_id=case.id,
        state="pending",
        decision=decision,
        reason=reason,
        note=note[:MAX_NOTE_CHARS],
        ban=ban,
        policy=policy[:200],
        proposed_by=caller.client_id,
        proposed_at=utcnow(),
    )
    session.add(row)
    return row


def second_opinion(
    session: Session, case: ReviewCaseRow, caller: Caller, *, confirm: bool, note: str
) -> CaseDecisionProposalRow:
    """A second rep confirms or declines the pending decision. The proposer may not
    (FOUR_EYES_SAME_REP); the caller applies a confirmed decision."""
    _require_open(case)
    pending = pending_proposals(session, [case.id]).get(case.id)
    if pending is None:
        raise DomainError(
            Reason.NO_PENDING_DECISION,
            f"case {case.id} has no decision waiting for confirmation",
            ErrorKind.PRECONDITION,
        )
    if pending.proposed_by == caller.client_id:
        raise DomainError(
            Reason.FOUR_EYES_SAME_REP,
            f"{caller.client_id} proposed this decision; a second, different rep must confirm it",
            ErrorKind.PERMISSION,
        )
    pending.state = "confirmed" if confirm else "declined"
    pending.second_by = caller.client_id
    pending.second_at = utcnow()
    pending.second_note = note[:MAX_NOTE_CHARS]
    return pending


def queue_filter(
    stmt: Select[ReviewCaseRow],
    *,
    assignee: str | None,
    escalated_only: bool,
    hide_snoozed: bool,
    pending_only: bool,
    now: datetime,
) -> Select[ReviewCaseRow]:
    """Add the console's queue filters to a `select(ReviewCaseRow)` statement."""
    if not (assignee or escalated_only or hide_snoozed or pending_only):
        return stmt
    stmt = stmt.outerjoin(CaseReviewRow, CaseReviewRow.case_id == ReviewCaseRow.id)
    if assignee == "-":
        stmt = stmt.where(CaseReviewRow.assignee.is_(None))
    elif assignee:
        stmt = stmt.where(CaseReviewRow.assignee == assignee)
    if escalated_only:
        stmt = stmt.where(CaseReviewRow.escalated_at.is_not(None))
    if hide_snoozed:
        stmt = stmt.where(or_(CaseReviewRow.snoozed_until.is_(None), CaseReviewRow.snoozed_until <= now))
    if pending_only:
        stmt = stmt.where(
            select(CaseDecisionProposalRow.id)
            .where(
                and_(CaseDecisionProposalRow.case_id == ReviewCaseRow.id, CaseDecisionProposalRow.state == "pending")
            )
            .exists()
        )
    return stmt
