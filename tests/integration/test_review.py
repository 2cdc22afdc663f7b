"""ReviewService on a real server and database: a CS rep opens a video-call case,
attaches frames (validated, matched against the ID portrait, sealed at rest), reads the
evidence (every read audited), and decides once; an approval counts like a passed
challenge."""

from __future__ import annotations

import random
import uuid
from datetime import date

import cv2
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, review_pb2
from sqlalchemy import func, select

from services.platform.models import AuditEventRow, BlobRow, CaseEvidenceRow
from services.vision.faces import default_engine
from tests import attackgen
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_back, render_front
from tests.images import truncated_jpeg
from tests.portraits import id_portrait

ID_PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
LIVE_PHOTO = FACES / "barack_obama" / "facerec_obama2.jpg"
STRANGER = FACES / "joe_biden" / "facerec_biden.jpg"


@pytest.fixture(scope="module")
def card_images() -> tuple[bytes, bytes]:
    rng = random.Random(21)
    card = random_card(rng, date.today(), id_portrait(cv2.imread(str(ID_PHOTO)), default_engine()))
    front = attackgen.jpeg(capture(render_front(card, rng), "clean", 1).image)
    back = attackgen.jpeg(capture(render_back(card, rng), "clean", 2).image)
    return front, back


def _subject(server, card_images, *, face: bool = False) -> str:  # type: ignore[no-untyped-def]
    """A subject whose ID card passed (and, with `face`, whose live face matched it)."""
    front, back = card_images
    with server.client() as client:
        sid = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"review-{uuid.uuid4().hex[:8]}")
        ).subject.subject_id
        doc = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=sid, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
        assert doc.verdict == common_pb2.VERDICT_PASS, list(doc.reasons)
        if face:
            match = client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(
                    subject_id=sid, probe=common_pb2.Image(content=LIVE_PHOTO.read_bytes()), skip_enrolment=True
                )
            )
            assert match.decision == common_pb2.MATCH_DECISION_MATCH
    return sid


def _open(server, subject_id: str, kind=review_pb2.CASE_KIND_VIDEO_CALL) -> review_pb2.ReviewCase:  # type: ignore[no-untyped-def]
    with server.client("cs_rep") as rep:
        return rep.review.OpenCase(
            review_pb2.OpenCaseRequest(subject_id=subject_id, kind=kind, note="seller asked for a video call")
        ).review_case


def _status(server, subject_id: str) -> int:  # type: ignore[no-untyped-def]
    with server.client() as client:
        return client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject.status


def _audit_count(server, action: str, resource: str) -> int:  # type: ignore[no-untyped-def]
    with server.app.db.read() as session:
        return session.scalar(
            select(func.count()).where(AuditEventRow.action == action, AuditEventRow.resource == resource)
        )


