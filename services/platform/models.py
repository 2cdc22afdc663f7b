"""SQLAlchemy 2.x tables of the whole suite (one schema, one Alembic history).

Biometric images and face templates live only in `blobs.sealed` (AES-GCM, see
crypto.py). ID numbers are stored as keyed hashes plus a masked form. Results that may
hold personal data (document fields, full responses) are sealed too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use datetime.now(UTC)")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class SubjectRow(Base):
    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(200), unique=True)
    # The client that created the subject (platform/ownership.py decides who sees it).
    owner_client_id: Mapped[str | None] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(40))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(40))
    # Name as read from the ID document (sealed; used for the legal-representative check).
    name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    reference_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    document_verified_at: Mapped[datetime | None]
    face_verified_at: Mapped[datetime | None]
    liveness_verified_at: Mapped[datetime | None]
    # Set by a suspicious-activity report or a campaign: face and liveness must pass again after it.
    reverify_required_at: Mapped[datetime | None]


class BlobRow(Base):
    """An encrypted image or template. Deleted when `expires_at` passes (retention)."""

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    media_type: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(40))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class FaceTemplateRow(Base):
    __tablename__ = "face_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    engine: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[str] = mapped_column(String(80))
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)  # SharedIndex's catch-up (migration 0011)


class VerificationRow(Base):
    """Every verification: inputs (blob ids), outputs, models, caller, time."""

    __tablename__ = "verifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    verdict: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    checks: Mapped[list[Any]] = mapped_column(default=list)
    models: Mapped[list[Any]] = mapped_column(default=list)
    input_blob_ids: Mapped[list[Any]] = mapped_column(default=list)
    client_id: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(120))
    request_id: Mapped[str] = mapped_column(String(100))
    # The full response message, sealed (it may contain personal data).
    result_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(index=True)


class IdempotencyRow(Base):
    """Stored responses keyed by (client, method, request id), written in the same
    transaction as the work they describe."""

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    method: Mapped[str] = mapped_column(String(120), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    response_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(index=True)


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    # The DocumentField list, sealed.
    fields_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    front_blob_id: Mapped[str | None] = mapped_column(String(36))
    back_blob_id: Mapped[str | None] = mapped_column(String(36))
    verification_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime]


class ChallengeRow(Base):
    __tablename__ = "challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    mode: Mapped[str] = mapped_column(String(30))
    code: Mapped[str] = mapped_column(String(12))
    date: Mapped[str] = mapped_column(String(10))
    time_zone: Mapped[str] = mapped_column(String(64))
    pose: Mapped[str] = mapped_column(String(40))
    instructions_zh: Mapped[str] = mapped_column(Text)
    instructions_en: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    used_at: Mapped[datetime | None]
    verification_id: Mapped[str | None] = mapped_column(String(36))


class ImageHashRow(Base):
    """Perceptual hashes of submitted selfies and responses, for replay detection."""

    __tablename__ = "image_hashes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    phash: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    verification_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]


class ReviewCaseRow(Base):
    __tablename__ = "review_cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), index=True)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    checks: Mapped[list[Any]] = mapped_column(default=list)
    verification_ids: Mapped[list[Any]] = mapped_column(default=list)
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(index=True)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)


class CaseEvidenceRow(Base):
    __tablename__ = "case_evidence"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[str | None] = mapped_column(String(36))
    label: Mapped[str] = mapped_column(String(40))
    media_type: Mapped[str] = mapped_column(String(40))
    verification_id: Mapped[str | None] = mapped_column(String(36))
    checks: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class EnterpriseRow(Base):
    __tablename__ = "enterprises"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(200), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    legal_representative: Mapped[str | None] = mapped_column(String(100))
    licence_verdict: Mapped[str] = mapped_column(String(20))
    licence_reasons: Mapped[list[Any]] = mapped_column(default=list)
    document_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]
    # Added by 0004 (reverify): the rest of the licence, and the GB/T 2260 division code
    # (credit code characters 3-8) that campaigns select regions by.
    company_type: Mapped[str | None] = mapped_column(String(100))
    registered_capital: Mapped[str | None] = mapped_column(String(100))
    establishment_date: Mapped[str | None] = mapped_column(String(10))
    valid_until: Mapped[str | None] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)


class ExecutiveRow(Base):
    __tablename__ = "executives"

    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    role: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(100))
    share_percent: Mapped[float] = mapped_column(Float, default=0.0)
    added_at: Mapped[datetime]
    # Added by 0004: the ID document's last valid day (YYYY-MM-DD), None if unknown or long-term.
    id_valid_until: Mapped[str | None] = mapped_column(String(10), index=True)


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), index=True)
    enterprise_ids: Mapped[list[Any]] = mapped_column(default=list)
    starts_at: Mapped[datetime]
    deadline: Mapped[datetime]
    created_at: Mapped[datetime]
    # Added by 0004: the full scope, reminder offsets, who created it, when it ended.
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remind_after_seconds: Mapped[list[Any] | None] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(100))
    completed_at: Mapped[datetime | None]


class CampaignTaskRow(Base):
    __tablename__ = "campaign_tasks"
    __table_args__ = (UniqueConstraint("campaign_id", "subject_id", name="uq_task_campaign_subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # No index of its own since 0004: uq_task_campaign_subject and the (campaign, ...) indexes lead with it.
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    enterprise_id: Mapped[str] = mapped_column(String(36))
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(20))
    deadline: Mapped[datetime]
    verification_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Added by 0004. A batch workflow owns the tasks of one (campaign, batch).
    batch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why the executive is in the campaign: annual_due, id_expiring, requested.
    cause: Mapped[str | None] = mapped_column(String(30))
    notified_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    closed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


class SuspiciousReportRow(Base):
    __tablename__ = "suspicious_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class AuditEventRow(Base):
    """Every access to biometric data and every state change, who and when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_subject_at", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(36))
    resource: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(String(400))


