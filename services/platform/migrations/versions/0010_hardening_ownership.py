"""hardening: subjects record the client that created them (issue 18, object-level access)

Existing subjects are attributed from the audit trail (every CreateSubject wrote a
`create_subject` event naming its client); a subject with no such event keeps no owner
and stays visible to every onboarding client (services/platform/ownership.py).

Revision ID: 0010
Revises: 0006 (the lead re-chains 0007-0009 before it at merge)
Create Date: 2026-12-03 06:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_client_id", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_subjects_owner_client_id"), ["owner_client_id"], unique=False)
    op.execute(
        """
        UPDATE subjects SET owner_client_id = (
            SELECT MIN(a.actor) FROM audit_events a
            WHERE a.action = 'create_subject' AND a.subject_id = subjects.id
        )
        WHERE owner_client_id IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjects_owner_client_id"))
        batch_op.drop_column("owner_client_id")
