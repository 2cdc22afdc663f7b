"""Event-triggered re-verification: the one way any service asks subjects to re-verify.

The trust service calls it for a suspicious-activity report, campaigns for their
chosen sets. It marks each subject (face and liveness must pass again after this
moment) and appends one `reverification.required` event per subject, in the caller's
transaction; the campaign workers follow those events and start the tasks.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from services.platform import events
from services.platform.models import SubjectRow
from services.platform.records import utcnow


def require_reverification(
    session: Session,
    *,
    subject_ids: Iterable[str],
    reason: str,
    source: str,
    actor: str,
    enterprise_id: str | None = None,
) -> list[str]:
    """Mark subjects for re-verification now; returns the ids that exist (in order, no repeats).

    `reason` is a ReasonCode name (for example SUSPICIOUS_ACTIVITY_REPORTED); `source`
    is the id of what asked (a report id, a campaign id).
    """
    now = utcnow()
    marked: list[str] = []
    for subject_id in dict.fromkeys(subject_ids):
        subject = session.get(SubjectRow, subject_id, with_for_update=True)
        if subject is None:
            continue
        subject.reverify_required_at = now
        subject.updated_at = now
        events.emit(
            session,
            "reverification.required",
            subject_id=subject_id,
            enterprise_id=enterprise_id,
            payload={"reason": reason, "source": source},
            actor=actor,
        )
        marked.append(subject_id)
    return marked
