"""Shared fixtures: a real gRPC server on an ephemeral port over a real database.

Databases: SQLite always; PostgreSQL too when one answers (SELLERVERIFY_TEST_POSTGRES_URL,
or 127.0.0.1:5432 as on CI machines). Each PostgreSQL-backed server gets a fresh database
that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.platform.settings import Settings
from services.server import ServerThread

# The development face set ships inside the repository (data/faces, origins in SOURCES.md):
# nothing here reads a path outside the checkout.
ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "data" / "faces"

TOKENS = {
    "onboarding": "tok-onboarding-0123456789",
    "cs_rep": "tok-cs-rep-0123456789abc",
    "scheduler": "tok-scheduler-0123456789",
    "risk": "tok-risk-0123456789abcde",
    "admin": "tok-admin-0123456789abcd",
}
TOKEN_SPEC = ",".join(f"{role}-client:{role}:{tok}" for role, tok in TOKENS.items())


def _postgres_admin_url() -> str | None:
    url = os.environ.get("SELLERVERIFY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=2):
            return url
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite only
        return None


POSTGRES_ADMIN_URL = _postgres_admin_url()
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_ADMIN_URL else [])


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES.is_dir():
        pytest.fail(f"the development face photos are missing from {FACES} (they ship in the repository)")
    return FACES


def fresh_database_url(backend: str, tmp: Path) -> Iterator[str]:
    """A new, empty database for one server."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'sellerverify.db'}"
        return
    import psycopg

    assert POSTGRES_ADMIN_URL
    admin = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"sv_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(tmp: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": tmp,
        "database_url": database_url,
        "api_tokens": TOKEN_SPEC,
        "encryption_key_file": tmp / "keys" / "master.key",
        "shutdown_grace_seconds": 5.0,
        "worker_threads": 4,
        # Campaign tests start the Temporal engine themselves (tests/integration/test_campaigns.py).
        "reverify_engine": "off",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class LiveServer:
    """A running server and a way to make clients for each role."""

    thread: ServerThread
    backend: str

    @property
    def port(self) -> int:
        return self.thread.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def app(self):  # type: ignore[no-untyped-def]
        return self.thread.app

    def client(self, role: str | None = "onboarding", **kwargs: object):  # type: ignore[no-untyped-def]
        from sellerverify import Client

        return Client(self.address, token=TOKENS[role] if role else None, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server (all services) on an ephemeral port, per test module and database backend."""
    tmp = tmp_path_factory.mktemp(f"server-{request.param}")
    gen = fresh_database_url(request.param, tmp)
    url = next(gen)
    thread = ServerThread(make_settings(tmp, url))
    with thread:
        yield LiveServer(thread, request.param)
    gen.close()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server over SQLite only (for tests whose subject is not the database)."""
    tmp = tmp_path_factory.mktemp("server-sqlite")
    thread = ServerThread(make_settings(tmp, f"sqlite:///{tmp / 'sv.db'}"))
    with thread:
        yield LiveServer(thread, "sqlite")


def id_card_subjects(server: LiveServer, seed: int, ref_prefix: str) -> Callable[[], str]:
    """A maker of subjects whose Chinese ID card (rendered with the seller's portrait,
    barack_obama/facerec_obama.jpg) was submitted and read: what a liveness challenge needs."""
    import random
    from datetime import date

    import cv2
    from sellerverify.v1 import common_pb2, identity_pb2

    from services.vision.faces import default_engine
    from tests import attackgen
    from tests.docgen.capture import capture
    from tests.docgen.cn_id_card import random_card, render_back, render_front
    from tests.portraits import id_portrait

    rng = random.Random(seed)
    photo = cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg"))
    card = random_card(rng, date.today(), id_portrait(photo, default_engine()))
    front = attackgen.jpeg(capture(render_front(card, rng), "clean", 1).image)
    back = attackgen.jpeg(capture(render_back(card, rng), "clean", 2).image)

    def make() -> str:
        with server.client() as client:
            sid: str = client.identity.CreateSubject(
                identity_pb2.CreateSubjectRequest(external_ref=f"{ref_prefix}-{uuid.uuid4().hex[:8]}")
            ).subject.subject_id
            client.identity.SubmitDocument(
                identity_pb2.SubmitDocumentRequest(
                    subject_id=sid, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
                )
            )
        return sid

    return make
