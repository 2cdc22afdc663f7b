"""Face templates in storage: sealed at rest, indexed in memory for 1:N search."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.identity.duplicates import DIM, Candidate, SearchIndex, TemplateIndex
from services.platform.database import Database
from services.platform.models import FaceTemplateRow, SubjectRow
from services.platform.records import BlobStore, new_id, utcnow

log = logging.getLogger("sellerverify.enrolment")


def store_template(
    session: Session, blobs: BlobStore, subject: SubjectRow, vector: np.ndarray, engine: str, model_version: str
) -> str:
    """Seal and store a template; returns its id."""
    blob_id = blobs.put(
        session,
        np.asarray(vector, np.float32).tobytes(),
        purpose="face_template",
        media_type="application/x-f32",
        subject_id=subject.id,
    )
    template_id = new_id()
    session.add(
        FaceTemplateRow(
            id=template_id,
            subject_id=subject.id,
            engine=engine,
            model_version=model_version,
            blob_id=blob_id,
            id_number_hash=subject.id_number_hash,
            created_at=utcnow(),
        )
    )
    return template_id


def load_vectors(session: Session, blobs: BlobStore, rows: list[FaceTemplateRow]) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for row in rows:
        got = blobs.get(session, row.blob_id)
        if got is None:
            continue  # past retention
        out.append((row.id, row.subject_id, np.frombuffer(got[0], np.float32).reshape(DIM)))
    return out


def build_index(db: Database, blobs: BlobStore, engine: str, model_version: str) -> TemplateIndex:
    """Rebuild the in-memory index from every stored template of this model."""
    index = TemplateIndex()
    with db.read() as session:
        rows = list(
            session.scalars(
                select(FaceTemplateRow).where(
                    FaceTemplateRow.engine == engine, FaceTemplateRow.model_version == model_version
                )
            )
        )
        index.load(load_vectors(session, blobs, rows))
    log.info("template index loaded", extra={"templates": len(index)})
    return index


# How far back a worker's index looks again at each catch-up: a template is stamped
# inside its write transaction, so one stamped earlier may commit after one stamped
# later; the window covers that (SQLite commits one at a time; PostgreSQL's writers are
# short transactions). Templates already held are skipped by id.
CATCH_UP_WINDOW = timedelta(seconds=5)


class SharedIndex:
    """The in-process index of one of several processes sharing the database (the
    workers of services/supervisor.py): before each search it loads the templates the
    other processes stored since its last look (one indexed range read of
    `face_templates.created_at`, migration 0011), and candidates whose template is gone
    (another process's retention purge) are dropped rather than reported."""

    def __init__(self, inner: TemplateIndex, db: Database, blobs: BlobStore, engine: str, model_version: str) -> None:
        self._inner = inner
        self._db = db
        self._blobs = blobs
        self._engine = engine
        self._version = model_version
        self._lock = threading.Lock()
        with db.read() as session:
            newest = session.scalar(select(func.max(FaceTemplateRow.created_at)))
        self._since: datetime | None = newest

    @property
    def kind(self) -> str:
        return self._inner.kind

    def __len__(self) -> int:
        return len(self._inner)

    def load(self, rows: Iterable[tuple[str, str, np.ndarray]]) -> None:
        self._inner.load(r for r in rows if not self._inner.holds(r[0]))

    def add(self, template_id: str, subject_id: str, vector: np.ndarray) -> None:
        if not self._inner.holds(template_id):
            self._inner.add(template_id, subject_id, vector)

    def remove(self, template_id: str) -> None:
        self._inner.remove(template_id)

    def remove_many(self, template_ids: Iterable[str]) -> None:
        self._inner.remove_many(template_ids)

    def catch_up(self) -> int:
        """Load templates stored by other processes since the last look; returns how many."""
        with self._lock, self._db.read() as session:
            query = select(
                FaceTemplateRow.id, FaceTemplateRow.subject_id, FaceTemplateRow.blob_id, FaceTemplateRow.created_at
            ).where(FaceTemplateRow.engine == self._engine, FaceTemplateRow.model_version == self._version)
            if self._since is not None:
                query = query.where(FaceTemplateRow.created_at >= self._since - CATCH_UP_WINDOW)
            rows = list(session.execute(query))
            if rows:
                newest = max(r.created_at for r in rows)
                self._since = newest if self._since is None else max(self._since, newest)
            missing = [r for r in rows if not self._inner.holds(r.id)]
            if missing:
                self.load(load_vectors(session, self._blobs, missing))  # type: ignore[arg-type]
        return len(missing)

    def search(self, vector: np.ndarray, k: int = 10, min_similarity: float = -1.0) -> list[Candidate]:
        self.catch_up()
        found = self._inner.search(vector, k=k, min_similarity=min_similarity)
        if not found:
            return found
        with self._db.read() as session:
            live = set(
                session.scalars(
                    select(FaceTemplateRow.id).where(FaceTemplateRow.id.in_([c.template_id for c in found]))
                )
            )
        gone = [c.template_id for c in found if c.template_id not in live]
        if gone:
            self._inner.remove_many(gone)
        return [c for c in found if c.template_id in live]


def open_index(
    db: Database,
    blobs: BlobStore,
    engine: str,
    model_version: str,
    *,
    pgvector_url: str = "",
    secret: bytes = b"",
    shared: bool = False,
) -> SearchIndex:
    """The template index: in-process faiss rebuilt from storage (kept in step with other
    processes' enrolments when `shared`), or, with `pgvector_url`, the shared pgvector
    table, topped up with any stored template it is missing."""
    if not pgvector_url:
        local = build_index(db, blobs, engine, model_version)
        return SharedIndex(local, db, blobs, engine, model_version) if shared else local
    from services.identity.pgvector_index import PgVectorIndex

    index = PgVectorIndex(pgvector_url, secret, model=f"{engine}:{model_version}")
    known = index.known_ids()
    with db.read() as session:
        rows = [
            r
            for r in session.scalars(
                select(FaceTemplateRow).where(
                    FaceTemplateRow.engine == engine, FaceTemplateRow.model_version == model_version
                )
            )
            if r.id not in known
        ]
        index.load(load_vectors(session, blobs, rows))
    log.info("pgvector template index ready", extra={"templates": len(index), "synced": len(rows)})
    return index


def same_id_templates(
    session: Session, blobs: BlobStore, id_number_hash: str, engine: str, model_version: str
) -> list[tuple[str, np.ndarray]]:
    rows = list(
        session.scalars(
            select(FaceTemplateRow).where(
                FaceTemplateRow.id_number_hash == id_number_hash,
                FaceTemplateRow.engine == engine,
                FaceTemplateRow.model_version == model_version,
            )
        )
    )
    return [(sid, vec) for _, sid, vec in load_vectors(session, blobs, rows)]


def id_hashes(session: Session, subject_ids: list[str]) -> dict[str, str | None]:
    if not subject_ids:
        return {}
    rows = session.execute(select(SubjectRow.id, SubjectRow.id_number_hash).where(SubjectRow.id.in_(subject_ids)))
    return {sid: h for sid, h in rows}
