"""review console: claims, SLA, four-eyes (issue 14)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.platform.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_decision_proposals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("ban", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.String(length=200), nullable=False),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("proposed_at", services.platform.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("second_by", sa.String(length=100), nullable=True),
        sa.Column("second_at", services.platform.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("second_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["review_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_decision_proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_decision_proposals_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_decision_proposals_state"), ["state"], unique=False)

    op.create_table(
        "case_reviews",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("sla_due_at", services.platform.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", services.platform.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", services.platform.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", services.platform.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_by", sa.String(length=100), nullable=True),
        sa.Column("escalation_note", sa.Text(), nullable=True),
        sa.Column("decision", sa.String(length=30), nullable=True),
        sa.Column("decision_reason", sa.String(length=60), nullable=True),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("ban", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["review_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("case_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_case_reviews_assignee_due", ["assignee", "sla_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_reviews_sla_due_at"), ["sla_due_at"], unique=False)

    op.create_table(
        "video_calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", services.platform.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", services.platform.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("joined_at", services.platform.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", services.platform.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["review_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    with op.batch_alter_table("video_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_calls_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("video_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_calls_case_id"))

    op.drop_table("video_calls")
    with op.batch_alter_table("case_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_reviews_sla_due_at"))
        batch_op.drop_index("ix_case_reviews_assignee_due")

    op.drop_table("case_reviews")
    with op.batch_alter_table("case_decision_proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_decision_proposals_state"))
        batch_op.drop_index(batch_op.f("ix_case_decision_proposals_case_id"))

    op.drop_table("case_decision_proposals")
