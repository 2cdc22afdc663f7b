"""ReviewService for the console, on a real server and database: claims and "next case",
snooze and escalation, reason codes, four-eyes with a second rep enforced by the
service, request-new-capture, video-call links that work once, live frame guidance,
related images and the ID-number reveal (both audited)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sellerverify import Client, SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, review_pb2, trust_pb2
from sqlalchemy import func, select

from services.platform.models import AuditEventRow, DomainEventRow
from services.server import ServerThread
from tests.conftest import (
    BACKENDS,
    FACES,
    TOKEN_SPEC,
    TOKENS,
    LiveServer,
    fresh_database_url,
    id_card_subjects,
    make_settings,
)

SECOND_REP_TOKEN = "tok-cs-rep-two-0123456789"
LIVE_PHOTO = FACES / "barack_obama" / "facerec_obama2.jpg"
STRANGER = FACES / "joe_biden" / "facerec_biden.jpg"


@pytest.fixture(scope="module", params=BACKENDS)
def review_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server with two CS reps (cs_rep-client and rep-two)."""
    tmp = tmp_path_factory.mktemp(f"console-{request.param}")
    gen = fresh_database_url(request.param, tmp)
    url = next(gen)
    spec = f"{TOKEN_SPEC},rep-two:cs_rep:{SECOND_REP_TOKEN}"
    with ServerThread(make_settings(tmp, url, api_tokens=spec)) as thread:
        yield LiveServer(thread, request.param)
    gen.close()


@pytest.fixture(scope="module")
def make_subject(review_server: LiveServer):  # type: ignore[no-untyped-def]
    return id_card_subjects(review_server, 14, "console")


def rep(server: LiveServer) -> Client:
    return server.client("cs_rep")


def rep_two(server: LiveServer) -> Client:
    return Client(server.address, token=SECOND_REP_TOKEN)


def _open(server: LiveServer, subject_id: str, kind: int = review_pb2.CASE_KIND_FACE_MATCH) -> review_pb2.ReviewCase:
    with rep(server) as c:
        return c.review.OpenCase(
            review_pb2.OpenCaseRequest(subject_id=subject_id, kind=kind, note="doubtful selfie")
        ).review_case


def _events(server: LiveServer, kind: str, case_id: str) -> list[dict]:  # type: ignore[type-arg]
    with server.app.db.read() as session:
        rows = session.scalars(select(DomainEventRow).where(DomainEventRow.kind == kind).order_by(DomainEventRow.seq))
        return [r.payload for r in rows if r.payload.get("case_id") == case_id]


def _audits(server: LiveServer, action: str, resource: str) -> int:
    with server.app.db.read() as session:
        return int(
            session.scalar(
                select(func.count()).where(AuditEventRow.action == action, AuditEventRow.resource == resource)
            )
            or 0
        )


def test_a_case_shows_its_sla_age_and_claim_and_another_rep_cannot_decide_it(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject())
    assert case.sla_due_at.ToSeconds() - case.opened_at.ToSeconds() == 2 * 3600  # face_match SLA (policy)
    assert case.assignee == "" and case.age_seconds >= 0
    with rep(review_server) as one, rep_two(review_server) as two:
        claimed = one.review.ClaimCase(review_pb2.ClaimCaseRequest(case_id=case.case_id)).review_case
        assert claimed.assignee == "cs_rep-client" and claimed.HasField("claimed_at")
        assert _events(review_server, "case.claimed", case.case_id)[-1]["assignee"] == "cs_rep-client"
        with pytest.raises(SellerVerifyError) as err:
            two.review.ClaimCase(review_pb2.ClaimCaseRequest(case_id=case.case_id))
        assert err.value.reason == "CASE_CLAIMED_BY_OTHER"
        with pytest.raises(SellerVerifyError) as err:
            two.review.DecideCase(
                review_pb2.DecideCaseRequest(
                    case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="looks fine"
                )
            )
        assert err.value.reason == "CASE_CLAIMED_BY_OTHER"
        mine = one.review.ListCases(review_pb2.ListCasesRequest(assignee="cs_rep-client")).cases
        assert case.case_id in [c.case_id for c in mine]
        unclaimed = one.review.ListCases(
            review_pb2.ListCasesRequest(assignee="-", page=common_pb2.PageRequest(page_size=500))
        ).cases
        assert case.case_id not in [c.case_id for c in unclaimed]
        one.review.ReleaseCase(review_pb2.ReleaseCaseRequest(case_id=case.case_id))
        decided = two.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id,
                decision=review_pb2.CASE_DECISION_APPROVE,
                reason=common_pb2.REVIEW_SAME_PERSON,
                note="same person, glasses confused the matcher",
            )
        )
    assert not decided.pending_confirmation and decided.verification_id
    assert decided.review_case.state == review_pb2.CASE_STATE_APPROVED
    assert decided.review_case.decision_reason == common_pb2.REVIEW_SAME_PERSON
    assert _events(review_server, "case.decided", case.case_id) == [
        {"case_id": case.case_id, "case_kind": "face_match", "decision": "approve", "reason": "REVIEW_SAME_PERSON"}
    ]


