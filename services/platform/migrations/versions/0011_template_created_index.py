"""serving: index face_templates.created_at (issue 18, process-per-core)

Each worker process of `serve` with SELLERVERIFY_WORKERS > 1 holds its own 1:N index and,
before every search, loads the templates the other workers stored since its last look:
a range read on `created_at` (services/identity/enrolment.py `SharedIndex`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_templates_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_templates_created_at"))
