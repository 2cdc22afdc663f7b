"""Live matching over a bidirectional stream: guidance on every processed frame, stale
frames dropped (never queued), and the match once a good frame arrives."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2

from tests.conftest import FACES

REFERENCE = FACES / "barack_obama" / "facerec_obama.jpg"
LIVE = FACES / "barack_obama" / "facerec_obama1.jpg"


def _jpeg(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def _camera_frames() -> list[bytes]:
    """What a phone camera sends: nothing, then a far-away face, then the face framed well."""
    live = cv2.imread(str(LIVE))
    h, w = live.shape[:2]
    frame = cv2.resize(live, (640, round(640 * h / w)))
    blank = np.full_like(frame, 90)
    far = blank.copy()
    small = cv2.resize(frame, (frame.shape[1] // 8, frame.shape[0] // 8))
    far[: small.shape[0], : small.shape[1]] = small
    return [_jpeg(blank)] * 10 + [_jpeg(far)] * 10 + [_jpeg(frame)] * 40


def _requests(subject_id: str, frames: list[bytes], fps: float) -> Iterator[identity_pb2.StreamMatchFaceRequest]:
    yield identity_pb2.StreamMatchFaceRequest(
        config=identity_pb2.StreamMatchConfig(
            request_id=str(uuid.uuid4()),
            subject_id=subject_id,
            reference=common_pb2.Image(content=REFERENCE.read_bytes()),
            timeout_seconds=20,
        )
    )
    for i, data in enumerate(frames):
        yield identity_pb2.StreamMatchFaceRequest(
            frame=identity_pb2.CameraFrame(sequence=i, jpeg=data, captured_at_ms=int(time.time() * 1000))
        )
        time.sleep(1 / fps)


def test_stream_guides_each_frame_then_matches(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    with sqlite_server.client() as client:
        subject_id = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"stream-{uuid.uuid4().hex[:8]}")
        ).subject.subject_id
        responses = list(client.identity.StreamMatchFace(_requests(subject_id, _camera_frames(), fps=30)))
    feedback = [r.feedback for r in responses if r.HasField("feedback")]
    results = [r.result for r in responses if r.HasField("result")]
    assert len(results) == 1 and responses[-1].HasField("result")
    assert results[0].decision == common_pb2.MATCH_DECISION_MATCH
    guidance = [f.guidance for f in feedback]
    assert identity_pb2.GUIDANCE_NO_FACE in guidance
    assert identity_pb2.GUIDANCE_OK == guidance[-1]
    assert all(f.message_en and f.message_zh for f in feedback)
    sequences = [f.sequence for f in feedback]
    assert sequences == sorted(sequences)  # never an older frame after a newer one


def test_stream_drops_stale_frames_instead_of_queueing(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    blank = _camera_frames()[0]
    with sqlite_server.client() as client:
        subject_id = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"flood-{uuid.uuid4().hex[:8]}")
        ).subject.subject_id
        # 200 frames as fast as the network allows: far more than the server can process.
        responses = list(client.identity.StreamMatchFace(_requests(subject_id, [blank] * 200, fps=10_000)))
    feedback = [r.feedback for r in responses]
    assert feedback and all(f.guidance == identity_pb2.GUIDANCE_NO_FACE for f in feedback)
    assert len(feedback) < 200
    assert feedback[-1].frames_dropped > 0
    assert feedback[-1].sequence == 199  # the newest frame is always the one processed last


def test_stream_must_start_with_config(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    frame = identity_pb2.StreamMatchFaceRequest(frame=identity_pb2.CameraFrame(sequence=0, jpeg=b"x"))
    with sqlite_server.client() as client, pytest.raises(SellerVerifyError) as err:
        list(client.identity.StreamMatchFace(iter([frame])))
    assert err.value.reason == "MISSING_FIELD"
