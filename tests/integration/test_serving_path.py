"""The stored ID portrait's template is computed once per process, but retention still
decides: once the portrait blob is past its expiry, MatchFace against it answers
NO_REFERENCE_PORTRAIT even though its template is cached (issue 18, serving path)."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2
from sqlalchemy import update

from services.identity.face_flow import FaceFlow
from services.identity.face_match import PairType
from services.platform.models import BlobRow, SubjectRow
from services.platform.records import utcnow
from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_back, render_front
from tests.portraits import id_portrait

PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
SELFIE = FACES / "barack_obama" / "facerec_obama2.jpg"


def _jpeg(bgr) -> bytes:  # type: ignore[no-untyped-def]
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def test_cached_portrait_template_obeys_retention(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    card = random_card(rng, date.today(), id_portrait(cv2.imread(str(PHOTO)), default_engine()))
    front = _jpeg(capture(render_front(card, rng), "clean", 11).image)
    back = _jpeg(capture(render_back(card, rng), "clean", 12).image)
    selfie = common_pb2.Image(content=SELFIE.read_bytes())
    with sqlite_server.client() as client:
        sid = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"cache-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=sid, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
        first = client.identity.MatchFace(identity_pb2.MatchFaceRequest(subject_id=sid, probe=selfie))
        second = client.identity.MatchFace(identity_pb2.MatchFaceRequest(subject_id=sid, probe=selfie))
        # Same stored portrait, same template: the cached one gives the very same score.
        assert first.decision == common_pb2.MATCH_DECISION_MATCH
        assert second.similarity == pytest.approx(first.similarity, abs=1e-6)
        app = sqlite_server.app
        with app.db.read() as session:
            blob_id = session.get(SubjectRow, sid).reference_blob_id
        flow = FaceFlow.shared(app)
        assert (blob_id, True) in flow._portraits
        with app.db.transaction() as session:
            session.execute(
                update(BlobRow).where(BlobRow.id == blob_id).values(expires_at=utcnow() - timedelta(seconds=1))
            )
        with pytest.raises(SellerVerifyError) as err:
            client.identity.MatchFace(identity_pb2.MatchFaceRequest(subject_id=sid, probe=selfie))
    assert err.value.code.name == "FAILED_PRECONDITION" and err.value.reason == "NO_REFERENCE_PORTRAIT"


def test_the_same_photo_sent_again_is_not_enrolled_again_but_another_photo_is(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from services.platform.models import FaceTemplateRow

    reference = common_pb2.Image(content=PHOTO.read_bytes())
    other_photo = common_pb2.Image(content=(FACES / "barack_obama" / "facerec_obama1.jpg").read_bytes())
    selfie = common_pb2.Image(content=SELFIE.read_bytes())

    def templates(sid: str) -> int:
        with sqlite_server.app.db.read() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(FaceTemplateRow).where(FaceTemplateRow.subject_id == sid)
                )
            )

    with sqlite_server.client() as client:
        sid = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"enrol-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        decisions = []
        for probe in (selfie, selfie, selfie):
            decisions.append(
                client.identity.MatchFace(
                    identity_pb2.MatchFaceRequest(subject_id=sid, probe=probe, reference=reference)
                ).decision
            )
        assert decisions == [common_pb2.MATCH_DECISION_MATCH] * 3
        assert templates(sid) == 1
        again = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=sid, probe=other_photo, reference=reference)
        )
        assert again.decision == common_pb2.MATCH_DECISION_MATCH
        assert templates(sid) == 2


def test_two_images_side_by_side_give_the_one_at_a_time_answer_and_errors_in_its_order(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    """MatchFace works on its two images side by side (services/identity/face_flow.py
    `run_images`): the score is the one a one-image-after-the-other comparison gives, and
    which error a call gets does not depend on which image finished first."""
    from services.core.images import decode_image

    photo, selfie = PHOTO.read_bytes(), SELFIE.read_bytes()
    garbage = b"\xff\xd8\xff" + bytes(2000)
    faceless = _jpeg(cv2.imread(str(PHOTO))[:60, :60].repeat(8, axis=0).repeat(8, axis=1))
    flow = FaceFlow.shared(sqlite_server.app)
    expected = flow.matcher.compare(decode_image(photo).bgr, decode_image(selfie).bgr, PairType.PHOTO_VS_PHOTO)

    def match(client, sid: str, probe: bytes, reference: bytes):  # type: ignore[no-untyped-def]
        return client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=sid, probe=common_pb2.Image(content=probe), reference=common_pb2.Image(content=reference)
            )
        )

    def refusal(client, sid: str, probe: bytes, reference: bytes) -> tuple[str, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(SellerVerifyError) as err:
            match(client, sid, probe, reference)
        field = err.value.violations[0].field if err.value.violations else ""
        return err.value.reason, field if field.endswith(".content") else str(err.value)

    with sqlite_server.client() as client:
        sid = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"side-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        reply = match(client, sid, selfie, photo)
        assert reply.similarity == pytest.approx(expected.similarity, abs=1e-5)
        assert refusal(client, sid, garbage, garbage)[1] == "probe.content"  # the selfie's first
        assert refusal(client, sid, selfie, garbage)[1] == "reference.content"
        # An unknown subject is refused after the images decode and before any model work.
        assert refusal(client, "no-such-subject", selfie, photo)[0] == "SUBJECT_NOT_FOUND"
        # Both faces unusable: the reference's problem is reported, as before.
        reason, message = refusal(client, sid, faceless, faceless)
        assert reason == "NO_FACE" and "reference photo" in message
        reason, message = refusal(client, sid, faceless, photo)
        assert reason == "NO_FACE" and "selfie" in message


def test_a_large_photo_is_matched_from_a_reduced_decode_and_answers_in_its_own_pixels(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    """MatchFace decodes a large JPEG at reduced size (services/identity/face_flow.py,
    MATCH_DECODE_SIDE): the decision is the full-size one, and the face it reports (box,
    landmarks, eye distance) is in the uploaded picture's pixels. A face too small in the
    reduced picture is looked at again at full size."""
    from services.core.images import decode_image
    from services.identity.face_match import MATCH_DECODE_SIDE, REDUCED_MIN_EYE_PX

    big = (FACES / "steve_wozniak" / "facerecpr1285_steve_wozniak1.jpg").read_bytes()  # 4098x2735
    reference = (FACES / "steve_wozniak" / "facerecpr1285_steve_wozniak2.jpg").read_bytes()
    flow = FaceFlow.shared(sqlite_server.app)
    reduced = decode_image(big, reduce_to=MATCH_DECODE_SIDE)
    assert reduced.scale < 0.5
    at_full = flow.matcher.template(decode_image(big).bgr, what="selfie").quality
    # A face far smaller than the frame: a photo pasted at its own size into a 4096x3072 scene.
    scene = cv2.resize(cv2.imread(str(PHOTO)), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((3072, 4096, 3), 120, np.uint8)
    canvas[:, :, 0] = np.linspace(60, 200, 4096, dtype=np.float32).astype(np.uint8)  # a wall, lit from one side
    canvas[1200 : 1200 + scene.shape[0], 1800 : 1800 + scene.shape[1]] = scene
    small_face = _jpeg(canvas)
    small = decode_image(small_face, reduce_to=MATCH_DECODE_SIDE)
    small_reduced = flow.matcher.template(small.bgr, what="selfie", scale=small.scale).quality
    assert small_reduced.eye_distance_px * small.scale < REDUCED_MIN_EYE_PX  # so it is decoded again
    full_small = flow.matcher.template(decode_image(small_face).bgr, what="selfie").quality
    # Aligned from the reduced picture, the 112 px crop would be enlarged: blurred.
    assert small_reduced.sharpness < 0.5 * full_small.sharpness

    def match(client, sid: str, probe: bytes, ref: bytes):  # type: ignore[no-untyped-def]
        return client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=sid,
                probe=common_pb2.Image(content=probe),
                reference=common_pb2.Image(content=ref),
                skip_enrolment=True,
            )
        )

    with sqlite_server.client() as client:
        sid = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"big-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        reply = match(client, sid, big, reference)
        assert reply.decision == common_pb2.MATCH_DECISION_MATCH
        q = reply.probe_quality
        # Within the detector's own jitter between two renderings of one photo (7 % on this
        # face); a coordinate left in the reduced picture's pixels would be 4 times off.
        assert q.eye_distance_px == pytest.approx(at_full.eye_distance_px, rel=0.12)
        x, y, w, h = at_full.face.box  # type: ignore[union-attr]
        assert abs(q.box.x - x) < 0.12 * w and abs(q.box.y - y) < 0.12 * h
        assert q.box.width == pytest.approx(w, rel=0.12)
        assert abs(q.landmarks[0].x - float(at_full.face.landmarks[0][0])) < 0.12 * w  # type: ignore[union-attr]
        # The small face: found again at full size, matched against its own person.
        obama = match(client, sid, small_face, SELFIE.read_bytes())
        assert obama.decision == common_pb2.MATCH_DECISION_MATCH
        assert obama.probe_quality.eye_distance_px == pytest.approx(full_small.eye_distance_px, rel=0.02)
        assert obama.probe_quality.sharpness == pytest.approx(full_small.sharpness, rel=0.02)
