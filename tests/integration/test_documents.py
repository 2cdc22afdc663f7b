"""SubmitDocument with generated ID cards, through a real server; then the ID portrait
becomes the reference for face matching."""

from __future__ import annotations

import random
import uuid
from datetime import date

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2
from sqlalchemy import select

from services.platform.models import SubjectRow
from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import IdCard, random_card, render_back, render_front
from tests.portraits import id_portrait

TODAY = date.today()
SELLER_PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
SELLER_SELFIE = FACES / "barack_obama" / "facerec_obama2.jpg"


def _jpeg(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _card(seed: int, invalid: str | None = None) -> tuple[IdCard, bytes, bytes]:
    rng = random.Random(seed)
    portrait = id_portrait(cv2.imread(str(SELLER_PHOTO)), default_engine())
    card = random_card(rng, TODAY, portrait, invalid)
    front, back = render_front(card, rng), render_back(card, rng)
    return card, _jpeg(capture(front, "clean", seed).image), _jpeg(capture(back, "clean", seed + 1).image)


def _subject(client) -> str:  # type: ignore[no-untyped-def]
    return client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"doc-{uuid.uuid4().hex[:10]}")
    ).subject.subject_id


def test_id_card_is_read_validated_and_its_portrait_matches_the_selfie(server) -> None:  # type: ignore[no-untyped-def]
    card, front, back = _card(3)
    with server.client() as client:
        subject_id = _subject(client)
        response = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=subject_id, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
        fields = {f.name: f for f in response.fields}
        assert fields["citizen_number"].value == card.number
        assert fields["citizen_number"].status == identity_pb2.FIELD_STATUS_VALID
        # The record names every recogniser that may have read it (Tesseract and PP-OCR).
        record = client.identity.GetVerification(
            identity_pb2.GetVerificationRequest(verification_id=response.verification_id)
        ).verification
        assert {m.engine for m in record.models} == {"tesseract", "ppocr"}
        assert response.portrait_found
        assert response.verdict in (common_pb2.VERDICT_PASS, common_pb2.VERDICT_REVIEW)
        if response.verdict == common_pb2.VERDICT_REVIEW:
            assert response.review_case_id  # doubtful fields go to a person, never silently pass
        # Without a reference image, MatchFace now compares with the card's portrait.
        match = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject_id, probe=common_pb2.Image(content=SELLER_SELFIE.read_bytes())
            )
        )
        assert match.pair_type == identity_pb2.PAIR_TYPE_ID_PORTRAIT_VS_PHOTO
        assert match.decision == common_pb2.MATCH_DECISION_MATCH
        subject = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject
        assert (
            subject.has_reference_portrait and subject.id_number_masked == card.number[:4] + "*" * 10 + card.number[-4:]
        )
        doc = client.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=response.document_id))
        assert {f.name: f.value for f in doc.fields}["citizen_number"] != card.number  # masked for onboarding
    with server.app.db.read() as session:
        row = session.scalars(select(SubjectRow).where(SubjectRow.id == subject_id)).one()
        assert row.id_number_hash and card.number not in (row.id_number_hash or "")


@pytest.mark.parametrize("defect", ["bad_check_char", "unknown_region", "expired"])
def test_invalid_cards_never_pass(sqlite_server, defect: str) -> None:  # type: ignore[no-untyped-def]
    _, front, back = _card(11, defect)
    with sqlite_server.client() as client:
        response = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=_subject(client), front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
    assert response.verdict != common_pb2.VERDICT_PASS
    expected = {
        "bad_check_char": "ID_NUMBER_CHECKSUM_FAILED",
        "unknown_region": "ID_NUMBER_REGION_UNKNOWN",
        "expired": "DOCUMENT_EXPIRED",
    }[defect]
    assert expected in {common_pb2.ReasonCode.Name(r.code) for r in response.reasons}


