"""hardening: personal-data purge marks on documents (issue 18)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.platform.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("personal_data_purged_at", services.platform.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("purged_fields", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("purged_fields")
        batch_op.drop_column("personal_data_purged_at")
