"""Killing the server during a write leaves no partial record; SIGTERM lets in-flight
calls finish. The server runs as a real process (`sellerverify serve`); a fault-injection
setting pauses inside the write transaction so the kill lands mid-write every time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sellerverify import Client, SellerVerifyError
from sellerverify.v1 import identity_pb2
from sqlalchemy import func, select

from services.platform.database import Database, make_engine
from services.platform.models import AuditEventRow, IdempotencyRow, SubjectRow
from tests.conftest import BACKENDS, TOKEN_SPEC, TOKENS, fresh_database_url


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
    }
    cli = Path(sys.executable).parent / "sellerverify"
    proc = subprocess.Popen(
        [str(cli), "serve", "--port", "0", "--ready-file", str(ready)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while not ready.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"server did not start (exit {proc.returncode})")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["address"]


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


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_during_a_write_leaves_nothing_half_written(backend: str, tmp_path: Path) -> None:
    gen = fresh_database_url(backend, tmp_path)
    url = next(gen)
    try:
        proc, address = _start(tmp_path, url, pause_ms=4000)
        request = identity_pb2.CreateSubjectRequest(request_id=str(uuid.uuid4()), external_ref="killed-mid-write")
        errors: list[BaseException] = []

        def call() -> None:
            try:
                with Client(address, token=TOKENS["onboarding"], retries=0, timeout=20) as c:
                    c.identity.CreateSubject(request)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors.append(exc)

        t = threading.Thread(target=call)
        t.start()
        time.sleep(1.5)  # the write transaction is now open and paused
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        t.join(timeout=30)
        assert errors and isinstance(errors[0], SellerVerifyError)
        assert _rows(url, "killed-mid-write", request.request_id) == (0, 0, 0)

        proc, address = _start(tmp_path, url, pause_ms=0)
        try:
            with Client(address, token=TOKENS["onboarding"]) as c:
                c.identity.CreateSubject(request)
                c.identity.CreateSubject(request)  # the retry is served from the stored response
            assert _rows(url, "killed-mid-write", request.request_id) == (1, 1, 1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        gen.close()


def test_sigterm_lets_the_in_flight_call_finish(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sv.db'}"
    proc, address = _start(tmp_path, url, pause_ms=1500)
    results: list[object] = []

    def call() -> None:
        try:
            with Client(address, token=TOKENS["onboarding"], retries=0, timeout=20) as c:
                results.append(c.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref="graceful")))
        except BaseException as exc:  # noqa: BLE001
            results.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    t.join(timeout=30)
    assert proc.wait(timeout=30) == 0
    assert len(results) == 1 and isinstance(results[0], identity_pb2.CreateSubjectResponse), results
    assert _rows(url, "graceful", "")[0] == 1
