"""Face templates in storage: sealed at rest, indexed in memory for 1:N search."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity.duplicates import DIM, SearchIndex, TemplateIndex
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


def open_index(
    db: Database, blobs: BlobStore, engine: str, model_version: str, *, pgvector_url: str = "", secret: bytes = b""
) -> SearchIndex:
    """The template index: in-process faiss rebuilt from storage, or, with `pgvector_url`,
    the shared pgvector table, topped up with any stored template it is missing."""
    if not pgvector_url:
        return build_index(db, blobs, engine, model_version)
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
