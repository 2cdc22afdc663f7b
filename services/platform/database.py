"""Database engine, sessions and migrations.

SQLite file by default (created on first run), PostgreSQL by URL. The schema is owned
by Alembic (services/platform/migrations); `migrate()` brings a database to head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Executable, Row, create_engine, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.platform.migrations_head import head_revisions
from services.platform.private_files import private_file

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_WRITE = "sellerverify_write"  # execution option: this transaction will write


def make_engine(url: str) -> Engine:
    """An engine tuned for the backend: WAL and foreign keys for SQLite, pre-ping for PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            # 0600 before SQLite opens it: its -wal and -shm files take the same mode.
            private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer, and a crash mid-write rolls back cleanly.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            # Python's sqlite3 would open a transaction only at the first write, so a
            # transaction's reads saw no lock and no snapshot: two requests could both
            # read a challenge as unused and both consume it (a lost update). SQLAlchemy
            # now emits BEGIN itself (below).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A write transaction takes the write lock at BEGIN, so what it reads stays
            # true until it commits (SELECT ... FOR UPDATE's meaning on PostgreSQL);
            # reads get a consistent snapshot without blocking anyone (WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def at_head(engine: Engine) -> bool:
    """Whether the database's Alembic version is the migrations' head already."""
    try:
        with engine.connect() as conn:
            stored = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:  # no version table yet: a new database
        return False
    return bool(stored) and stored == set(head_revisions())


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (idempotent). A database at head already is left
    as it is without loading Alembic (about 0.25 s of a restart)."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


class Database:
    """Session factory with one transaction per unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._point_reads: Engine | None = None
        if engine.dialect.name == "postgresql":
            # Hot single-statement reads (a trust score): autocommit, so one round trip
            # instead of four (pre-ping, BEGIN, SELECT, ROLLBACK). Its own small pool
            # without pre-ping; a connection dropped by a database restart is retried once.
            self._point_reads = create_engine(
                engine.url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10, pool_recycle=1800
            )

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory (for session-level event hooks such as trust snapshots)."""
        return self._sessions

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together or not at all."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options={_WRITE: True})  # BEGIN IMMEDIATE on SQLite
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def first(self, statement: Executable) -> Row[Any] | None:
        """The first row of one read-only statement, outside any transaction (a single
        statement sees one consistent snapshot by itself)."""
        if self._point_reads is None:  # SQLite: local, a transaction costs nothing
            with self.engine.connect() as conn:
                return conn.execute(statement).first()
        for attempt in (1, 2):
            try:
                with self._point_reads.connect() as conn:
                    return conn.execute(statement).first()
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def scalar(self, statement: Executable) -> Any:
        """The first column of `first(statement)`, or None."""
        row = self.first(statement)
        return None if row is None else row[0]

    def dispose(self) -> None:
        self.engine.dispose()
        if self._point_reads is not None:
            self._point_reads.dispose()
