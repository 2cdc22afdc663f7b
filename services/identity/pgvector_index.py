"""1:N template search in PostgreSQL with pgvector, shared by every identity replica.

The embedded faiss index lives in one process: a second identity container would not see
the faces the first one enrolled. With `SELLERVERIFY_TEMPLATE_INDEX=pgvector` every
replica searches one table, `face_vectors`, in the PostgreSQL named by
`SELLERVERIFY_PGVECTOR_URL` (default: the main database).

What the table holds: not the face templates themselves. The sealed (AES-GCM) template
stays the source of truth in `face_templates`/`blobs`; `face_vectors` holds each template
multiplied by a secret random orthogonal matrix derived from the hash pepper. Rotation
keeps every cosine similarity exactly, so search is unchanged, while the stored vectors
cannot be compared with templates from any other system or key (a cancelable template:
a new pepper re-keys it). It is weaker than encryption against someone who also holds
many original templates; the operations guide says so.

Search is an exact scan (no approximate index), for the reason duplicates.py gives:
approximate indexes missed planted duplicates. The table is created by the index itself
(`CREATE EXTENSION vector` needs pgvector on the server, which stock Debian 12 lacks), so
the Alembic schema stays runnable on SQLite and on PostgreSQL without pgvector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from sqlalchemy import Engine, text

from services.identity.duplicates import DIM, Candidate
from services.platform.database import make_engine


def rotation_matrix(secret: bytes, dim: int = DIM) -> np.ndarray:
    """A random orthogonal matrix seeded by `secret` (same secret, same matrix)."""
    seed = int.from_bytes(hashlib.sha256(b"sellerverify/template-rotation/v1:" + secret).digest()[:16], "big")
    gaussian = np.random.default_rng(seed).standard_normal((dim, dim))
    q, r = np.linalg.qr(gaussian)
    return (q * np.sign(np.diag(r))).astype(np.float32)  # sign fix: a unique Q per seed


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector.tolist()) + "]"


class PgVectorIndex:
    """Exact cosine search over rotated templates in a pgvector table (thread-safe:
    every call takes its own pooled connection)."""

    kind = "pgvector"

    def __init__(self, url: str, secret: bytes, model: str, dim: int = DIM, engine: Engine | None = None) -> None:
        if not url.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ValueError("the pgvector template index needs a PostgreSQL URL (SELLERVERIFY_PGVECTOR_URL)")
        self._engine = engine or make_engine(url)
        self._rotation = rotation_matrix(secret, dim)
        self._model = model
        self._dim = dim
        with self._engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS face_vectors ("
                    f" template_id varchar(36) PRIMARY KEY,"
                    f" subject_id varchar(36) NOT NULL,"
                    f" model varchar(120) NOT NULL,"
                    f" embedding vector({dim}) NOT NULL)"
                )
            )
            conn.execute(text("CREATE INDEX IF NOT EXISTS face_vectors_model ON face_vectors (model)"))

    def _rotate(self, vector: np.ndarray) -> np.ndarray:
        v = np.asarray(vector, np.float32).reshape(self._dim)
        return self._rotation @ v

    def __len__(self) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM face_vectors WHERE model = :m"), {"m": self._model}
                ).scalar_one()
            )

    def known_ids(self) -> set[str]:
        """Template ids already in the table (for syncing at start)."""
        with self._engine.connect() as conn:
            rows = conn.execute(text("SELECT template_id FROM face_vectors WHERE model = :m"), {"m": self._model})
            return {r[0] for r in rows}

    def load(self, rows: Iterable[tuple[str, str, np.ndarray]]) -> None:
        """Bulk-add (template_id, subject_id, vector) rows; rows already present are kept."""
        params = [{"t": tid, "s": sid, "m": self._model, "e": _literal(self._rotate(vec))} for tid, sid, vec in rows]
        if not params:
            return
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO face_vectors (template_id, subject_id, model, embedding)"
                    " VALUES (:t, :s, :m, CAST(:e AS vector)) ON CONFLICT (template_id) DO NOTHING"
                ),
                params,
            )

    def add(self, template_id: str, subject_id: str, vector: np.ndarray) -> None:
        self.load([(template_id, subject_id, vector)])

    def remove(self, template_id: str) -> None:
        self.remove_many([template_id])

    def remove_many(self, template_ids: Iterable[str]) -> None:
        ids = list(template_ids)
        if not ids:
            return
        with self._engine.begin() as conn:
            conn.execute(text("DELETE FROM face_vectors WHERE template_id = ANY(:t)"), {"t": ids})

    def search(self, vector: np.ndarray, k: int = 10, min_similarity: float = -1.0) -> list[Candidate]:
        """The k most similar templates of this model with similarity >= min_similarity."""
        q = _literal(self._rotate(vector))
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT template_id, subject_id, 1 - (embedding <=> CAST(:q AS vector)) AS sim"
                    " FROM face_vectors WHERE model = :m"
                    " ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k"
                ),
                {"q": q, "m": self._model, "k": k},
            ).all()
        return [Candidate(t, s, float(sim)) for t, s, sim in rows if float(sim) >= min_similarity]

    def close(self) -> None:
        self._engine.dispose()
