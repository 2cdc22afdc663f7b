from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from services.platform.database import alembic_config, make_engine, migrate
from services.platform.models import Base
from tests.conftest import BACKENDS, fresh_database_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_exactly_the_models_and_are_idempotent(backend: str, tmp_path: Path) -> None:
    gen = fresh_database_url(backend, tmp_path)
    url = next(gen)
    try:
        engine = make_engine(url)
        migrate(engine)
        migrate(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == head
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree; add a migration: {diff}"
        engine.dispose()
    finally:
        gen.close()


def test_ownership_migration_attributes_existing_subjects_from_the_audit_trail(tmp_path: Path) -> None:
    """0010: a subject created before ownership was recorded gets the client its
    create_subject audit event names; one with no such event keeps no owner."""
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0006")
    now = "2026-01-01 00:00:00.000000"
    with engine.begin() as conn:
        for sid in ("s-audited", "s-unknown"):
            conn.execute(
                text(
                    "INSERT INTO subjects (id, external_ref, kind, status, created_at, updated_at) "
                    "VALUES (:id, :ref, 'individual', 'pending', :now, :now)"
                ),
                {"id": sid, "ref": f"ref-{sid}", "now": now},
            )
        conn.execute(
            text(
                "INSERT INTO audit_events (at, actor, role, action, subject_id) "
                "VALUES (:now, 'shop-a', 'onboarding', 'create_subject', 's-audited')"
            ),
            {"now": now},
        )
    migrate(engine)
    with engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT id, owner_client_id FROM subjects")).all())
    assert owners == {"s-audited": "shop-a", "s-unknown": None}
    engine.dispose()


def test_a_restart_skips_alembic_only_when_the_database_is_at_head(tmp_path: Path) -> None:
    """`migrate` reads the head from the migration files itself (a restart then needs no
    Alembic import); it must agree with Alembic, and an older database is still upgraded."""
    from services.platform.database import at_head
    from services.platform.migrations_head import head_revisions

    engine = make_engine(f"sqlite:///{tmp_path / 'sv.db'}")
    assert head_revisions() == set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    assert not at_head(engine)  # no version table yet
    migrate(engine, "0010")
    assert not at_head(engine)
    migrate(engine)
    assert at_head(engine)
    assert "ix_face_templates_created_at" in {i["name"] for i in inspect(engine).get_indexes("face_templates")}
    engine.dispose()