def test_video_call_case_evidence_is_matched_sealed_listed_and_every_read_audited(server, card_images) -> None:  # type: ignore[no-untyped-def]
    subject_id = _subject(server, card_images)
    case = _open(server, subject_id)
    assert case.state == review_pb2.CASE_STATE_OPEN and case.kind == review_pb2.CASE_KIND_VIDEO_CALL
    assert [common_pb2.ReasonCode.Name(r.code) for r in case.reasons] == ["CASE_OPENED_MANUALLY"]
    assert _status(server, subject_id) == identity_pb2.SUBJECT_STATUS_IN_REVIEW
    seller, stranger = LIVE_PHOTO.read_bytes(), STRANGER.read_bytes()
    with server.client("cs_rep") as rep:
        attached = rep.review.AttachEvidence(
            review_pb2.AttachEvidenceRequest(
                case_id=case.case_id,
                label="video_frame",
                images=[common_pb2.Image(content=seller), common_pb2.Image(content=stranger)],
            )
        ).evidence
        assert [e.label for e in attached] == ["video_frame", "video_frame"]
        match = [{c.name: c.verdict for c in e.checks}.get("face_match") for e in attached]
        assert match == [common_pb2.VERDICT_PASS, common_pb2.VERDICT_FAIL]  # shown to the rep, not decided

        got = rep.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case
        assert [e.evidence_id for e in got.evidence] == [e.evidence_id for e in attached]
        listed = rep.review.ListCases(
            review_pb2.ListCasesRequest(kind=review_pb2.CASE_KIND_VIDEO_CALL, subject_id=subject_id)
        ).cases
        assert [c.case_id for c in listed] == [case.case_id] and len(listed[0].evidence) == 2

        before = _audit_count(server, "get_evidence", attached[0].evidence_id)
        first = rep.review.GetEvidence(
            review_pb2.GetEvidenceRequest(case_id=case.case_id, evidence_id=attached[0].evidence_id)
        )
        rep.review.GetEvidence(review_pb2.GetEvidenceRequest(case_id=case.case_id, evidence_id=attached[0].evidence_id))
    assert first.image.content == seller and first.image.media_type == "image/jpeg"
    assert _audit_count(server, "get_evidence", attached[0].evidence_id) == before + 2
    with server.app.db.read() as session:
        audit = session.scalars(
            select(AuditEventRow).where(
                AuditEventRow.action == "get_evidence", AuditEventRow.resource == attached[0].evidence_id
            )
        ).first()
        assert (audit.actor, audit.role, audit.subject_id) == ("cs_rep-client", "cs_rep", subject_id)
        evidence = session.get(CaseEvidenceRow, attached[0].evidence_id)
        sealed = session.get(BlobRow, evidence.blob_id).sealed
        assert seller[:64] not in sealed and len(sealed) > len(seller)  # encrypted at rest


def test_a_decided_case_cannot_be_decided_again(server, card_images) -> None:  # type: ignore[no-untyped-def]
    case = _open(server, _subject(server, card_images))
    request = review_pb2.DecideCaseRequest(
        request_id=str(uuid.uuid4()),
        case_id=case.case_id,
        decision=review_pb2.CASE_DECISION_REJECT,
        note="the person on the call was not the card holder",
    )
    with server.client("cs_rep") as rep:
        decided = rep.review.DecideCase(request)
        assert decided.review_case.state == review_pb2.CASE_STATE_REJECTED
        assert decided.review_case.decided_by == "cs_rep-client" and decided.review_case.decision_note
        # The same request again is the same answer (idempotent), not a second decision.
        assert rep.review.DecideCase(request).verification_id == decided.verification_id
        with pytest.raises(SellerVerifyError) as err:
            rep.review.DecideCase(
                review_pb2.DecideCaseRequest(
                    case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="changed my mind"
                )
            )
        assert err.value.code.name == "FAILED_PRECONDITION" and err.value.reason == "FAILED_PRECONDITION"
        with pytest.raises(SellerVerifyError) as err:
            rep.review.AttachEvidence(
                review_pb2.AttachEvidenceRequest(
                    case_id=case.case_id, images=[common_pb2.Image(content=LIVE_PHOTO.read_bytes())]
                )
            )
        assert err.value.code.name == "FAILED_PRECONDITION"
        after = rep.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case
    assert after.state == review_pb2.CASE_STATE_REJECTED
    assert _status(server, case.subject_id) == identity_pb2.SUBJECT_STATUS_REJECTED
    with server.client("admin") as admin:
        record = admin.identity.GetVerification(
            identity_pb2.GetVerificationRequest(verification_id=decided.verification_id)
        ).verification
    assert record.kind == identity_pb2.VERIFICATION_KIND_REVIEW_DECISION and record.verdict == common_pb2.VERDICT_FAIL


def test_approved_video_call_counts_like_a_passed_challenge(server, card_images) -> None:  # type: ignore[no-untyped-def]
    subject_id = _subject(server, card_images, face=True)
    # Document and face passed, no challenge yet: not verified.
    assert _status(server, subject_id) == identity_pb2.SUBJECT_STATUS_PENDING
    case = _open(server, subject_id)
    assert _status(server, subject_id) == identity_pb2.SUBJECT_STATUS_IN_REVIEW
    with server.client("cs_rep") as rep:
        rep.review.DecideCase(
            review_pb2.DecideCaseRequest(
                case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="live on video, matches the card"
            )
        )
    with server.client() as client:
        subject = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject
    assert subject.status == identity_pb2.SUBJECT_STATUS_VERIFIED and subject.HasField("verified_at")