class DomainEventRow(Base):
    """The append-only log of what happened (results flow one way): verifications
    recorded, cases opened and decided, reports received, scores changed. Trust,
    review and campaigns consume it by sequence number; webhooks deliver it out.
    Never holds images, templates, ID numbers or names."""

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_subject_seq", "subject_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(36))
    enterprise_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # Ids and codes only (verification id, verdict, reason codes, case id, ...).
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(index=True)


# ---- trust (issue 12)


class TrustSignalRow(Base):
    """A signal the platform fed in (penalty, violation, rating, positive behaviour, ban)
    or a suspicious-activity report (then `id` is the report id). Ids and numbers only."""

    __tablename__ = "trust_signals"
    __table_args__ = (
        Index("ix_trust_signals_subject_at", "subject_id", "observed_at"),
        Index("ix_trust_signals_enterprise_at", "enterprise_id", "observed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str | None] = mapped_column(String(36))
    enterprise_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    # Severity weight (reports); 1 for other signals.
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    source: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(100))
    observed_at: Mapped[datetime]
    recorded_at: Mapped[datetime]


class TrustSnapshotRow(Base):
    """Per subject / enterprise: the facts its score is computed from (ids, verdicts, codes,
    times), refreshed in every transaction that changes them, and the last score. A score
    read is one primary-key lookup plus arithmetic."""

    __tablename__ = "trust_snapshots"

    target_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(10))
    policy_version: Mapped[str] = mapped_column(String(40))
    computed_at: Mapped[datetime]


class ShopDecisionRow(Base):
    """A shop-opening decision with the facts it saw and the policy version it used."""

    __tablename__ = "shop_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(36), index=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    shop_ref: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    policy_version: Mapped[str] = mapped_column(String(40))
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    case_id: Mapped[str | None] = mapped_column(String(36))
    client_id: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime]


class IdentityClusterRow(Base):
    """The face <-> ID-number component of a subject, for subjects in components of more
    than one subject (written by the sweep)."""

    __tablename__ = "identity_clusters"

    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    subjects: Mapped[int] = mapped_column(Integer)
    faces: Mapped[int] = mapped_column(Integer)
    id_numbers: Mapped[int] = mapped_column(Integer)
    swept_at: Mapped[datetime]


# Every write re-scores the enterprises a changed subject is an executive of: look them up
# by subject (the executives primary key leads with the enterprise).
Index("ix_executives_subject_id", ExecutiveRow.subject_id)
# ---- reverify (issue 13)


class CampaignEffectRow(Base):
    """Every outside effect of a campaign task (notify, each reminder, the escalation),
    recorded once: the key is (campaign, subject, step), so a retried or replayed
    activity finds its row and does nothing twice."""

    __tablename__ = "campaign_effects"

    campaign_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # notify, remind-1, remind-2, ..., overdue, passed, failed
    step: Mapped[str] = mapped_column(String(20), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    event_id: Mapped[str | None] = mapped_column(String(36))
    at: Mapped[datetime]


class ReverifyCursorRow(Base):
    """A durable position in the domain event log, one per follower."""

    __tablename__ = "reverify_cursors"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


Index("ix_campaign_tasks_campaign_batch", CampaignTaskRow.campaign_id, CampaignTaskRow.batch)
Index("ix_campaign_tasks_campaign_state", CampaignTaskRow.campaign_id, CampaignTaskRow.state)
# ---- review console (issue 14)


class CaseReviewRow(Base):
    """The queue state of a review case (one row per case, created when it opens or
    on the first claim of an older case): who holds it, when it is due, snooze and
    escalation, and how it was decided (reason code, ban, the confirming second rep)."""

    __tablename__ = "case_reviews"
    __table_args__ = (Index("ix_case_reviews_assignee_due", "assignee", "sla_due_at"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"), primary_key=True)
    sla_due_at: Mapped[datetime] = mapped_column(index=True)
    assignee: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalated_by: Mapped[str | None] = mapped_column(String(100))
    escalation_note: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(30))
    decision_reason: Mapped[str | None] = mapped_column(String(60))
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    ban: Mapped[bool] = mapped_column(default=False)


class CaseDecisionProposalRow(Base):
    """A four-eyes decision: proposed by one rep, confirmed or declined by another."""

    __tablename__ = "case_decision_proposals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"), index=True)
    # pending, confirmed, declined
    state: Mapped[str] = mapped_column(String(20), index=True)
    decision: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(Text)
    ban: Mapped[bool] = mapped_column(default=False)
    policy: Mapped[str] = mapped_column(String(200))
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime]
    second_by: Mapped[str | None] = mapped_column(String(100))
    second_at: Mapped[datetime | None]
    second_note: Mapped[str | None] = mapped_column(Text)


class VideoCallRow(Base):
    """A video-call session of a case; the seller's one-time join token is kept only
    as its SHA-256 digest."""

    __tablename__ = "video_calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    joined_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(Text)


# ---- hardening (issue 18)
# Columns added to existing tables by migration 0006 are declared on those classes
# through these attributes (SQLAlchemy maps them as ordinary columns).
DocumentRow.personal_data_purged_at = mapped_column(UTCDateTime(), nullable=True)  # type: ignore[attr-defined]
DocumentRow.purged_fields = mapped_column(JSON, nullable=True)  # type: ignore[attr-defined]
