"""Change events for platform services: the domain event log read after a cursor.

Delivery is at-least-once: a consumer keeps the `seq` of the last event it processed and
resumes after it; every event carries an `event_id` to drop repeats. Only the kinds in
`DELIVERED` go out (payloads are ids, verdicts and codes; never personal data).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from services.core.errors import invalid
from services.core.reasons import Reason
from services.platform.events import DomainEvent
from services.platform.models import DomainEventRow, ExecutiveRow, SubjectRow
from services.platform.records import utcnow

DELIVERED: frozenset[str] = frozenset(
    {
        "trust.score_changed",
        "shop_opening.decided",
        "suspicious_activity.reported",
        "platform_signal.recorded",
        "reverification.required",
        "reverification.task_changed",
        "case.opened",
        "case.decided",
        "duplicate.found",
    }
)
_Q = TypeVar("_Q", bound=Select[Any])
# The log's seq is a 32-bit integer column on PostgreSQL: a cursor past it matches no
# event that can exist, and would not bind as a parameter (an INTERNAL before).
MAX_SEQ = 2**31 - 1
BATCH = 200
# Events committed this long after they took their seq are still delivered (look-back).
LATE_S = 30.0
LOOKBACK_SEQ = 1000


def check_kinds(kinds: Iterable[str]) -> frozenset[str]:
    """The kinds asked for (all of DELIVERED when none), or INVALID_FIELD naming the unknown ones."""
    wanted = frozenset(k.strip() for k in kinds if k.strip())
    unknown = wanted - DELIVERED
    if unknown:
        raise invalid(
            Reason.INVALID_FIELD,
            f"kinds {sorted(unknown)} are not delivered; choose from {sorted(DELIVERED)}",
            "kinds",
        )
    return wanted or DELIVERED


def _visible_to(q: _Q, client_id: str | None) -> _Q:
    """Confine `q` to the events a confined (onboarding) client may see (ownership.py): those
    about a subject it owns (or an unowned one), and enterprise events of an enterprise one of
    whose executives is such a subject. Everything else is left out, as if it never happened."""
    if client_id is None:
        return q
    visible = or_(SubjectRow.owner_client_id == client_id, SubjectRow.owner_client_id.is_(None))
    own_subject = exists().where(SubjectRow.id == DomainEventRow.subject_id, visible)
    own_enterprise = exists().where(
        ExecutiveRow.enterprise_id == DomainEventRow.enterprise_id,
        ExecutiveRow.subject_id == SubjectRow.id,
        visible,
    )
    return q.where(or_(own_subject, and_(DomainEventRow.subject_id.is_(None), own_enterprise)))


def check_cursor(after_seq: int) -> None:
    """INVALID_ARGUMENT / CURSOR_INVALID unless 0 <= after_seq <= MAX_SEQ."""
    if not 0 <= after_seq <= MAX_SEQ:
        raise invalid(
            Reason.CURSOR_INVALID,
            f"after_seq must be 0 or the seq of an event you processed (0 to {MAX_SEQ})",
            "after_seq",
        )


def head(session: Session) -> int:
    """The newest seq in the log (0 when empty)."""
    return int(session.scalar(select(func.max(DomainEventRow.seq))) or 0)


def _narrowed(q: _Q, kinds: frozenset[str], subject_id: str, enterprise_id: str, visible_to: str | None) -> _Q:
    q = q.where(DomainEventRow.kind.in_(sorted(kinds)))
    if subject_id:
        q = q.where(DomainEventRow.subject_id == subject_id)
    if enterprise_id:
        q = q.where(DomainEventRow.enterprise_id == enterprise_id)
    return _visible_to(q, visible_to)


def _events(session: Session, q: Select[Any]) -> list[DomainEvent]:
    rows: Iterable[DomainEventRow] = session.scalars(q.order_by(DomainEventRow.seq).limit(BATCH))
    return [
        DomainEvent(r.seq, r.event_id, r.kind, r.subject_id, r.enterprise_id, dict(r.payload or {}), r.actor, r.at)
        for r in rows
    ]


def read(
    session: Session,
    after_seq: int,
    kinds: frozenset[str],
    *,
    subject_id: str = "",
    enterprise_id: str = "",
    visible_to: str | None = None,
) -> list[DomainEvent]:
    """Delivered events with seq > after_seq, oldest first, at most BATCH (only those a
    confined client `visible_to` may see, when given)."""
    check_cursor(after_seq)
    q = select(DomainEventRow).where(DomainEventRow.seq > after_seq)
    return _events(session, _narrowed(q, kinds, subject_id, enterprise_id, visible_to))


def read_late(
    session: Session,
    cursor: int,
    kinds: frozenset[str],
    *,
    subject_id: str = "",
    enterprise_id: str = "",
    visible_to: str | None = None,
) -> list[DomainEvent]:
    """Recent events at or below the cursor (a consumer drops the ones it saw by event_id).

    A transaction takes its seq when it inserts and becomes visible when it commits, so
    seq 41 can appear after seq 42 was delivered; such events are at most LATE_S old.
    """
    q = select(DomainEventRow).where(
        DomainEventRow.seq > max(0, cursor - LOOKBACK_SEQ),
        DomainEventRow.seq <= cursor,
        DomainEventRow.at >= utcnow() - timedelta(seconds=LATE_S),
    )
    return _events(session, _narrowed(q, kinds, subject_id, enterprise_id, visible_to))