def test_roles_outside_the_proto_are_refused(server, card_images) -> None:  # type: ignore[no-untyped-def]
    subject_id = _subject(server, card_images)
    case = _open(server, subject_id)
    with server.client("onboarding") as onboarding, pytest.raises(SellerVerifyError) as err:
        onboarding.review.GetEvidence(review_pb2.GetEvidenceRequest(case_id=case.case_id, evidence_id="x"))
    assert err.value.code.name == "PERMISSION_DENIED" and err.value.reason == "ROLE_NOT_ALLOWED"
    with server.client("risk") as risk, pytest.raises(SellerVerifyError) as err:
        risk.review.DecideCase(
            review_pb2.DecideCaseRequest(case_id=case.case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="ok")
        )
    assert err.value.reason == "ROLE_NOT_ALLOWED"
    with server.client("admin") as admin:
        assert admin.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case.state == (
            review_pb2.CASE_STATE_OPEN
        )


def test_a_bad_image_is_refused_and_nothing_is_half_written(server, card_images) -> None:  # type: ignore[no-untyped-def]
    case = _open(server, _subject(server, card_images))
    good = LIVE_PHOTO.read_bytes()
    with server.app.db.read() as session:
        blobs_before = session.scalar(select(func.count()).select_from(BlobRow))
    with server.client("cs_rep") as rep:
        with pytest.raises(SellerVerifyError) as err:
            rep.review.AttachEvidence(
                review_pb2.AttachEvidenceRequest(
                    case_id=case.case_id,
                    images=[common_pb2.Image(content=good), common_pb2.Image(content=truncated_jpeg(good))],
                )
            )
        assert err.value.code.name == "INVALID_ARGUMENT" and err.value.reason.startswith("IMAGE_")
        assert [v.field for v in err.value.violations] == ["images[1].content"]
        got = rep.review.GetCase(review_pb2.GetCaseRequest(case_id=case.case_id)).review_case
    assert len(got.evidence) == 0
    with server.app.db.read() as session:
        assert session.scalar(select(func.count()).select_from(BlobRow)) == blobs_before


def test_list_is_oldest_first_by_pages_and_filters(server, card_images) -> None:  # type: ignore[no-untyped-def]
    subject_id = _subject(server, card_images)
    opened = [_open(server, subject_id, review_pb2.CASE_KIND_DOCUMENT).case_id for _ in range(3)]
    other = _open(server, subject_id, review_pb2.CASE_KIND_VIDEO_CALL).case_id
    with server.client("cs_rep") as rep:

        def page(token: str = "") -> review_pb2.ListCasesResponse:
            return rep.review.ListCases(
                review_pb2.ListCasesRequest(
                    kind=review_pb2.CASE_KIND_DOCUMENT,
                    subject_id=subject_id,
                    page=common_pb2.PageRequest(page_size=2, page_token=token),
                )
            )

        first = page()
        second = page(first.page.next_page_token)
        assert [c.case_id for c in first.cases] + [c.case_id for c in second.cases] == opened
        assert first.page.next_page_token and not second.page.next_page_token
        everything = rep.review.ListCases(review_pb2.ListCasesRequest(subject_id=subject_id)).cases
        assert [c.case_id for c in everything] == [*opened, other]
        assert not rep.review.ListCases(
            review_pb2.ListCasesRequest(subject_id=subject_id, state=review_pb2.CASE_STATE_APPROVED)
        ).cases
        with pytest.raises(SellerVerifyError) as err:
            rep.review.ListCases(
                review_pb2.ListCasesRequest(
                    subject_id=subject_id, page=common_pb2.PageRequest(page_token=first.page.next_page_token)
                )
            )
        assert err.value.reason == "INVALID_FIELD"  # a token from another listing
