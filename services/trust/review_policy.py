"""Review policy as data: how long each kind of case may wait (SLA), which reason codes
go with which decision, and which decisions need a second rep (four-eyes).

Plain data and pure functions; `review.py` and `review_queue.py` apply them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from services.core.reasons import Reason

# How long a case of each kind may wait for a decision.
SLA_BY_KIND: dict[str, timedelta] = {
    "video_call": timedelta(hours=1),
    "liveness": timedelta(hours=2),
    "face_match": timedelta(hours=2),
    "document": timedelta(hours=4),
    "duplicate": timedelta(hours=8),
    "suspicious_activity": timedelta(hours=24),
    "reverification": timedelta(hours=72),
}
DEFAULT_SLA = timedelta(hours=4)

# Findings a machine treats as decisive: approving a case that carries one overrides a
# knock-out, which a single rep may not do alone.
KNOCKOUT_REASONS: frozenset[str] = frozenset(
    r.value
    for r in (
        Reason.DUPLICATE_FACE,
        Reason.ID_REUSED_BY_OTHER_FACE,
        Reason.SCREEN_REPLAY_SUSPECTED,
        Reason.PRINTED_PHOTO_SUSPECTED,
        Reason.ID_CARD_AS_SELFIE,
        Reason.CODE_ON_SCREEN,
        Reason.REPLAYED_IMAGE,
        Reason.FACE_NO_MATCH,
        Reason.SUSPICIOUS_ACTIVITY_REPORTED,
    )
)

# The reason codes a rep may give for each decision (the console offers these).
REASONS_BY_DECISION: dict[str, tuple[Reason, ...]] = {
    "approve": (Reason.REVIEW_SAME_PERSON, Reason.REVIEW_DOCUMENT_GENUINE, Reason.REVIEW_FALSE_ALARM),
    "reject": (
        Reason.REVIEW_DIFFERENT_PERSON,
        Reason.REVIEW_DOCUMENT_FORGED,
        Reason.REVIEW_PRESENTATION_ATTACK,
        Reason.REVIEW_DUPLICATE_CONFIRMED,
    ),
    "request_new_capture": (Reason.REVIEW_IMAGE_UNUSABLE,),
    "video_call": (Reason.REVIEW_NEEDS_VIDEO_CALL,),
    "escalate": (Reason.REVIEW_ESCALATED,),
}
# Callers of the first DecideCase version send no reason code; these stand in.
DEFAULT_REASON: dict[str, Reason] = {
    "approve": Reason.REVIEW_APPROVED,
    "reject": Reason.REVIEW_REJECTED,
    "request_new_capture": Reason.REVIEW_IMAGE_UNUSABLE,
    "video_call": Reason.REVIEW_NEEDS_VIDEO_CALL,
}


def sla_for(kind: str) -> timedelta:
    """How long a case of this kind may wait."""
    return SLA_BY_KIND.get(kind, DEFAULT_SLA)


def allowed_reasons(decision: str) -> tuple[Reason, ...]:
    """Reason codes a rep may give with `decision` (the default code is always accepted)."""
    extra = (DEFAULT_REASON[decision],) if decision in DEFAULT_REASON else ()
    return REASONS_BY_DECISION.get(decision, ()) + extra


def knockouts(reasons: Iterable[dict[str, Any]], checks: Iterable[dict[str, Any]]) -> list[str]:
    """Knock-out reason codes among a case's reasons and its checks' reasons, in order."""
    found: list[str] = []
    for item in [*reasons, *(r for c in checks for r in c.get("reasons", []))]:
        code = str(item.get("code", ""))
        if code in KNOCKOUT_REASONS and code not in found:
            found.append(code)
    return found


def four_eyes(decision: str, ban: bool, knockout_codes: list[str]) -> str | None:
    """Why this decision needs a second rep, or None when one rep may take it.

    Policy: a reject with a ban (a DENY: the seller may never try again), and an
    approval that overrides a knock-out finding. A plain reject (the seller must pass
    every check again) and a request for a new capture take effect at once.
    """
    if decision == "reject" and ban:
        return "reject with ban"
    if decision == "approve" and knockout_codes:
        return "approval overrides knock-out " + ", ".join(knockout_codes)
    return None
