from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.platform.database import make_engine, migrate
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
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        engine.dispose()
    finally:
        gen.close()