def test_a_reason_code_must_fit_the_decision(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject())
    with rep(review_server) as one, pytest.raises(SellerVerifyError) as err:
        one.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id,
                decision=review_pb2.CASE_DECISION_APPROVE,
                reason=common_pb2.REVIEW_DOCUMENT_FORGED,
                note="x",
            )
        )
    assert err.value.reason == "INVALID_FIELD" and "REVIEW_DOCUMENT_FORGED" in str(err.value)


def test_next_case_claims_the_one_due_soonest_and_skips_snoozed_and_escalated(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    with rep(review_server) as one:
        # Drain what earlier tests left open so the order below is this test's own.
        while True:
            got = one.review.NextCase(review_pb2.NextCaseRequest()).review_case
            if not got.case_id:
                break
            one.review.SnoozeCase(review_pb2.SnoozeCaseRequest(case_id=got.case_id, minutes=60, note="later"))
        doc = _open(review_server, make_subject(), review_pb2.CASE_KIND_DOCUMENT)  # due in 4 h
        call = _open(review_server, make_subject(), review_pb2.CASE_KIND_VIDEO_CALL)  # due in 1 h: first
        first = one.review.NextCase(review_pb2.NextCaseRequest()).review_case
        assert first.case_id == call.case_id and first.assignee == "cs_rep-client"
        # Holding a case, "next" gives the same one back.
        assert one.review.NextCase(review_pb2.NextCaseRequest()).review_case.case_id == call.case_id
        snoozed = one.review.SnoozeCase(
            review_pb2.SnoozeCaseRequest(case_id=call.case_id, minutes=30, note="seller calls back at 3")
        ).review_case
        assert snoozed.assignee == "" and snoozed.HasField("snoozed_until")
        assert one.review.NextCase(review_pb2.NextCaseRequest()).review_case.case_id == doc.case_id
        escalated = one.review.EscalateCase(
            review_pb2.EscalateCaseRequest(case_id=doc.case_id, note="the hologram looks printed")
        ).review_case
        assert escalated.escalated and escalated.assignee == ""
        assert not one.review.NextCase(review_pb2.NextCaseRequest()).review_case.case_id
        listed = one.review.ListCases(review_pb2.ListCasesRequest(escalated_only=True)).cases
        assert [c.case_id for c in listed] == [doc.case_id]
        visible = one.review.ListCases(
            review_pb2.ListCasesRequest(hide_snoozed=True, page=common_pb2.PageRequest(page_size=500))
        ).cases
        assert call.case_id not in [c.case_id for c in visible] and doc.case_id in [c.case_id for c in visible]
        with pytest.raises(SellerVerifyError) as err:
            one.review.SnoozeCase(review_pb2.SnoozeCaseRequest(case_id=doc.case_id, minutes=0))
        assert err.value.reason == "INVALID_FIELD"


def test_a_ban_needs_a_second_different_rep_before_it_takes_effect(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    subject_id = make_subject()
    case = _open(review_server, subject_id)
    with rep(review_server) as one, rep_two(review_server) as two:
        proposed = one.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id,
                decision=review_pb2.CASE_DECISION_REJECT,
                reason=common_pb2.REVIEW_DOCUMENT_FORGED,
                ban=True,
                note="the card number belongs to someone else",
            )
        )
        assert proposed.pending_confirmation and not proposed.verification_id
        pending = proposed.review_case.pending_decision
        assert pending.proposed_by == "cs_rep-client" and pending.ban and pending.policy == "reject with ban"
        # Nothing took effect yet.
        assert proposed.review_case.state == review_pb2.CASE_STATE_OPEN
        assert _events(review_server, "case.decided", case.case_id) == []
        waiting = one.review.ListCases(review_pb2.ListCasesRequest(pending_confirmation_only=True)).cases
        assert [c.case_id for c in waiting] == [case.case_id]
        with pytest.raises(SellerVerifyError) as err:
            one.review.ConfirmDecision(
                review_pb2.ConfirmDecisionRequest(case_id=case.case_id, confirm=True, note="I am sure")
            )
        assert err.value.code.name == "PERMISSION_DENIED" and err.value.reason == "FOUR_EYES_SAME_REP"
        with pytest.raises(SellerVerifyError) as err:
            one.review.DecideCase(
                review_pb2.DecideCaseRequest(
                    case_id=case.case_id, decision=review_pb2.CASE_DECISION_REJECT, ban=True, note="again"
                )
            )
        assert err.value.reason == "DECISION_ALREADY_PENDING"
        confirmed = two.review.ConfirmDecision(
            review_pb2.ConfirmDecisionRequest(case_id=case.case_id, confirm=True, note="agree, the number is reused")
        )
    done = confirmed.review_case
    assert done.state == review_pb2.CASE_STATE_REJECTED and done.ban
    assert (done.decided_by, done.confirmed_by) == ("cs_rep-client", "rep-two") and confirmed.verification_id
    assert _events(review_server, "case.decided", case.case_id) == [
        {
            "case_id": case.case_id,
            "case_kind": "face_match",
            "decision": "reject",
            "reason": "REVIEW_DOCUMENT_FORGED",
            "ban": True,
        }
    ]
    with review_server.client() as client:
        status = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject.status
    assert status == identity_pb2.SUBJECT_STATUS_REJECTED


