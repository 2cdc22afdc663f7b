"""trust scores: signals, per-target snapshots, shop decisions, identity clusters (issue 12)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.platform.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_T = services.platform.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trust_signals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=True),
        sa.Column("enterprise_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("observed_at", _T, nullable=False),
        sa.Column("recorded_at", _T, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trust_signals", schema=None) as batch_op:
        batch_op.create_index("ix_trust_signals_subject_at", ["subject_id", "observed_at"], unique=False)
        batch_op.create_index("ix_trust_signals_enterprise_at", ["enterprise_id", "observed_at"], unique=False)
    op.create_table(
        "trust_snapshots",
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("computed_at", _T, nullable=False),
        sa.PrimaryKeyConstraint("target_id"),
    )
    op.create_table(
        "shop_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("shop_ref", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("decided_at", _T, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shop_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shop_decisions_target_id"), ["target_id"], unique=False)
    op.create_table(
        "identity_clusters",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("id_numbers", sa.Integer(), nullable=False),
        sa.Column("swept_at", _T, nullable=False),
        sa.PrimaryKeyConstraint("subject_id"),
    )
    with op.batch_alter_table("identity_clusters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_clusters_cluster_id"), ["cluster_id"], unique=False)


    with op.batch_alter_table("executives", schema=None) as batch_op:
        batch_op.create_index("ix_executives_subject_id", ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("executives", schema=None) as batch_op:
        batch_op.drop_index("ix_executives_subject_id")
    op.drop_table("identity_clusters")
    op.drop_table("shop_decisions")
    op.drop_table("trust_snapshots")
    op.drop_table("trust_signals")
