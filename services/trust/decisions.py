"""Shop-opening decisions: ALLOW / REVIEW / DENY from the target's score, recorded with
the facts it saw and the policy version, so it can be shown and re-scored later. REVIEW
opens a case for a CS rep (or points at the one already open)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import invalid, not_found
from services.core.reasons import Reason
from services.platform import events
from services.platform.auth import Caller
from services.platform.models import ReviewCaseRow, ShopDecisionRow, TrustSnapshotRow
from services.platform.records import AuditLog, new_id, utcnow
from services.trust.cases import open_case
from services.trust.policy import PolicySet
from services.trust.scorecard import Score, score
from services.trust.signals import Target
from services.trust.snapshots import TrustProjection

MAX_SHOP_REF = 200
# The review case a REVIEW opens, by the reason that weighs most.
CASE_KIND_FOR = {
    "DOCUMENT_NOT_VERIFIED": "document",
    "DOCUMENT_FORGED": "document",
    "DOCUMENT_EXPIRED": "document",
    "LICENCE_INVALID": "document",
    "FACE_NOT_VERIFIED": "face_match",
    "LIVENESS_NOT_VERIFIED": "liveness",
    "LIVENESS_ATTACK_DETECTED": "liveness",
    "DUPLICATE_FACE": "duplicate",
    "ID_REUSED_BY_OTHER_FACE": "duplicate",
    "IDENTITY_CLUSTER": "duplicate",
    "DUPLICATE_IDENTITY_CONFIRMED": "duplicate",
    "REVERIFICATION_PENDING": "reverification",
    "REVERIFICATION_OVERDUE": "reverification",
    "EXECUTIVE_NOT_VERIFIED": "reverification",
    "LEGAL_REPRESENTATIVE_NOT_VERIFIED": "reverification",
}


@dataclass
class ShopDecision:
    """A recorded decision and the score behind it."""

    row: ShopDecisionRow
    score: Score


def _case_subject(target: Target, f: dict[str, Any]) -> str:
    if target.kind == "subject":
        return target.target_id
    execs = f.get("executives") or []
    reps = [e["subject_id"] for e in execs if e["role"] == "legal_representative"]
    return reps[0] if reps else (execs[0]["subject_id"] if execs else "")


def decide(
    session: Session,
    trust: TrustProjection,
    audit: AuditLog,
    *,
    caller: Caller,
    request_id: str,
    target: Target,
    shop_ref: str,
) -> ShopDecision:
    """Decide whether a shop may open for the target now, and record it."""
    ref = shop_ref.strip()
    if len(ref) > MAX_SHOP_REF:
        raise invalid(Reason.INVALID_FIELD, f"shop_ref is longer than {MAX_SHOP_REF} characters", "shop_ref")
    now = utcnow()
    # The snapshot row itself (not only its facts): a REVIEW stores it again, without a second read.
    snapshot = session.get(TrustSnapshotRow, target.target_id)
    if snapshot is not None and snapshot.target_kind == target.kind:
        f = dict(snapshot.facts)
    else:
        snapshot = None
        f = trust.facts_of(session, target.kind, target.target_id)
    result = score(trust.policies.active, f, now)
    reasons = result.decision_reasons()
    case_id: str | None = None
    if result.decision == "REVIEW":
        on = _case_subject(target, f)
        if on:
            # A subject's snapshot lists its open cases, oldest first (kept current by every
            # writer); an enterprise's case goes to its legal representative, looked up.
            already: str | None
            if snapshot is not None and target.kind == "subject":
                listed = (f.get("cases") or {}).get("open") or []
                already = listed[0] if listed else None
            else:
                already = session.scalars(
                    select(ReviewCaseRow.id)
                    .where(ReviewCaseRow.subject_id == on, ReviewCaseRow.state == "open")
                    .order_by(ReviewCaseRow.opened_at)
                    .limit(1)
                ).first()
            if already is not None:
                case_id = already
            else:
                kind = next((CASE_KIND_FOR[c] for c in reasons if c in CASE_KIND_FOR), "suspicious_activity")
                case_id = open_case(
                    session,
                    subject_id=on,
                    kind=kind,
                    opened_by=caller,
                    reasons=[
                        {"code": c, "message": f"shop opening {ref or '(no shop ref)'}: REVIEW", "field": ""}
                        for c in reasons
                    ]
                    or [{"code": Reason.TRUST_SCORE_LOW.value, "message": "shop opening: REVIEW", "field": ""}],
                ).id
                if target.kind == "subject":
                    # The snapshot learns of the case here, from what was just written, instead
                    # of re-reading every fact at commit (what subject_facts would now return).
                    patched = dict(f)
                    cases = {k: list(v) for k, v in (f.get("cases") or {}).items()}
                    cases["open"] = [*cases.get("open", []), case_id]
                    patched["cases"] = cases
                    if f.get("status") != "rejected":
                        patched["status"] = "in_review"
                    trust.store(session, "subject", on, patched, now, row=snapshot)
    row = ShopDecisionRow(
        id=new_id(),
        target_id=target.target_id,
        target_kind=target.kind,
        shop_ref=ref,
        decision=result.decision,
        score=result.score,
        band=result.band,
        reasons=reasons,
        policy_version=result.policy_version,
        facts=f,
        case_id=case_id,
        client_id=caller.client_id,
        request_id=request_id,
        decided_at=now,
    )
    session.add(row)
    events.emit(
        session,
        "shop_opening.decided",
        subject_id=target.target_id if target.kind == "subject" else None,
        enterprise_id=target.target_id if target.kind == "enterprise" else None,
        payload={"decision_id": row.id, "decision": result.decision, "shop_ref": ref, "score": result.score},
        actor=caller.client_id,
    )
    audit.record(
        session,
        caller,
        "decide_shop_opening",
        target.target_id if target.kind == "subject" else None,
        row.id,
        f"decision={result.decision} score={result.score:g}",
    )
    return ShopDecision(row, result)


def get_decision(session: Session, policies: PolicySet, decision_id: str) -> tuple[ShopDecisionRow, Score]:
    """A stored decision and its stored facts re-scored with the stored policy at the decision time."""
    row = session.get(ShopDecisionRow, decision_id)
    if row is None:
        raise not_found(Reason.DECISION_NOT_FOUND, f"no shop decision with id {decision_id!r}")
    return row, score(policies.get(row.policy_version), row.facts, row.decided_at)
