"""The 1:N template index across processes and over time.

- pgvector (PostgreSQL 16 + pgvector from the PyPI `pgserver` package, a real server):
  vectors are stored rotated by a key-derived orthogonal matrix, cosine search is exact,
  and two identity servers sharing the database see each other's enrolments, where two
  in-process faiss indexes do not.
- Retention: a template whose sealed vector expires leaves the live index at the next
  purge, without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sellerverify.v1 import common_pb2, identity_pb2
from sqlalchemy import text, update

from services.identity.duplicates import DIM
from services.identity.pgvector_index import PgVectorIndex, rotation_matrix
from services.platform.models import BlobRow
from services.platform.records import utcnow
from services.server import ServerThread
from tests.conftest import FACES, TOKENS, make_settings

OBAMA = [
    (FACES / "barack_obama" / n).read_bytes() for n in ("facerec_obama.jpg", "facerec_obama1.jpg", "facerec_obama2.jpg")
]
BIDEN = [(FACES / "joe_biden" / n).read_bytes() for n in sorted(p.name for p in (FACES / "joe_biden").iterdir())]


@pytest.fixture(scope="module")
def pgvector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def test_rotation_is_orthogonal_and_keyed() -> None:
    a, b = rotation_matrix(b"pepper-a"), rotation_matrix(b"pepper-b")
    assert np.allclose(a @ a.T, np.eye(DIM), atol=1e-5)
    assert np.array_equal(a, rotation_matrix(b"pepper-a")) and not np.allclose(a, b)


def test_pgvector_search_is_exact_and_stores_no_raw_template(pgvector_url: str) -> None:
    rng = np.random.default_rng(7)
    vectors = [_unit(rng) for _ in range(50)]
    index = PgVectorIndex(pgvector_url, b"pepper-1", model="test:v1")
    other_model = PgVectorIndex(pgvector_url, b"pepper-1", model="test:v2")
    index.load((f"t{i}", f"s{i}", v) for i, v in enumerate(vectors))
    assert len(index) == 50 and len(other_model) == 0

    probe = vectors[17] * 0.9 + _unit(rng) * 0.1
    probe /= np.linalg.norm(probe)
    found = index.search(probe, k=3)
    expected = sorted(range(50), key=lambda i: -float(vectors[i] @ probe))[:3]
    assert [c.template_id for c in found] == [f"t{i}" for i in expected]
    assert found[0].similarity == pytest.approx(float(vectors[17] @ probe), abs=1e-4)
    assert index.search(probe, k=3, min_similarity=0.9999) == []

    with index._engine.connect() as conn:
        stored = conn.execute(text("SELECT embedding::text FROM face_vectors WHERE template_id = 't17'")).scalar_one()
    stored_vec = np.array([float(x) for x in stored.strip("[]").split(",")], np.float32)
    assert abs(float(stored_vec @ vectors[17])) < 0.5  # not the template itself...
    assert float(np.linalg.norm(stored_vec)) == pytest.approx(1.0, abs=1e-4)  # ...but a rotation of it

    # Another replica (same pepper) sees the same rows; a removal is seen by both.
    replica = PgVectorIndex(pgvector_url, b"pepper-1", model="test:v1")
    assert replica.search(probe, k=1)[0].template_id == "t17"
    index.remove("t17")
    assert replica.search(probe, k=1)[0].template_id != "t17"


def _match(client, subject_id: str, reference: bytes, probe: bytes) -> identity_pb2.MatchFaceResponse:  # type: ignore[no-untyped-def]
    return client.identity.MatchFace(
        identity_pb2.MatchFaceRequest(
            subject_id=subject_id,
            reference=common_pb2.Image(content=reference),
            probe=common_pb2.Image(content=probe),
        )
    )


def _subject(client, ref: str) -> str:  # type: ignore[no-untyped-def]
    return client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref=ref)).subject.subject_id


@pytest.mark.parametrize("index_kind", ["faiss", "pgvector"])
def test_two_identity_replicas_share_duplicates_only_through_pgvector(
    pgvector_url: str, tmp_path: Path, index_kind: str
) -> None:
    import psycopg
    from sellerverify import Client

    # A fresh database per run on the pgserver instance.
    db_name = f"replicas_{index_kind}"
    with psycopg.connect(pgvector_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    url = pgvector_url.replace("/postgres?", f"/{db_name}?", 1)
    assert db_name in url
    settings = [
        make_settings(tmp_path, url, services=["identity"], template_index=index_kind, hash_pepper="pepper-x")
        for _ in range(2)
    ]
    with ServerThread(settings[0]) as a, ServerThread(settings[1]) as b:
        ca = Client(f"127.0.0.1:{a.port}", token=TOKENS["onboarding"])
        cb = Client(f"127.0.0.1:{b.port}", token=TOKENS["onboarding"])
        with ca, cb:
            # Both replicas have their index up before anything is enrolled.
            warm_b = _subject(cb, "warm-b")
            assert _match(cb, warm_b, BIDEN[0], BIDEN[1]).decision == common_pb2.MATCH_DECISION_MATCH
            first = _subject(ca, "shop-1")
            assert _match(ca, first, OBAMA[0], OBAMA[1]).decision == common_pb2.MATCH_DECISION_MATCH
            # The same face opens a second shop through the other replica.
            second = _subject(cb, "shop-2")
            answer = _match(cb, second, OBAMA[0], OBAMA[2])
    others = {d.other_subject_id for d in answer.duplicates if d.code == common_pb2.DUPLICATE_FACE}
    if index_kind == "pgvector":
        assert first in others and answer.review_case_id
    else:
        assert first not in others  # replica b never saw replica a's enrolment


def test_expired_template_leaves_the_live_index_at_the_next_purge(tmp_path: Path) -> None:
    from sellerverify import Client

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'sv.db'}", purge_interval_seconds=1)
    with ServerThread(settings) as srv, Client(f"127.0.0.1:{srv.port}", token=TOKENS["onboarding"]) as client:
        subject = _subject(client, "shop-expiring")
        assert _match(client, subject, OBAMA[0], OBAMA[1]).decision == common_pb2.MATCH_DECISION_MATCH
        search = identity_pb2.SearchDuplicatesRequest(subject_id=subject)
        assert client.identity.SearchDuplicates(search).index_size == 1
        with srv.app.db.transaction() as session:
            session.execute(
                update(BlobRow)
                .where(BlobRow.purpose == "face_template")
                .values(expires_at=utcnow() - timedelta(days=1))
            )
        deadline = time.monotonic() + 10
        while client.identity.SearchDuplicates(search).index_size and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.identity.SearchDuplicates(search).index_size == 0