def test_a_declined_proposal_leaves_the_case_open(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject())
    with rep(review_server) as one, rep_two(review_server) as two:
        one.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id, decision=review_pb2.CASE_DECISION_REJECT, ban=True, note="ban"
            )
        )
        declined = two.review.ConfirmDecision(
            review_pb2.ConfirmDecisionRequest(case_id=case.case_id, confirm=False, note="not enough evidence")
        ).review_case
        assert declined.state == review_pb2.CASE_STATE_OPEN and not declined.HasField("pending_decision")
        with pytest.raises(SellerVerifyError) as err:
            two.review.ConfirmDecision(review_pb2.ConfirmDecisionRequest(case_id=case.case_id, confirm=True, note="x"))
        assert err.value.reason == "NO_PENDING_DECISION"


def test_request_new_capture_closes_the_case_without_rejecting(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    subject_id = make_subject()
    case = _open(review_server, subject_id, review_pb2.CASE_KIND_LIVENESS)
    with rep(review_server) as one:
        done = one.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id,
                decision=review_pb2.CASE_DECISION_REQUEST_NEW_CAPTURE,
                reason=common_pb2.REVIEW_IMAGE_UNUSABLE,
                note="the challenge photo is blurred",
            )
        ).review_case
        assert done.state == review_pb2.CASE_STATE_RECAPTURE_REQUESTED
        listed = one.review.ListCases(
            review_pb2.ListCasesRequest(state=review_pb2.CASE_STATE_RECAPTURE_REQUESTED, subject_id=subject_id)
        ).cases
        assert [c.case_id for c in listed] == [case.case_id]
    with review_server.client() as client:
        status = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject.status
    assert status == identity_pb2.SUBJECT_STATUS_PENDING


