"""RPCs that take a list of images (a challenge answer, video-call evidence) refuse an
empty list, too many images, or any bad image with a clear error naming the field, before
anything is written: the challenge stays open and no evidence or record appears."""

from __future__ import annotations

import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, liveness_pb2, review_pb2
from sqlalchemy import func, select

from services.platform.models import CaseEvidenceRow, ChallengeRow, VerificationRow
from tests import images
from tests.conftest import FACES, id_card_subjects

PHOTO = (FACES / "barack_obama" / "facerec_obama2.jpg").read_bytes()


def _count(server, row) -> int:  # type: ignore[no-untyped-def]
    with server.app.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(row)) or 0)


@pytest.mark.parametrize(
    ("photos", "reason", "field"),
    [
        ([], "MISSING_FIELD", "images"),
        ([PHOTO] * 6, "INVALID_FIELD", "images"),
        ([PHOTO, images.truncated_jpeg(PHOTO)], "IMAGE_TRUNCATED", "images[1].content"),
    ],
)
def test_a_bad_challenge_answer_is_refused_and_leaves_the_challenge_open(sqlite_server, photos, reason, field) -> None:  # type: ignore[no-untyped-def]
    subject_id = id_card_subjects(sqlite_server, seed=21, ref_prefix="img-list")()
    with sqlite_server.client() as client:
        c = client.liveness.IssueChallenge(liveness_pb2.IssueChallengeRequest(subject_id=subject_id)).challenge
        records = _count(sqlite_server, VerificationRow)
        with pytest.raises(SellerVerifyError) as err:
            client.liveness.RespondChallenge(
                liveness_pb2.RespondChallengeRequest(
                    challenge_id=c.challenge_id,
                    subject_id=subject_id,
                    images=[common_pb2.Image(content=p) for p in photos],
                )
            )
    assert err.value.code.name == "INVALID_ARGUMENT" and err.value.reason == reason
    assert field in {v.field for v in err.value.violations}
    with sqlite_server.app.db.read() as session:
        assert session.get(ChallengeRow, c.challenge_id).used_at is None
    assert _count(sqlite_server, VerificationRow) == records


@pytest.mark.parametrize(("count", "reason"), [(0, "MISSING_FIELD"), (11, "INVALID_FIELD")])
def test_evidence_needs_one_to_ten_images(sqlite_server, count, reason) -> None:  # type: ignore[no-untyped-def]
    subject_id = id_card_subjects(sqlite_server, seed=21, ref_prefix="img-list")()
    with sqlite_server.client("cs_rep") as rep:
        case = rep.review.OpenCase(
            review_pb2.OpenCaseRequest(subject_id=subject_id, kind=review_pb2.CASE_KIND_VIDEO_CALL, note="call")
        ).review_case
        evidence = _count(sqlite_server, CaseEvidenceRow)
        with pytest.raises(SellerVerifyError) as err:
            rep.review.AttachEvidence(
                review_pb2.AttachEvidenceRequest(case_id=case.case_id, images=[common_pb2.Image(content=PHOTO)] * count)
            )
    assert err.value.code.name == "INVALID_ARGUMENT" and err.value.reason == reason
    assert "images" in {v.field for v in err.value.violations}
    assert _count(sqlite_server, CaseEvidenceRow) == evidence
