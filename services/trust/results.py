"""One path for verification results: what a recorded result sets in motion.

Identity and liveness decide a verdict and call `settle()` in their write transaction;
it opens the review case a doubtful result needs, counts a passed check on the subject,
and records duplicate findings as `duplicate.found` events (the identity graph's face
links). Trust signals follow from the events those writes emit (see snapshots.py), so a
servicer only converts and calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from services.identity import subjects
from services.platform import events
from services.platform.auth import Caller
from services.platform.models import SubjectRow
from services.trust.cases import open_case


def settle(
    session: Session,
    *,
    subject: SubjectRow,
    verdict: str,
    case_kind: str,
    caller: Caller,
    verification_id: str,
    reasons: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    evidence: Sequence[tuple[str, str, str]] = (),
    passed_check: str | None = None,
    duplicates: Sequence[tuple[str, str]] = (),
) -> str:
    """Apply a verification result; returns the id of the case opened ("" when none).

    review -> a case of `case_kind` with the result's reasons, checks and evidence;
    pass -> `passed_check` ("document", "face", "liveness") counts as passed now.
    `duplicates` are (other_subject_id, reason code) findings of a 1:N search.
    """
    if duplicates:
        events.emit(
            session,
            "duplicate.found",
            subject_id=subject.id,
            payload={
                "verification_id": verification_id,
                "other_subject_ids": [d[0] for d in duplicates],
                "kinds": [d[1] for d in duplicates],
            },
            actor=caller.client_id,
        )
    if verdict == "review":
        return open_case(
            session,
            subject_id=subject.id,
            kind=case_kind,
            opened_by=caller,
            reasons=reasons,
            checks=checks,
            verification_ids=[verification_id],
            evidence=list(evidence),
        ).id
    if verdict == "pass" and passed_check:
        subjects.mark_passed(session, subject, passed_check)
    return ""
