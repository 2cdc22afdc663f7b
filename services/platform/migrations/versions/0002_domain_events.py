"""domain event log

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.platform.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=True),
        sa.Column("enterprise_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("at", services.platform.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("domain_events", schema=None) as batch_op:
        batch_op.create_index("ix_domain_events_subject_seq", ["subject_id", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_domain_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_domain_events_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_domain_events_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("domain_events")
