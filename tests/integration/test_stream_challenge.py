"""The challenge photo over a live camera stream, on a real server: guidance per frame,
stale frames dropped, a passing frame recorded like RespondChallenge (and the challenge
used up), and the stream ending when the challenge expires."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, liveness_pb2

from services.platform.models import ChallengeRow, SubjectRow, VerificationRow
from services.platform.records import utcnow
from services.vision.faces import default_engine
from tests import attackgen
from tests.conftest import FACES, id_card_subjects

LIVE_PHOTO = FACES / "barack_obama" / "facerec_obama2.jpg"


@pytest.fixture(scope="module")
def new_subject(sqlite_server):  # type: ignore[no-untyped-def]
    """Makes subjects whose ID card (with the seller's portrait) is on file."""
    return id_card_subjects(sqlite_server, seed=33, ref_prefix="stream-ch")


def _issue(server, subject_id: str, ttl_s: float | None = None):  # type: ignore[no-untyped-def]
    with server.client() as client:
        c = client.liveness.IssueChallenge(liveness_pb2.IssueChallengeRequest(subject_id=subject_id)).challenge
    # The pose is drawn at random; fix it so the composed photo can satisfy it.
    with server.app.db.transaction() as session:
        row = session.get(ChallengeRow, c.challenge_id)
        row.pose = "paper_under_chin"
        if ttl_s is not None:
            row.expires_at = utcnow() + timedelta(seconds=ttl_s)
    return c


def _requests(
    challenge_id: str, subject_id: str, frames: list[bytes], fps: float, request_id: str | None = None
) -> Iterator[liveness_pb2.StreamChallengeRequest]:
    yield liveness_pb2.StreamChallengeRequest(
        config=liveness_pb2.StreamChallengeConfig(
            request_id=request_id or str(uuid.uuid4()), challenge_id=challenge_id, subject_id=subject_id
        )
    )
    for i, data in enumerate(frames):
        yield liveness_pb2.StreamChallengeRequest(
            frame=identity_pb2.CameraFrame(sequence=i, jpeg=data, captured_at_ms=int(time.time() * 1000))
        )
        time.sleep(1 / fps)


def _blank() -> bytes:
    return attackgen.jpeg(np.full((480, 640, 3), 90, np.uint8))


def _face_only() -> bytes:
    return attackgen.jpeg(cv2.imread(str(LIVE_PHOTO)))


def _good(code: str) -> bytes:
    photo = attackgen.compose(
        cv2.imread(str(LIVE_PHOTO)), default_engine(), attackgen.paper_with_code(code), "under_chin"
    )
    return attackgen.jpeg(photo)


def _state(server, challenge_id: str) -> int:  # type: ignore[no-untyped-def]
    with server.client() as client:
        return client.liveness.GetChallenge(liveness_pb2.GetChallengeRequest(challenge_id=challenge_id)).challenge.state


def test_guidance_says_show_face_then_show_paper_and_nothing_is_recorded(sqlite_server, new_subject) -> None:  # type: ignore[no-untyped-def]
    subject_id = new_subject()
    c = _issue(sqlite_server, subject_id)
    # One frame at a time: each waits long enough to be processed before the next comes.
    frames = [_blank(), _face_only()]
    with sqlite_server.client() as client:
        responses = list(client.liveness.StreamChallenge(_requests(c.challenge_id, subject_id, frames, fps=0.4)))
    feedback = [r.feedback for r in responses if r.HasField("feedback")]
    assert not any(r.HasField("result") for r in responses)  # the client hung up first: no verdict
    assert [f.guidance for f in feedback] == [
        liveness_pb2.CHALLENGE_GUIDANCE_SHOW_FACE,
        liveness_pb2.CHALLENGE_GUIDANCE_SHOW_PAPER,
    ]
    assert all(f.message_en and f.message_zh for f in feedback)
    assert _state(sqlite_server, c.challenge_id) == liveness_pb2.CHALLENGE_STATE_OPEN  # still answerable


def test_good_frame_passes_is_recorded_and_uses_up_the_challenge(sqlite_server, new_subject) -> None:  # type: ignore[no-untyped-def]
    subject_id = new_subject()
    c = _issue(sqlite_server, subject_id)
    good = _good(c.code)
    request_id = str(uuid.uuid4())
    with sqlite_server.client() as client:
        responses = list(
            client.liveness.StreamChallenge(
                _requests(c.challenge_id, subject_id, [_face_only(), good, good, good], fps=0.5, request_id=request_id)
            )
        )
    assert responses[-1].HasField("result") and sum(r.HasField("result") for r in responses) == 1
    result = responses[-1].result
    assert result.verdict == common_pb2.VERDICT_PASS, [(x.name, x.detail) for x in result.checks]
    assert {"freshness", "replay", "single_face", "face_match", "paper", "code", "pose"} <= {
        x.name for x in result.checks
    }
    assert responses[-2].feedback.guidance == liveness_pb2.CHALLENGE_GUIDANCE_OK
    assert _state(sqlite_server, c.challenge_id) == liveness_pb2.CHALLENGE_STATE_PASSED
    with sqlite_server.app.db.read() as session:
        record = session.get(VerificationRow, result.verification_id)
        assert record.kind == "liveness" and record.verdict == "pass"
        assert record.method.endswith("/StreamChallenge") and len(record.input_blob_ids) == 1
        assert session.get(SubjectRow, subject_id).liveness_verified_at is not None  # like RespondChallenge's PASS
    with sqlite_server.client() as client:
        # The same stream again (same request id) returns the stored result and does nothing twice.
        again = list(
            client.liveness.StreamChallenge(_requests(c.challenge_id, subject_id, [], fps=1, request_id=request_id))
        )
        assert len(again) == 1 and again[0].result.verification_id == result.verification_id
        # Single use: a new attempt on the same challenge fails, as RespondChallenge would.
        second = list(
            client.liveness.StreamChallenge(
                _requests(c.challenge_id, subject_id, [attackgen.jpeg(cv2.imread(str(LIVE_PHOTO)))], fps=1)
            )
        )
    late = second[-1].result
    assert late.verdict == common_pb2.VERDICT_FAIL
    assert "CHALLENGE_ALREADY_USED" in {common_pb2.ReasonCode.Name(r.code) for r in late.reasons}


def test_stream_ends_with_expired_when_the_ttl_passes(sqlite_server, new_subject) -> None:  # type: ignore[no-untyped-def]
    subject_id = new_subject()
    c = _issue(sqlite_server, subject_id, ttl_s=2.0)
    responses: list[liveness_pb2.StreamChallengeResponse] = []
    with sqlite_server.client() as client, pytest.raises(SellerVerifyError) as err:
        for r in client.liveness.StreamChallenge(_requests(c.challenge_id, subject_id, [_blank()] * 40, fps=10)):
            responses.append(r)
    assert err.value.reason == "CHALLENGE_EXPIRED" and err.value.code.name == "FAILED_PRECONDITION"
    assert responses and responses[-1].feedback.guidance == liveness_pb2.CHALLENGE_GUIDANCE_CHALLENGE_EXPIRED
    assert not any(r.HasField("result") for r in responses)
    assert _state(sqlite_server, c.challenge_id) == liveness_pb2.CHALLENGE_STATE_EXPIRED


def test_stale_frames_are_dropped_not_queued(sqlite_server, new_subject) -> None:  # type: ignore[no-untyped-def]
    subject_id = new_subject()
    c = _issue(sqlite_server, subject_id)
    with sqlite_server.client() as client:
        responses = list(
            client.liveness.StreamChallenge(_requests(c.challenge_id, subject_id, [_blank()] * 200, fps=10_000))
        )
    feedback = [r.feedback for r in responses]
    assert feedback and all(f.guidance == liveness_pb2.CHALLENGE_GUIDANCE_SHOW_FACE for f in feedback)
    assert len(feedback) < 200 and feedback[-1].frames_dropped > 0
    assert feedback[-1].sequence == 199  # the newest frame is always the one processed last
    sequences = [f.sequence for f in feedback]
    assert sequences == sorted(sequences)


def test_stream_must_start_with_config_and_a_known_challenge(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    frame = liveness_pb2.StreamChallengeRequest(frame=identity_pb2.CameraFrame(sequence=0, jpeg=b"x"))
    with sqlite_server.client() as client:
        with pytest.raises(SellerVerifyError) as err:
            list(client.liveness.StreamChallenge(iter([frame])))
        assert err.value.reason == "MISSING_FIELD"
        with pytest.raises(SellerVerifyError) as err:
            list(client.liveness.StreamChallenge(_requests("nope", "x", [], fps=1)))
        assert err.value.reason == "CHALLENGE_NOT_FOUND"