def test_a_video_call_link_works_once_and_frames_get_live_guidance(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject(), review_pb2.CASE_KIND_VIDEO_CALL)
    with rep(review_server) as one:
        call = one.review.StartVideoCall(
            review_pb2.StartVideoCallRequest(
                case_id=case.case_id, reason=common_pb2.REVIEW_NEEDS_VIDEO_CALL, note="show the card live"
            )
        ).video_call
        assert len(call.join_token) >= 40 and call.HasField("expires_at")
        seen = one.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case.video_call
        assert seen.call_id == call.call_id and seen.join_token == ""  # never shown again
        with pytest.raises(SellerVerifyError) as err:
            one.review.JoinVideoCall(review_pb2.JoinVideoCallRequest(call_id=call.call_id, join_token="x" * 43))
        assert err.value.reason == "CALL_LINK_INVALID"
        joined = one.review.JoinVideoCall(
            review_pb2.JoinVideoCallRequest(call_id=call.call_id, join_token=call.join_token)
        )
        assert joined.subject_id == case.subject_id and joined.video_call.HasField("joined_at")
        with pytest.raises(SellerVerifyError) as err:
            one.review.JoinVideoCall(review_pb2.JoinVideoCallRequest(call_id=call.call_id, join_token=call.join_token))
        assert err.value.reason == "CALL_LINK_INVALID"
        same = one.review.CheckCallFrame(
            review_pb2.CheckCallFrameRequest(
                case_id=case.case_id, image=common_pb2.Image(content=LIVE_PHOTO.read_bytes())
            )
        ).checks
        other = one.review.CheckCallFrame(
            review_pb2.CheckCallFrameRequest(
                case_id=case.case_id, image=common_pb2.Image(content=STRANGER.read_bytes())
            )
        ).checks
        assert {c.name: c.verdict for c in same}["face_match"] == common_pb2.VERDICT_PASS
        assert {c.name: c.verdict for c in other}["face_match"] == common_pb2.VERDICT_FAIL
        # Guidance stores nothing; the case has no evidence until a frame is captured.
        assert not one.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case.evidence
        ended = one.review.EndVideoCall(review_pb2.EndVideoCallRequest(call_id=call.call_id)).video_call
        assert ended.HasField("ended_at")


def test_related_images_and_the_id_number_reveal_are_audited(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject())
    with rep(review_server) as one:
        got = one.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case
        labels = sorted(r.label for r in got.related)
        assert labels == ["document_back", "document_front", "id_portrait"] and got.document_id
        portrait = next(r for r in got.related if r.label == "id_portrait")
        before = _audits(review_server, "get_evidence", portrait.evidence_id)
        image = one.review.GetEvidence(
            review_pb2.GetEvidenceRequest(case_id=case.case_id, evidence_id=portrait.evidence_id)
        ).image
        assert (
            image.content[:2] in (b"\xff\xd8", b"\x89P")
            and _audits(review_server, "get_evidence", portrait.evidence_id) == before + 1
        )
        # Another subject's portrait is not part of a face-match case.
        with pytest.raises(SellerVerifyError) as err:
            one.review.GetEvidence(
                review_pb2.GetEvidenceRequest(case_id=case.case_id, evidence_id=f"id_portrait.{uuid.uuid4()}")
            )
        assert err.value.reason == "EVIDENCE_NOT_FOUND"
        revealed = one.review.RevealIdNumber(
            review_pb2.RevealIdNumberRequest(case_id=case.case_id, note="seller disputes the number")
        )
    assert len(revealed.id_number) == 18 and "*" not in revealed.id_number
    assert _audits(review_server, "reveal_id_number", case.case_id) == 1


