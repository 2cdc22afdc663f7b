"""Killing the server during a write leaves no partial record; SIGTERM lets in-flight
calls finish. The server runs as a real process (`sellerverify serve`); the fault-injection
setting SELLERVERIFY_FAULT_WRITE_PAUSE_MS holds every write transaction open (rows added
and flushed, not committed), and the test waits until it sees that open transaction in the
database before it signals the process, so the signal lands mid-write every time."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from sellerverify import Client, SellerVerifyError
from sellerverify.v1 import identity_pb2
from sqlalchemy import func, select

from services.platform.database import Database, make_engine
from services.platform.models import AuditEventRow, IdempotencyRow, SubjectRow
from tests.conftest import BACKENDS, TOKEN_SPEC, TOKENS, fresh_database_url

PAUSE_MS = 3000


def _start(tmp: Path, url: str, pause_ms: int) -> tuple[subprocess.Popen[bytes], str]:
    ready = tmp / f"ready-{uuid.uuid4().hex}.json"
    env = {
        **os.environ,
        "SELLERVERIFY_DATA_DIR": str(tmp),
        "SELLERVERIFY_DATABASE_URL": url,
        "SELLERVERIFY_API_TOKENS": TOKEN_SPEC,
        "SELLERVERIFY_ENCRYPTION_KEY_FILE": str(tmp / "keys" / "master.key"),
        "SELLERVERIFY_FAULT_WRITE_PAUSE_MS": str(pause_ms),
        "SELLERVERIFY_SHUTDOWN_GRACE_SECONDS": "10",
        "SELLERVERIFY_PURGE_INTERVAL_SECONDS": "3600",
        "SELLERVERIFY_CONSOLE_PORT": "0",  # the embedded review console on an ephemeral port
    }
    cli = Path(sys.executable).parent / "sellerverify"
    proc = subprocess.Popen(
        [str(cli), "serve", "--port", "0", "--ready-file", str(ready)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start (exit {proc.returncode})")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["address"]


def _write_is_open(url: str) -> bool:
    """Whether some connection holds an uncommitted write transaction right now."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # fails at once while another writer holds the lock
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        row = pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND query ILIKE 'INSERT%'"
        ).fetchone()
        return bool(row and row[0])


def _wait_for_open_write(url: str, alive: Callable[[], bool]) -> None:
    """Until an open write has been seen on two probes 0.3 s apart (longer than any
    background write of an idle server), i.e. the paused transaction of our call."""
    deadline = time.monotonic() + PAUSE_MS / 1000 + 20
    seen_since: float | None = None
    while time.monotonic() < deadline:
        assert alive(), "the call ended before its write was seen"
        if _write_is_open(url):
            seen_since = seen_since or time.monotonic()
            if time.monotonic() - seen_since >= 0.3:
                return
        else:
            seen_since = None
        time.sleep(0.05)
    pytest.fail("never saw the paused write transaction")


def _assert_rolled_back(url: str) -> None:
    """The database rolls the killed server's transaction back. PostgreSQL notices the dead
    connection asynchronously, so on a loaded machine give it a few seconds."""
    deadline = time.monotonic() + 10
    while _write_is_open(url):
        assert time.monotonic() < deadline, "the killed server's transaction is still open after 10 s"
        time.sleep(0.1)


def _rows(url: str, external_ref: str, request_id: str) -> tuple[int, int, int]:
    db = Database(make_engine(url))
    try:
        with db.read() as s:
            subject_ids = list(s.scalars(select(SubjectRow.id).where(SubjectRow.external_ref == external_ref)))
            audits = (
                s.scalar(select(func.count()).where(AuditEventRow.subject_id.in_(subject_ids))) if subject_ids else 0
            )
            idem = s.scalar(select(func.count()).where(IdempotencyRow.request_id == request_id))
        return len(subject_ids), int(audits or 0), int(idem or 0)
    finally:
        db.dispose()


def _in_background(address: str, request: identity_pb2.CreateSubjectRequest) -> tuple[threading.Thread, list[object]]:
    """CreateSubject on a thread, with no SDK retries; the outcome lands in the list."""
    outcome: list[object] = []

    def call() -> None:
        try:
            with Client(address, token=TOKENS["onboarding"], retries=0, timeout=30) as c:
                outcome.append(c.identity.CreateSubject(request))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_during_a_write_leaves_nothing_half_written(backend: str, tmp_path: Path) -> None:
    gen = fresh_database_url(backend, tmp_path)
    url = next(gen)
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc, address = _start(tmp_path, url, pause_ms=PAUSE_MS)
        ref = f"killed-mid-write-{uuid.uuid4().hex[:6]}"
        request = identity_pb2.CreateSubjectRequest(request_id=str(uuid.uuid4()), external_ref=ref)
        thread, outcome = _in_background(address, request)
        _wait_for_open_write(url, thread.is_alive)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        thread.join(timeout=30)
        assert len(outcome) == 1 and isinstance(outcome[0], SellerVerifyError), outcome
        assert outcome[0].code == grpc.StatusCode.UNAVAILABLE  # the client learns the call did not finish
        _assert_rolled_back(url)
        assert _rows(url, ref, request.request_id) == (0, 0, 0)

        proc, address = _start(tmp_path, url, pause_ms=0)
        with Client(address, token=TOKENS["onboarding"]) as c:
            first = c.identity.CreateSubject(request)
            again = c.identity.CreateSubject(request)  # a retry is served from the stored response
        assert first == again and first.subject.subject_id
        assert _rows(url, ref, request.request_id) == (1, 1, 1)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        gen.close()


def test_sigterm_lets_the_in_flight_call_finish_and_refuses_new_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sv.db'}"
    proc, address = _start(tmp_path, url, pause_ms=PAUSE_MS)
    try:
        request = identity_pb2.CreateSubjectRequest(request_id=str(uuid.uuid4()), external_ref="graceful")
        thread, outcome = _in_background(address, request)
        _wait_for_open_write(url, thread.is_alive)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with (
            Client(address, token=TOKENS["onboarding"], retries=0, timeout=5) as late,
            pytest.raises(SellerVerifyError) as err,
        ):
            late.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
        assert err.value.code == grpc.StatusCode.UNAVAILABLE  # new work is refused while draining
        assert thread.is_alive(), "the in-flight call should still be paused in its write"
        thread.join(timeout=30)
        assert proc.wait(timeout=30) == 0
        assert len(outcome) == 1 and isinstance(outcome[0], identity_pb2.CreateSubjectResponse), outcome
        assert _rows(url, "graceful", request.request_id) == (1, 1, 1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
