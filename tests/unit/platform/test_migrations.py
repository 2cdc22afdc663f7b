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