def test_the_console_rpcs_keep_the_proto_roles(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject())
    with review_server.client("onboarding") as onboarding:
        for call in (
            lambda: onboarding.review.ClaimCase(review_pb2.ClaimCaseRequest(case_id=case.case_id)),
            lambda: onboarding.review.NextCase(review_pb2.NextCaseRequest()),
            lambda: onboarding.review.RevealIdNumber(review_pb2.RevealIdNumberRequest(case_id=case.case_id, note="x")),
        ):
            with pytest.raises(SellerVerifyError) as err:
                call()
            assert err.value.reason == "ROLE_NOT_ALLOWED"
    assert TOKENS["cs_rep"] != SECOND_REP_TOKEN


def test_approving_over_a_knock_out_on_the_evidence_needs_a_second_rep(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    case = _open(review_server, make_subject(), review_pb2.CASE_KIND_VIDEO_CALL)
    with rep(review_server) as one, rep_two(review_server) as two:
        frame = one.review.AttachEvidence(
            review_pb2.AttachEvidenceRequest(
                case_id=case.case_id, label="video_frame", images=[common_pb2.Image(content=STRANGER.read_bytes())]
            )
        ).evidence[0]
        assert {c.name: c.verdict for c in frame.checks}["face_match"] == common_pb2.VERDICT_FAIL
        proposed = one.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="it was him, bad light"
            )
        )
        assert proposed.pending_confirmation
        assert proposed.review_case.pending_decision.policy == "approval overrides knock-out FACE_NO_MATCH"
        done = two.review.ConfirmDecision(
            review_pb2.ConfirmDecisionRequest(case_id=case.case_id, confirm=True, note="agree after a second look")
        ).review_case
    assert done.state == review_pb2.CASE_STATE_APPROVED and done.confirmed_by == "rep-two"


def test_the_queue_verb_lists_open_cases_with_sla_and_assignee(review_server, make_subject, capsys) -> None:  # type: ignore[no-untyped-def]
    from sellerverify.cli import main

    case = _open(review_server, make_subject(), review_pb2.CASE_KIND_DUPLICATE)
    with rep(review_server) as one:
        one.review.ClaimCase(review_pb2.ClaimCaseRequest(case_id=case.case_id))
    argv = ["queue", "--address", review_server.address, "--token", TOKENS["cs_rep"], "--mine", "--kind", "duplicate"]
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if case.case_id in line]
    assert len(lines) == 1 and "duplicate" in lines[0] and lines[0].endswith("cs_rep-client")
    assert "479 min" in lines[0] or "480 min" in lines[0]  # duplicate SLA: 8 h


def test_the_queue_shows_and_filters_by_the_subjects_risk_band(review_server, make_subject) -> None:  # type: ignore[no-untyped-def]
    calm, reported = make_subject(), make_subject()
    with review_server.client("risk") as risk:
        risk.trust.ReportSuspiciousActivity(
            trust_pb2.ReportSuspiciousActivityRequest(
                request_id=str(uuid.uuid4()),
                subject_id=reported,
                kind=trust_pb2.ACTIVITY_KIND_FRAUD_COMPLAINT,
                severity=trust_pb2.SEVERITY_HIGH,
                source="complaints-desk",
                description="buyers report items never shipped",
            )
        )
        band = {
            s: risk.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id=s)).trust.band
            for s in (calm, reported)
        }
    assert band[calm] != band[reported] and trust_pb2.RISK_BAND_UNSPECIFIED not in band.values()
    mine = {_open(review_server, s).case_id: s for s in (calm, reported)}
    with rep(review_server) as one:
        every = one.review.ListCases(review_pb2.ListCasesRequest(page=common_pb2.PageRequest(page_size=500))).cases
        shown = {c.case_id: c.risk_band for c in every if c.case_id in mine}
        assert shown == {case_id: band[s] for case_id, s in mine.items()}
        only = one.review.ListCases(
            review_pb2.ListCasesRequest(risk_bands=[band[reported]], page=common_pb2.PageRequest(page_size=500))
        ).cases
    assert {c.case_id for c in only} & set(mine) == {c for c, s in mine.items() if s == reported}
    assert only and all(c.risk_band == band[reported] for c in only)
