"""Near-duplicate replay on a real server: a photo that was submitted once is refused when
it comes back cropped, rescaled, re-encoded, rotated, recoloured or mirrored, for any
subject; a distinct photo of the same person is not a replay.

This module has its own database: its first genuine response is the first time these
photos are seen."""

from __future__ import annotations

import random
from datetime import date
from functools import partial

import cv2
import pytest
from sellerverify.v1 import common_pb2, liveness_pb2

from bench.attacks2.edits import edit
from services.platform.models import ImageHashRow
from services.vision.faces import default_engine
from tests import attackgen, challenges
from tests.conftest import FACES, id_card_subjects

LIVE_PHOTO = FACES / "barack_obama" / "facerec_obama2.jpg"
LIVE_PHOTO_2 = FACES / "barack_obama" / "facerec_obama1.jpg"


@pytest.fixture(scope="module")
def verified_documents(sqlite_server):  # type: ignore[no-untyped-def]
    return id_card_subjects(sqlite_server, seed=23, ref_prefix="replay")


_issue = partial(challenges.issue, pose="paper_left_half")
_respond = challenges.respond
_codes = challenges.codes


@pytest.fixture(scope="module")
def passed(sqlite_server, verified_documents):  # type: ignore[no-untyped-def]
    """A genuine newspaper response that passed: (the photo, its subject)."""
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id, liveness_pb2.CHALLENGE_MODE_NEWSPAPER)
    paper = attackgen.newspaper(date.fromisoformat(c.date))
    photo = attackgen.compose(cv2.imread(str(LIVE_PHOTO)), default_engine(), paper, "left", random.Random(2), 2.4)
    response = _respond(sqlite_server, c, subject_id, photo)
    assert response.verdict == common_pb2.VERDICT_PASS, [(x.name, x.detail) for x in response.checks]
    assert any(x.name == "presentation_attack" and x.verdict == common_pb2.VERDICT_PASS for x in response.checks)
    return photo, subject_id


def test_genuine_newspaper_response_passes_and_leaves_a_fingerprint(sqlite_server, passed) -> None:  # type: ignore[no-untyped-def]
    _, subject_id = passed
    with sqlite_server.app.db.transaction() as session:
        purposes = [r.purpose for r in session.query(ImageHashRow).filter_by(subject_id=subject_id)]
    assert sum(p.startswith("replay_kp:") for p in purposes) >= 50


@pytest.mark.parametrize(
    "kind,strength",
    [
        ("crop", 1.0),
        ("scale", 1.0),
        ("rotate", 1.0),
        ("reencode", 1.0),
        ("colour", 1.0),
        ("mirror", 1.0),
        ("combined", 0.5),
    ],
)
def test_an_edited_copy_is_a_replay_for_another_subject(
    sqlite_server, verified_documents, passed, kind, strength
) -> None:  # type: ignore[no-untyped-def]
    """The issue's case (5% crop, 0.9 scale, JPEG) and each edit at the limit we promise:
    20% crop, 0.5x scale, 10 degrees, quality 30, colour shifts, a mirror image."""
    photo, _ = passed
    other = verified_documents()
    c = _issue(sqlite_server, other, liveness_pb2.CHALLENGE_MODE_NEWSPAPER)
    copy = edit(photo, kind, strength, random.Random(11))
    response = _respond(sqlite_server, c, other, copy)
    assert response.verdict == common_pb2.VERDICT_FAIL and "REPLAYED_IMAGE" in _codes(response), [
        (x.name, x.detail) for x in response.checks
    ]


def test_a_distinct_photo_of_the_same_person_is_no_replay(sqlite_server, verified_documents, passed) -> None:  # type: ignore[no-untyped-def]
    _, subject_id = passed
    c = _issue(sqlite_server, subject_id, pose="paper_under_chin")
    photo = attackgen.compose(
        cv2.imread(str(LIVE_PHOTO_2)), default_engine(), attackgen.paper_with_code(c.code), "under_chin"
    )
    response = _respond(sqlite_server, c, subject_id, photo)
    replay = next(x for x in response.checks if x.name == "replay")
    assert replay.verdict == common_pb2.VERDICT_PASS, replay.detail
