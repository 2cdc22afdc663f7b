"""A newcomer's wrong pictures get answers that say what is wrong, through the real server:
a selfie sent as the ID card, a picture with no document, the back sent as the front, the
sides swapped, and an ID card held up as the selfie. Nothing is recorded for a refusal."""

from __future__ import annotations

import random
from datetime import date

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2

from services.platform.models import VerificationRow
from services.vision.faces import default_engine
from tests import attackgen
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_back, render_front
from tests.portraits import id_portrait

SELFIE = (FACES / "barack_obama" / "facerec_obama2.jpg").read_bytes()


@pytest.fixture(scope="module")
def card_photos() -> tuple[bytes, bytes]:
    rng = random.Random(5)
    photo = cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg"))
    card = random_card(rng, date.today(), id_portrait(photo, default_engine()))
    front = attackgen.jpeg(capture(render_front(card, rng), "clean", 1).image)
    back = attackgen.jpeg(capture(render_back(card, rng), "clean", 2).image)
    return front, back


def _subject(client) -> str:  # type: ignore[no-untyped-def]
    return client.identity.CreateSubject(  # type: ignore[no-any-return]
        identity_pb2.CreateSubjectRequest(external_ref=f"newcomer-{random.random()}")
    ).subject.subject_id


def _submit(client, subject_id: str, front: bytes, back: bytes | None = None) -> SellerVerifyError:  # type: ignore[no-untyped-def]
    with pytest.raises(SellerVerifyError) as err:
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=subject_id,
                front=common_pb2.Image(content=front),
                back=common_pb2.Image(content=back) if back else None,
            )
        )
    return err.value


def _verifications(server) -> int:  # type: ignore[no-untyped-def]
    with server.app.db.read() as session:
        return session.query(VerificationRow).count()  # type: ignore[no-any-return]


def test_a_selfie_sent_as_the_document_says_it_is_a_face(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    with sqlite_server.client() as client:
        before = _verifications(sqlite_server)
        err = _submit(client, _subject(client), SELFIE)
    assert err.reason == "NO_DOCUMENT_FOUND"
    assert "face, not a document" in err.message
    assert err.violations and err.violations[0].field == "front"
    assert _verifications(sqlite_server) == before


@pytest.mark.parametrize("scene", ["noise", "plain"])
def test_a_picture_without_a_document_is_no_document_found(sqlite_server, scene: str) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    if scene == "noise":
        img = rng.integers(0, 255, (600, 800, 3)).astype(np.uint8)
    else:
        img = np.full((600, 800, 3), 128, np.uint8)
    with sqlite_server.client() as client:
        err = _submit(client, _subject(client), attackgen.jpeg(img))
    assert err.reason == "NO_DOCUMENT_FOUND", err.message


def test_the_back_sent_as_the_front_says_so(sqlite_server, card_photos) -> None:  # type: ignore[no-untyped-def]
    _front, back = card_photos
    with sqlite_server.client() as client:
        err = _submit(client, _subject(client), back)
    assert err.reason == "BACK_SENT_AS_FRONT"
    assert "back of the ID card" in err.message


def test_swapped_sides_say_so(sqlite_server, card_photos) -> None:  # type: ignore[no-untyped-def]
    front, back = card_photos
    with sqlite_server.client() as client:
        err = _submit(client, _subject(client), back, front)
    assert err.reason == "DOCUMENT_SIDES_SWAPPED"


def test_the_right_sides_still_read(sqlite_server, card_photos) -> None:  # type: ignore[no-untyped-def]
    front, back = card_photos
    with sqlite_server.client() as client:
        resp = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=_subject(client), front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
    assert resp.verdict == common_pb2.VERDICT_PASS


def test_an_id_card_sent_as_the_selfie_is_refused(sqlite_server, card_photos) -> None:  # type: ignore[no-untyped-def]
    front, back = card_photos
    with sqlite_server.client() as client:
        subject_id = _subject(client)
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=subject_id, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
        before = _verifications(sqlite_server)
        with pytest.raises(SellerVerifyError) as err:
            client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(subject_id=subject_id, probe=common_pb2.Image(content=front))
            )
        assert err.value.reason == "ID_CARD_AS_SELFIE"
        assert _verifications(sqlite_server) == before
        # The real selfie still matches.
        ok = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=subject_id, probe=common_pb2.Image(content=SELFIE))
        )
        assert ok.decision == common_pb2.MATCH_DECISION_MATCH
