"""Platform signals and suspicious-activity reports: recorded in the caller's transaction,
they move the target's score at once, and a report asks the subject (or every executive
of the enterprise) to re-verify and opens a case."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.core.errors import invalid, not_found
from services.core.reasons import Reason
from services.platform import events
from services.platform.auth import Caller
from services.platform.models import EnterpriseRow, SubjectRow, SuspiciousReportRow, TrustSignalRow
from services.platform.records import AuditLog, new_id, utcnow
from services.reverify.triggers import require_reverification
from services.trust import facts as facts_mod
from services.trust.cases import open_case
from services.trust.scorecard import Score
from services.trust.snapshots import TrustProjection

# name -> (default value, allowed range)
SIGNAL_KINDS: dict[str, tuple[float, float, float]] = {
    "penalty_record": (1.0, 0.0, 1000.0),
    "policy_violation": (1.0, 0.0, 1000.0),
    "user_credibility": (0.0, 0.0, 1.0),
    "positive_behaviour": (1.0, 0.0, 100000.0),
    "ban": (1.0, 0.0, 1.0),
    "ban_lifted": (1.0, 0.0, 1.0),
}
SEVERITY_WEIGHT = {"low": 0.5, "medium": 1.0, "high": 2.0, "critical": 4.0}
ACTIVITY_KINDS = ("account_takeover", "fraud_complaint", "counterfeit_goods", "linked_accounts", "other")
MAX_DESCRIPTION = 2000
MAX_SOURCE = 100
# Clock skew tolerated on observed_at.
FUTURE_SLACK = timedelta(minutes=5)
# A description must not carry an ID number (18 characters, GB 11643) or a long digit run.
_ID_LIKE = re.compile(r"\d{17}[\dXx]|\d{12,}")


@dataclass(frozen=True)
class Target:
    """Whom a signal or report is about."""

    kind: str  # "subject" | "enterprise"
    target_id: str


def check_target(session: Session, target: Target) -> None:
    """NOT_FOUND when the subject / enterprise does not exist."""
    if target.kind == "subject":
        if session.get(SubjectRow, target.target_id) is None:
            raise not_found(Reason.SUBJECT_NOT_FOUND, f"no subject with id {target.target_id!r}")
    elif session.get(EnterpriseRow, target.target_id) is None:
        raise not_found(Reason.ENTERPRISE_NOT_FOUND, f"no enterprise with id {target.target_id!r}")


def _observed(observed_at: datetime | None, now: datetime, field: str) -> datetime:
    when = observed_at or now
    if when > now + FUTURE_SLACK:
        raise invalid(Reason.INVALID_FIELD, f"{field} is in the future; send when it happened", field)
    return when


def _source(source: str) -> str:
    value = source.strip()
    if not value:
        raise invalid(Reason.MISSING_FIELD, "source is required (who saw it, e.g. order-service)", "source")
    if len(value) > MAX_SOURCE:
        raise invalid(Reason.INVALID_FIELD, f"source is longer than {MAX_SOURCE} characters", "source")
    return value


def record_signal(
    session: Session,
    trust: TrustProjection,
    audit: AuditLog,
    *,
    caller: Caller,
    target: Target,
    name: str,
    value: float,
    source: str,
    observed_at: datetime | None,
) -> tuple[str, Score]:
    """Store one platform signal and return its id and the target's new score."""
    if name not in SIGNAL_KINDS:
        raise invalid(
            Reason.SIGNAL_UNKNOWN, f"unknown platform signal {name!r}; one of {', '.join(SIGNAL_KINDS)}", "kind"
        )
    default, low, high = SIGNAL_KINDS[name]
    amount = value or default
    if name == "user_credibility" and not value:
        amount = 0.0
    if not low <= amount <= high:
        raise invalid(Reason.INVALID_FIELD, f"value {amount:g} is outside {low:g}..{high:g} for {name}", "value")
    src = _source(source)
    now = utcnow()
    when = _observed(observed_at, now, "observed_at")
    check_target(session, target)
    signal_id = new_id()
    session.add(
        TrustSignalRow(
            id=signal_id,
            subject_id=target.target_id if target.kind == "subject" else None,
            enterprise_id=target.target_id if target.kind == "enterprise" else None,
            name=name,
            value=amount,
            weight=1.0,
            source=src,
            client_id=caller.client_id,
            observed_at=when,
            recorded_at=now,
        )
    )
    events.emit(
        session,
        "platform_signal.recorded",
        subject_id=target.target_id if target.kind == "subject" else None,
        enterprise_id=target.target_id if target.kind == "enterprise" else None,
        payload={"signal_id": signal_id, "signal": name, "value": amount, "source": src},
        actor=caller.client_id,
    )
    audit.record(
        session,
        caller,
        "record_signal",
        target.target_id if target.kind == "subject" else None,
        signal_id,
        f"{name}={amount:g}",
    )
    result = trust.refresh(session, target.kind, target.target_id, now, with_actions=True)
    assert result is not None
    return signal_id, result