def test_photo_without_a_card_gets_an_actionable_error(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    with sqlite_server.client() as client:
        subject_id = _subject(client)
        with pytest.raises(SellerVerifyError) as err:
            client.identity.SubmitDocument(
                identity_pb2.SubmitDocumentRequest(
                    subject_id=subject_id, front=common_pb2.Image(content=SELLER_SELFIE.read_bytes())
                )
            )
    assert err.value.reason == "NO_DOCUMENT_FOUND"
    assert err.value.message


def test_tiny_card_is_refused_with_move_closer(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    _, front, _ = _card(5)
    img = cv2.imdecode(np.frombuffer(front, np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3), interpolation=cv2.INTER_AREA)
    canvas = np.full((720, 960, 3), 60, np.uint8)
    canvas[200 : 200 + small.shape[0], 300 : 300 + small.shape[1]] = small
    with sqlite_server.client() as client, pytest.raises(SellerVerifyError) as err:
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=_subject(client), front=common_pb2.Image(content=_jpeg(canvas))
            )
        )
    assert err.value.reason == "IMAGE_TOO_SMALL" and "closer" in err.value.message


def test_a_back_sent_alone_completes_the_front_on_file(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    card, front, back = _card(3)
    with sqlite_server.client() as client:
        subject_id = _subject(client)
        first = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=subject_id, front=common_pb2.Image(content=front))
        )
        assert "DOCUMENT_BACK_MISSING" in {common_pb2.ReasonCode.Name(r.code) for r in first.reasons}
        assert first.verdict == common_pb2.VERDICT_REVIEW
        second = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=subject_id, back=common_pb2.Image(content=back))
        )
    codes = {common_pb2.ReasonCode.Name(r.code) for r in second.reasons}
    assert "DOCUMENT_BACK_MISSING" not in codes
    fields = {f.name: f.value for f in second.fields}
    assert fields["valid_from"] == card.truth["valid_from"] and fields["valid_until"] == card.truth["valid_until"]
    assert fields["citizen_number"] == card.number  # the front's fields are kept
    assert second.verdict == common_pb2.VERDICT_PASS, codes


def test_an_expired_back_sent_alone_fails_the_card(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    _, front, back = _card(11, "expired")
    with sqlite_server.client() as client:
        subject_id = _subject(client)
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=subject_id, front=common_pb2.Image(content=front))
        )
        second = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=subject_id, back=common_pb2.Image(content=back))
        )
    assert second.verdict == common_pb2.VERDICT_FAIL
    assert "DOCUMENT_EXPIRED" in {common_pb2.ReasonCode.Name(r.code) for r in second.reasons}


def test_a_back_alone_without_a_front_on_file_says_so(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    _, _, back = _card(3)
    with sqlite_server.client() as client, pytest.raises(SellerVerifyError) as err:
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=_subject(client), back=common_pb2.Image(content=back))
        )
    assert err.value.reason == "FRONT_NOT_ON_FILE" and "front" in err.value.message


@pytest.mark.parametrize("style", ["full_frame", "textured", "phone"])
def test_a_card_that_fills_the_frame_is_read(sqlite_server, style: str) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(21)
    portrait = id_portrait(cv2.imread(str(SELLER_PHOTO)), default_engine())
    card = random_card(rng, TODAY, portrait)
    front = _jpeg(capture(render_front(card, rng), "clean", 21, style).image)
    back = _jpeg(capture(render_back(card, rng), "clean", 22, style).image)
    with sqlite_server.client() as client:
        response = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=_subject(client), front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
    assert {f.name: f.value for f in response.fields}["citizen_number"] == card.number
    assert response.verdict == common_pb2.VERDICT_PASS


def test_a_card_cut_off_by_the_frame_is_refused_as_cut_off(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    _, front, _ = _card(5)
    img = cv2.imdecode(np.frombuffer(front, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    canvas = np.full((h + 200, w + 200, 3), 60, np.uint8)
    canvas[100 : 100 + h, 100 : 100 + w] = img
    cut = canvas[:, : 100 + int(0.75 * w)]  # a quarter of the card outside the picture
    with sqlite_server.client() as client, pytest.raises(SellerVerifyError) as err:
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=_subject(client), front=common_pb2.Image(content=_jpeg(cut)))
        )
    assert err.value.reason == "DOCUMENT_CUT_OFF"
