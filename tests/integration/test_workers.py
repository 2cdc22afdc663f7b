"""`serve` with SELLERVERIFY_WORKERS=2: two server processes on one port over one
database (services/supervisor.py). Both answer; a face one enrols is found as a
duplicate by the other; kill -9 of one leaves the other serving while the supervisor
starts it again; SIGTERM stops both (issue 18, process-per-core)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sellerverify import Client
from sellerverify.v1 import common_pb2, identity_pb2

from bench.serverproc import ServerProcess
from bench.serving import server_pids
from tests.conftest import FACES, TOKENS

PHOTO = (FACES / "barack_obama" / "facerec_obama.jpg").read_bytes()
SELFIE = (FACES / "barack_obama" / "facerec_obama2.jpg").read_bytes()


def _rpc_pids(log: Path, method: str) -> list[int]:
    pids = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("message") == "rpc" and entry.get("method", "").endswith(method) and entry.get("outcome") == "OK":
            pids.append(int(entry["pid"]))
    return pids


def _alive(pid: int) -> bool:
    """Not yet reaped: until every thread of a killed process has exited (only then can
    its parent reap it) its listening socket may still be open."""
    return Path(f"/proc/{pid}").exists()


def _serving(address: str) -> bool:
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("workers")
    server = ServerProcess(
        tmp,
        SELLERVERIFY_WORKERS="2",
        SELLERVERIFY_REVERIFY_ENGINE="off",
        SELLERVERIFY_CONSOLE_ENABLED="false",
    )
    server.start()
    yield server
    server.stop()


def test_two_workers_answer_and_share_enrolled_faces(workers: ServerProcess) -> None:
    assert workers.proc is not None
    children = server_pids(workers.proc.pid)[1:]
    assert len(children) == 2
    with Client(workers.address, token=TOKENS["onboarding"], retries=0, timeout=120) as client:
        first, second = (
            client.identity.CreateSubject(
                identity_pb2.CreateSubjectRequest(external_ref=f"w-{uuid.uuid4().hex[:10]}")
            ).subject.subject_id
            for _ in range(2)
        )
        enrolled = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=first, probe=common_pb2.Image(content=SELFIE), reference=common_pb2.Image(content=PHOTO)
            )
        )
        assert enrolled.decision == common_pb2.MATCH_DECISION_MATCH
    # Each new connection goes to one of the two listening processes (SO_REUSEPORT):
    # over a dozen connections both answer, and every answer finds the first subject's
    # face, whichever process enrolled it.
    for _ in range(12):
        with Client(workers.address, token=TOKENS["onboarding"], retries=0, timeout=120) as client:
            reply = client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(
                    subject_id=second,
                    probe=common_pb2.Image(content=SELFIE),
                    reference=common_pb2.Image(content=PHOTO),
                )
            )
        assert first in {f.other_subject_id for f in reply.duplicates}, "a worker missed the other's enrolment"
    answered = set(_rpc_pids(workers.log, "/MatchFace"))
    assert answered == set(children), f"MatchFace answered by {answered}, workers are {children}"


def test_killed_worker_is_replaced_while_the_other_serves(workers: ServerProcess) -> None:
    assert workers.proc is not None
    before = server_pids(workers.proc.pid)[1:]
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    # Once the process is gone (reaped by the supervisor; a connection that reached its
    # socket while it died is reset, as with any server killed), every call on a new
    # connection is answered by the other worker.
    while _alive(victim) and time.monotonic() < killed_at + 10:
        time.sleep(0.01)
    for _ in range(6):
        with Client(workers.address, token=TOKENS["onboarding"], retries=0, timeout=30) as client:
            client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref=f"k-{uuid.uuid4().hex[:10]}"))
    deadline = killed_at + 60
    while time.monotonic() < deadline:
        now = server_pids(workers.proc.pid)[1:]
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    now = server_pids(workers.proc.pid)[1:]
    assert len(now) == 2 and victim not in now, f"workers after the kill: {now}"
    assert _serving(workers.address)


def test_sigterm_stops_every_worker(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path, SELLERVERIFY_WORKERS="2", SELLERVERIFY_REVERIFY_ENGINE="off", SELLERVERIFY_CONSOLE_ENABLED="false"
    )
    server.start()
    assert server.proc is not None
    pids = server_pids(server.proc.pid)
    assert len(pids) == 3, f"supervisor and workers: {pids}"
    endpoint = tmp_path / "endpoint.json"
    assert json.loads(endpoint.read_text())["port"] == server.port
    server.stop()
    assert server.proc.returncode == 0
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)], f"still running after SIGTERM: {pids}"
    assert not endpoint.exists()