@dataclass
class ReportOutcome:
    """What a suspicious-activity report set in motion."""

    report_id: str
    subject_ids: list[str]
    case_id: str
    score: Score


def report_suspicious(
    session: Session,
    trust: TrustProjection,
    audit: AuditLog,
    *,
    caller: Caller,
    target: Target,
    kind: str,
    severity: str,
    source: str,
    description: str,
    observed_at: datetime | None,
) -> ReportOutcome:
    """Record a report, lower the score, require re-verification and open a case, in one transaction.

    For an enterprise every executive must re-verify; the case is opened on the legal
    representative (else the first executive).
    """
    if kind not in ACTIVITY_KINDS:
        raise invalid(Reason.MISSING_FIELD, "kind is required (for example ACTIVITY_KIND_FRAUD_COMPLAINT)", "kind")
    text = description.strip()
    if len(text) > MAX_DESCRIPTION:
        raise invalid(Reason.INVALID_FIELD, f"description is longer than {MAX_DESCRIPTION} characters", "description")
    if _ID_LIKE.search(text):
        raise invalid(
            Reason.INVALID_FIELD,
            "description seems to hold an ID number or another long number; describe what was seen without it",
            "description",
        )
    src = _source(source)
    weight = SEVERITY_WEIGHT[severity]
    now = utcnow()
    when = _observed(observed_at, now, "observed_at")
    check_target(session, target)
    report_id = new_id()
    subject_id = target.target_id if target.kind == "subject" else None
    enterprise_id = target.target_id if target.kind == "enterprise" else None
    session.add(
        SuspiciousReportRow(
            id=report_id,
            subject_id=subject_id,
            enterprise_id=enterprise_id,
            kind=kind,
            description=text,
            client_id=caller.client_id,
            created_at=now,
        )
    )
    session.add(
        TrustSignalRow(
            id=report_id,
            subject_id=subject_id,
            enterprise_id=enterprise_id,
            name="suspicious_report",
            value=1.0,
            weight=weight,
            source=src,
            client_id=caller.client_id,
            observed_at=when,
            recorded_at=now,
        )
    )
    events.emit(
        session,
        "suspicious_activity.reported",
        subject_id=subject_id,
        enterprise_id=enterprise_id,
        payload={"report_id": report_id, "kind": kind, "severity": severity, "source": src},
        actor=caller.client_id,
    )
    if subject_id is not None:
        people = [subject_id]
        case_on = subject_id
    else:
        people = facts_mod.executive_subjects(session, target.target_id)
        f = facts_mod.enterprise_facts(session, target.target_id) or {}
        reps = [e["subject_id"] for e in f.get("executives", []) if e["role"] == "legal_representative"]
        case_on = reps[0] if reps else (people[0] if people else "")
    marked = require_reverification(
        session,
        subject_ids=people,
        reason=Reason.SUSPICIOUS_ACTIVITY_REPORTED.value,
        source=report_id,
        actor=caller.client_id,
        enterprise_id=enterprise_id,
    )
    case_id = ""
    if case_on:
        case_id = open_case(
            session,
            subject_id=case_on,
            kind="suspicious_activity",
            opened_by=caller,
            reasons=[
                {
                    "code": Reason.SUSPICIOUS_ACTIVITY_REPORTED.value,
                    "message": f"{kind} report ({severity}) from {src}, report {report_id}",
                    "field": "",
                }
            ],
        ).id
    audit.record(
        session, caller, "report_suspicious_activity", subject_id, report_id, f"kind={kind} severity={severity}"
    )
    result = trust.refresh(session, target.kind, target.target_id, now, with_actions=True)
    assert result is not None
    return ReportOutcome(report_id, marked, case_id, result)
