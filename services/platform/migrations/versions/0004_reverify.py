"""enterprises, executives and campaigns (issue 13)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.platform.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = services.platform.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.add_column(sa.Column("company_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("registered_capital", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("establishment_date", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("region_code", sa.String(length=6), nullable=True))
        batch_op.create_index(batch_op.f("ix_enterprises_region_code"), ["region_code"], unique=False)
    with op.batch_alter_table("executives", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_valid_until", sa.String(length=10), nullable=True))
        batch_op.create_index(batch_op.f("ix_executives_id_valid_until"), ["id_valid_until"], unique=False)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("remind_after_seconds", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("completed_at", _UTC, nullable=True))
    with op.batch_alter_table("campaign_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cause", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("notified_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("reminders_sent", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("closed_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.create_index("ix_campaign_tasks_campaign_batch", ["campaign_id", "batch"], unique=False)
        batch_op.create_index("ix_campaign_tasks_campaign_state", ["campaign_id", "state"], unique=False)
        # Redundant with the indexes above (each leads with campaign_id); one less to maintain
        # when planning inserts a million tasks.
        batch_op.drop_index("ix_campaign_tasks_campaign_id")
    op.create_table(
        "campaign_effects",
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "subject_id", "step"),
    )
    with op.batch_alter_table("campaign_effects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_effects_task_id"), ["task_id"], unique=False)
    op.create_table(
        "reverify_cursors",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("reverify_cursors")
    op.drop_table("campaign_effects")
    with op.batch_alter_table("campaign_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_tasks_campaign_id", ["campaign_id"], unique=False)
        batch_op.drop_index("ix_campaign_tasks_campaign_state")
        batch_op.drop_index("ix_campaign_tasks_campaign_batch")
        for name in ("note", "closed_at", "reminders_sent", "notified_at", "cause", "batch"):
            batch_op.drop_column(name)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in ("completed_at", "created_by", "remind_after_seconds", "scope"):
            batch_op.drop_column(name)
    with op.batch_alter_table("executives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executives_id_valid_until"))
        batch_op.drop_column("id_valid_until")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_region_code"))
        for name in ("region_code", "valid_until", "establishment_date", "registered_capital", "company_type"):
            batch_op.drop_column(name)
