"""TrustService on a real server and database (SQLite and PostgreSQL): a seller's score
follows their recorded results (document, face, an approved video call), a report lowers
it and requires re-verification in one call, a rep's REJECT denies, shop decisions are
recorded, idempotent and reproducible, change events stream out (campaign events too),
the audit trail is served, and the identity sweep finds a shared ID number."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, review_pb2, trust_pb2
from sqlalchemy import select

from services.platform import events
from services.platform.models import DomainEventRow, EnterpriseRow, ExecutiveRow, SubjectRow
from services.platform.records import utcnow
from tests.conftest import FACES, id_card_subjects

POLICY_VERSION = "2026-12-03.1"  # the newest shipped scorecard, active by default

LIVE_PHOTO = FACES / "barack_obama" / "facerec_obama2.jpg"
ALLOW, REVIEW, DENY = trust_pb2.SHOP_DECISION_ALLOW, trust_pb2.SHOP_DECISION_REVIEW, trust_pb2.SHOP_DECISION_DENY


def codes(reasons) -> list[str]:  # type: ignore[no-untyped-def]
    return [common_pb2.ReasonCode.Name(r.code) for r in reasons]


@pytest.fixture(scope="module")
def make_carded(server):  # type: ignore[no-untyped-def]
    return id_card_subjects(server, 31, "trust")


def score(server, subject_id: str = "", enterprise_id: str = "") -> trust_pb2.GetTrustScoreResponse:  # type: ignore[no-untyped-def]
    with server.client("risk") as risk:
        req = (
            trust_pb2.GetTrustScoreRequest(subject_id=subject_id)
            if subject_id
            else trust_pb2.GetTrustScoreRequest(enterprise_id=enterprise_id)
        )
        return risk.trust.GetTrustScore(req)


def verified_subject(server, make_carded) -> str:  # type: ignore[no-untyped-def]
    """ID card passed, live face matched, and a CS rep approved a video call (liveness)."""
    sid = make_carded()
    with server.client() as client:
        match = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=sid, probe=common_pb2.Image(content=LIVE_PHOTO.read_bytes()), skip_enrolment=True
            )
        )
        assert match.decision == common_pb2.MATCH_DECISION_MATCH
    with server.client("cs_rep") as rep:
        case = rep.review.OpenCase(
            review_pb2.OpenCaseRequest(subject_id=sid, kind=review_pb2.CASE_KIND_VIDEO_CALL, note="video call")
        ).review_case
        rep.review.DecideCase(
            review_pb2.DecideCaseRequest(case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="ok")
        )
    return sid


def test_a_sellers_score_follows_their_results_to_allow(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client:
        bare = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"trust-bare-{uuid.uuid4().hex[:8]}")
        ).subject.subject_id
    new = score(server, bare).trust
    assert new.decision == DENY and new.band == trust_pb2.RISK_BAND_VERY_HIGH
    assert codes(new.reasons)[:3] == ["DOCUMENT_NOT_VERIFIED", "FACE_NOT_VERIFIED", "LIVENESS_NOT_VERIFIED"]
    assert new.actions[0].action == "complete_verification" and new.actions[0].decision_after == ALLOW
    assert new.policy_version == POLICY_VERSION and len(new.signals) == 12

    sid = make_carded()
    with server.client() as client:
        client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=sid, probe=common_pb2.Image(content=LIVE_PHOTO.read_bytes()), skip_enrolment=True
            )
        )
    half = score(server, sid).trust
    assert half.decision == REVIEW and codes(half.reasons)[0] == "LIVENESS_NOT_VERIFIED"
    assert half.actions[0].action == "complete_challenge_photo" and half.actions[0].decision_after == ALLOW
    doc = next(s for s in half.signals if s.name == "document")
    assert doc.bin == "passed" and doc.contribution == 20 and len(doc.evidence_ids) == 1

    with server.client("cs_rep") as rep:
        case = rep.review.OpenCase(
            review_pb2.OpenCaseRequest(subject_id=sid, kind=review_pb2.CASE_KIND_VIDEO_CALL, note="call")
        ).review_case
        during = score(server, sid).trust
        assert next(s for s in during.signals if s.name == "review").bin == "open"
        rep.review.DecideCase(
            review_pb2.DecideCaseRequest(case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="ok")
        )
    done = score(server, sid).trust
    assert done.decision == ALLOW and done.score > during.score > 0 and not done.knock_outs

    request = trust_pb2.DecideShopOpeningRequest(request_id=str(uuid.uuid4()), subject_id=sid, shop_ref="shop-1")
    with server.client() as client:
        first = client.trust.DecideShopOpening(request)
        again = client.trust.DecideShopOpening(request)
    assert first.decision == ALLOW and first.decision_id and not first.review_case_id
    assert again == first  # the same request id is the same answer
    with server.client("risk") as risk:
        stored = risk.trust.GetShopDecision(trust_pb2.GetShopDecisionRequest(decision_id=first.decision_id))
    assert stored.rescored.score == stored.trust.score == first.trust.score
    assert stored.rescored.decision == ALLOW and stored.trust.policy_version == POLICY_VERSION
    inputs = MessageToDict(stored.inputs)
    assert inputs["subject_id"] == sid and inputs["passed"]["liveness"]


def test_a_report_lowers_the_score_requires_reverification_and_opens_a_case(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    sid = verified_subject(server, make_carded)
    before = score(server, sid).trust
    assert before.decision == ALLOW
    with server.client("risk") as risk:
        out = risk.trust.ReportSuspiciousActivity(
            trust_pb2.ReportSuspiciousActivityRequest(
                subject_id=sid,
                kind=trust_pb2.ACTIVITY_KIND_FRAUD_COMPLAINT,
                severity=trust_pb2.SEVERITY_HIGH,
                source="complaints-desk",
                description="three buyers report items never shipped",
            )
        )
    assert list(out.subject_ids) == [sid] and out.review_case_id and out.report_id
    assert out.trust.score < before.score and out.trust.decision == REVIEW
    assert "SUSPICIOUS_ACTIVITY_REPORTED" in codes(out.trust.reasons)
    with server.app.db.read() as session:
        assert session.get(SubjectRow, sid).reverify_required_at is not None
        kinds = [e.kind for e in events.for_subject(session, sid)]
    assert "reverification.required" in kinds and "suspicious_activity.reported" in kinds
    with server.client() as client:
        decision = client.trust.DecideShopOpening(trust_pb2.DecideShopOpeningRequest(subject_id=sid, shop_ref="s2"))
    assert decision.decision == REVIEW and decision.review_case_id == out.review_case_id  # the open case, not a second

    with server.client("cs_rep") as rep:
        rep.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=out.review_case_id, decision=review_pb2.CASE_DECISION_REJECT, note="confirmed fraud"
            )
        )
    rejected = score(server, sid).trust
    assert rejected.decision == DENY and "REVIEW_REJECTED" in [
        common_pb2.ReasonCode.Name(k.code) for k in rejected.knock_outs
    ]


def test_platform_signals_age_and_a_ban_is_a_knock_out(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    sid = verified_subject(server, make_carded)
    base = score(server, sid).trust.score
    with server.client("risk") as risk:
        old = trust_pb2.RecordPlatformSignalRequest(
            subject_id=sid, kind=trust_pb2.PLATFORM_SIGNAL_KIND_PENALTY_RECORD, value=3, source="orders"
        )
        old.observed_at.FromDatetime(datetime.now(UTC) - timedelta(days=720))  # four half-lives ago
        aged = risk.trust.RecordPlatformSignal(old).trust.score
        fresh = risk.trust.RecordPlatformSignal(
            trust_pb2.RecordPlatformSignalRequest(
                subject_id=sid, kind=trust_pb2.PLATFORM_SIGNAL_KIND_PENALTY_RECORD, value=3, source="orders"
            )
        ).trust.score
        assert fresh < aged <= base
        banned = risk.trust.RecordPlatformSignal(
            trust_pb2.RecordPlatformSignalRequest(
                subject_id=sid, kind=trust_pb2.PLATFORM_SIGNAL_KIND_BAN, source="policy"
            )
        ).trust
        assert banned.decision == DENY and codes(banned.knock_outs) == ["SELLER_BANNED"]
        with pytest.raises(SellerVerifyError) as err:
            risk.trust.RecordPlatformSignal(
                trust_pb2.RecordPlatformSignalRequest(
                    subject_id=sid, kind=trust_pb2.PLATFORM_SIGNAL_KIND_USER_CREDIBILITY, value=7, source="x"
                )
            )
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and err.value.reason == "INVALID_FIELD"


def test_errors_are_clear(server) -> None:  # type: ignore[no-untyped-def]
    with server.client("risk") as risk:
        with pytest.raises(SellerVerifyError) as err:
            risk.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id="no-such-subject"))
        assert err.value.code == grpc.StatusCode.NOT_FOUND and err.value.reason == "SUBJECT_NOT_FOUND"
        with pytest.raises(SellerVerifyError) as err:
            risk.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest())
        assert err.value.reason == "MISSING_FIELD"
        with pytest.raises(SellerVerifyError) as err:
            risk.trust.ReportSuspiciousActivity(
                trust_pb2.ReportSuspiciousActivityRequest(
                    subject_id="x", kind=trust_pb2.ACTIVITY_KIND_OTHER, description="ID 11010519491231002X seen"
                )
            )
        assert err.value.reason == "INVALID_FIELD" and "ID number" in err.value.message
    with server.client() as onboarding, pytest.raises(SellerVerifyError) as err:
        onboarding.trust.ReportSuspiciousActivity(
            trust_pb2.ReportSuspiciousActivityRequest(subject_id="x", kind=trust_pb2.ACTIVITY_KIND_OTHER)
        )
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_change_events_stream_resumably_including_campaign_task_changes(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    sid = verified_subject(server, make_carded)
    with server.app.db.transaction() as session:  # what the campaign workers write (issue 13)
        events.emit(
            session,
            "reverification.task_changed",
            subject_id=sid,
            payload={"campaign_id": "camp-1", "task_id": "task-1", "state": "overdue"},
            actor="campaign-worker",
        )
    overdue = score(server, sid).trust
    assert "REVERIFICATION_OVERDUE" in codes(overdue.reasons) and overdue.decision != ALLOW
    wanted = ["trust.score_changed", "reverification.task_changed"]
    with server.client("risk") as risk:
        got = _take(risk, trust_pb2.WatchChangesRequest(kinds=wanted, subject_id=sid), 50)
    kinds = [e.kind for e in got]
    assert "reverification.task_changed" in kinds and kinds.count("trust.score_changed") >= 3
    task = next(e for e in got if e.kind == "reverification.task_changed")
    assert MessageToDict(task.payload)["state"] == "overdue" and task.event_id
    last = got[-1]
    assert MessageToDict(last.payload)["decision"] in ("REVIEW", "DENY")
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    # Resume after the task event: only what came after it (repeats of recent events allowed, dropped by id).
    with server.client("risk") as risk:
        resumed = _take(risk, trust_pb2.WatchChangesRequest(kinds=wanted, subject_id=sid, after_seq=task.seq), 50)
    fresh = [e for e in resumed if e.event_id not in {g.event_id for g in got if g.seq <= task.seq}]
    assert [e.event_id for e in fresh] == [e.event_id for e in got if e.seq > task.seq]
    with server.client("risk") as risk, pytest.raises(SellerVerifyError) as err:
        _take(risk, trust_pb2.WatchChangesRequest(kinds=["verification.recorded.nope"]), 1)
    assert err.value.reason == "INVALID_FIELD"
    # A cursor no event can have (the seq column is 32-bit on PostgreSQL: found by bench.fuzz
    # there as INTERNAL) or a negative one is the caller's mistake, said as such.
    for cursor in (-1, 2**31, 2**63 - 1):
        with server.client("risk") as risk, pytest.raises(SellerVerifyError) as err:
            _take(risk, trust_pb2.WatchChangesRequest(after_seq=cursor), 1)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, cursor
        # a negative count is the request limits' (INVALID_FIELD), a cursor past any seq the log's
        assert err.value.reason == ("INVALID_FIELD" if cursor < 0 else "CURSOR_INVALID"), cursor
    with server.client("risk") as risk:  # the largest seq there can be is a valid cursor: nothing after it
        assert _take(risk, trust_pb2.WatchChangesRequest(after_seq=2**31 - 1), 1) == []


def _take(client, request: trust_pb2.WatchChangesRequest, limit: int) -> list[trust_pb2.ChangeEvent]:  # type: ignore[no-untyped-def]
    """Events until the stream goes quiet (its first heartbeat) or `limit`."""
    request.max_events = limit
    out: list[trust_pb2.ChangeEvent] = []
    stream = client.trust.WatchChanges(request, timeout=20)
    for message in stream:
        if not message.HasField("event"):
            break
        out.append(message.event)
    stream.close()
    return out


def test_audit_trail_filters_and_pages(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    sid = make_carded()
    start = utcnow() - timedelta(seconds=1)
    with server.client("risk") as risk:
        for _ in range(3):
            risk.trust.RecordPlatformSignal(
                trust_pb2.RecordPlatformSignalRequest(
                    subject_id=sid, kind=trust_pb2.PLATFORM_SIGNAL_KIND_POSITIVE_BEHAVIOUR, source="orders"
                )
            )
    with server.client("admin") as admin:
        req = trust_pb2.ListAuditEventsRequest(
            subject_id=sid, actor="risk-client", page=common_pb2.PageRequest(page_size=2)
        )
        req.since.FromDatetime(start)
        first = admin.trust.ListAuditEvents(req)
        assert [e.action for e in first.events] == ["record_signal", "record_signal"]
        assert first.page.next_page_token
        req.page.page_token = first.page.next_page_token
        second = admin.trust.ListAuditEvents(req)
        assert [e.action for e in second.events] == ["record_signal"] and not second.page.next_page_token
        assert all(e.role == common_pb2.ROLE_RISK and e.subject_id == sid for e in first.events)
        assert first.events[0].at.ToDatetime() >= first.events[1].at.ToDatetime()  # newest first
        everyone = admin.trust.ListAuditEvents(trust_pb2.ListAuditEventsRequest(subject_id=sid))
        assert {e.actor for e in everyone.events} >= {"risk-client", "onboarding-client"}
    with server.client("risk") as risk, pytest.raises(SellerVerifyError) as err:
        risk.trust.ListAuditEvents(trust_pb2.ListAuditEventsRequest(subject_id=sid))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_an_enterprise_needs_its_licence_and_every_required_executive(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    rep_id = verified_subject(server, make_carded)
    director = make_carded()  # ID card only
    eid = str(uuid.uuid4())
    now = utcnow()
    with server.app.db.transaction() as session:  # what RegisterEnterprise / AddExecutive write (issue 13)
        session.add(
            EnterpriseRow(
                id=eid,
                external_ref=f"ent-{eid[:8]}",
                credit_code=None,
                company_name=None,
                legal_representative=None,
                licence_verdict="pass",
                licence_reasons=[],
                document_id=None,
                created_at=now,
            )
        )
        session.flush()
        session.add(
            ExecutiveRow(enterprise_id=eid, subject_id=rep_id, role="legal_representative", name="x", added_at=now)
        )
        session.add(ExecutiveRow(enterprise_id=eid, subject_id=director, role="director", name="y", added_at=now))
        events.emit(session, "executive.added", subject_id=director, enterprise_id=eid, payload={"role": "director"})
    got = score(server, enterprise_id=eid)
    assert got.trust.decision == REVIEW and "EXECUTIVE_NOT_VERIFIED" in codes(got.trust.reasons)
    assert {m.subject_id for m in got.members} == {rep_id, director}
    assert any(a.subject_id == director and a.text.startswith("the director") for a in got.trust.actions)
    with server.client() as client:
        d = client.trust.DecideShopOpening(trust_pb2.DecideShopOpeningRequest(enterprise_id=eid, shop_ref="ent-shop"))
    assert d.decision == REVIEW and d.review_case_id
    with server.client("risk") as risk:
        out = risk.trust.ReportSuspiciousActivity(
            trust_pb2.ReportSuspiciousActivityRequest(
                enterprise_id=eid, kind=trust_pb2.ACTIVITY_KIND_COUNTERFEIT_GOODS, source="listing-moderation"
            )
        )
    assert sorted(out.subject_ids) == sorted([rep_id, director])
    with server.app.db.read() as session:
        marked = session.scalars(
            select(DomainEventRow.subject_id).where(
                DomainEventRow.kind == "reverification.required", DomainEventRow.enterprise_id == eid
            )
        ).all()
    assert sorted(marked) == sorted([rep_id, director])


def test_the_sweep_finds_subjects_sharing_an_id_number(server, make_carded) -> None:  # type: ignore[no-untyped-def]
    a, b = make_carded(), make_carded()  # the same rendered ID card: one ID number, two subjects
    with server.client("admin") as admin:
        stats = admin.trust.SweepIdentityGraph(trust_pb2.SweepIdentityGraphRequest())
        assert stats.clusters >= 1 and stats.clustered_subjects >= 2
        cluster = admin.trust.GetIdentityCluster(trust_pb2.GetIdentityClusterRequest(subject_id=a))
    assert b in cluster.subject_ids and cluster.id_numbers == 1
    assert any(link.kind == "id_number" for link in cluster.links)
    after = score(server, a).trust
    assert "IDENTITY_CLUSTER" in codes(after.reasons)
    assert next(s for s in after.signals if s.name == "identity_cluster").value >= 2


def test_cli_prints_the_score_and_the_decision_with_reasons(server, make_carded, capsys) -> None:  # type: ignore[no-untyped-def]
    from sellerverify.cli import main

    from tests.conftest import TOKENS

    sid = make_carded()  # document only
    base = ["--address", server.address, "--token", TOKENS["onboarding"], "trust"]
    assert main([*base, "score", sid]) == 0
    out = capsys.readouterr().out
    assert out.startswith("DENY") or out.startswith("REVIEW")
    assert "reason FACE_NOT_VERIFIED" in out and "to change it:" in out
    code = main([*base, "decide", sid, "--shop-ref", "cli-shop", "--request-id", f"cli-{sid}"])
    out = capsys.readouterr().out
    assert code == 3 and "decision id" in out
    assert main([*base, "decide", sid, "--shop-ref", "cli-shop", "--request-id", f"cli-{sid}", "--json"]) == 3
    printed = json.loads(capsys.readouterr().out)
    assert printed["decision"] in ("SHOP_DECISION_DENY", "SHOP_DECISION_REVIEW") and printed["decision_id"]
