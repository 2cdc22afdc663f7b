"""The challenge photo, end to end on a real server: a genuine response passes, every
logical attack fails with its reason code, and a screen or print of a genuine response is
refused or sent to a person as a presentation attack.

Every test here shares one database, and a photo submitted twice (even with another
paper pasted in) is a replay: genuine responses that must pass use a photo no earlier
test submitted, or live in their own module (test_liveness_replay.py)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import cv2
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, liveness_pb2

from services.platform.models import ChallengeRow
from services.platform.records import utcnow
from services.vision.faces import default_engine
from tests import attackgen, challenges
from tests.attackgen import presentation
from tests.conftest import FACES, id_card_subjects
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_front
from tests.portraits import id_portrait

ID_PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
LIVE_PHOTO = FACES / "barack_obama" / "facerec_obama2.jpg"
LIVE_PHOTO_2 = FACES / "barack_obama" / "facerec_obama1.jpg"
STRANGER = FACES / "joe_biden" / "facerec_biden.jpg"


@pytest.fixture(scope="module")
def verified_documents(sqlite_server):  # type: ignore[no-untyped-def]
    """A subject whose ID card (with the seller's portrait) is on file."""
    return id_card_subjects(sqlite_server, seed=21, ref_prefix="live")


_issue = challenges.issue
_respond = challenges.respond
_codes = challenges.codes


def _with_paper(path, paper, where: str = "under_chin"):  # type: ignore[no-untyped-def]
    return attackgen.compose(cv2.imread(str(path)), default_engine(), paper, where)


def test_challenge_is_issued_with_code_pose_and_instructions(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    with sqlite_server.client() as client:
        c = client.liveness.IssueChallenge(liveness_pb2.IssueChallengeRequest(subject_id=subject_id)).challenge
    assert len(c.code) == 6 and not set(c.code) & set("0O1IL2Z5S8B")
    assert c.pose != liveness_pb2.CHALLENGE_POSE_UNSPECIFIED
    assert c.code in c.instructions_en and c.code in c.instructions_zh
    assert c.expires_at.seconds - c.issued_at.seconds == 600
    assert c.date == (utcnow() + timedelta(hours=8)).date().isoformat()  # Asia/Shanghai by default


def test_genuine_response_passes_and_every_check_is_evidenced(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id)
    response = _respond(sqlite_server, c, subject_id, _with_paper(LIVE_PHOTO, attackgen.paper_with_code(c.code)))
    assert response.verdict == common_pb2.VERDICT_PASS, [(x.name, x.detail) for x in response.checks]
    names = {x.name for x in response.checks}
    assert {"freshness", "replay", "single_face", "face_match", "paper", "code", "pose"} <= names


def test_wrong_code_fails(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id)
    wrong = "".join(reversed(c.code)) if c.code != c.code[::-1] else "HJKMNP"
    response = _respond(sqlite_server, c, subject_id, _with_paper(LIVE_PHOTO_2, attackgen.paper_with_code(wrong)))
    assert response.verdict == common_pb2.VERDICT_FAIL and "CODE_MISMATCH" in _codes(response)


def test_reused_and_expired_challenges_fail(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id)
    _respond(sqlite_server, c, subject_id, _with_paper(LIVE_PHOTO, attackgen.paper_with_code(c.code), "left"))
    again = _respond(sqlite_server, c, subject_id, _with_paper(LIVE_PHOTO_2, attackgen.paper_with_code(c.code)))
    assert again.verdict == common_pb2.VERDICT_FAIL and "CHALLENGE_ALREADY_USED" in _codes(again)
    old = _issue(sqlite_server, subject_id)
    with sqlite_server.app.db.transaction() as session:
        session.get(ChallengeRow, old.challenge_id).expires_at = utcnow() - timedelta(seconds=1)
    late = _respond(
        sqlite_server, old, subject_id, _with_paper(LIVE_PHOTO_2, attackgen.paper_with_code(old.code), "right")
    )
    assert late.verdict == common_pb2.VERDICT_FAIL and "CHALLENGE_EXPIRED" in _codes(late)


def test_another_person_with_the_right_code_fails(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id)
    response = _respond(sqlite_server, c, subject_id, _with_paper(STRANGER, attackgen.paper_with_code(c.code)))
    assert response.verdict == common_pb2.VERDICT_FAIL and "FACE_NO_MATCH" in _codes(response)


def test_replayed_image_fails_even_for_another_subject(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    first, second = verified_documents(), verified_documents()
    c1 = _issue(sqlite_server, first)
    photo = _with_paper(LIVE_PHOTO, attackgen.paper_with_code(c1.code), "right")
    _respond(sqlite_server, c1, first, photo)
    c2 = _issue(sqlite_server, second)
    replay = _respond(sqlite_server, c2, second, attackgen.recompress(photo))
    assert replay.verdict == common_pb2.VERDICT_FAIL and "REPLAYED_IMAGE" in _codes(replay)


def test_two_faces_fail(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id)
    both = attackgen.two_faces(cv2.imread(str(LIVE_PHOTO_2)), cv2.imread(str(STRANGER)), default_engine())
    response = _respond(sqlite_server, c, subject_id, both)
    assert response.verdict == common_pb2.VERDICT_FAIL and "MULTIPLE_FACES" in _codes(response)


def test_id_card_held_up_as_the_selfie_fails(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id)
    rng = random.Random(5)
    card = random_card(rng, date.today(), id_portrait(cv2.imread(str(ID_PHOTO)), default_engine()))
    photo = capture(render_front(card, rng), "photo", 3).image
    response = _respond(sqlite_server, c, subject_id, photo)
    assert response.verdict == common_pb2.VERDICT_FAIL


def test_yesterdays_newspaper_fails(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id, liveness_pb2.CHALLENGE_MODE_NEWSPAPER, "paper_left_half")
    yesterday = date.fromisoformat(c.date) - timedelta(days=1)
    response = _respond(sqlite_server, c, subject_id, _with_paper(LIVE_PHOTO_2, attackgen.newspaper(yesterday), "left"))
    assert response.verdict != common_pb2.VERDICT_PASS
    assert _codes(response) & {"DATE_MISMATCH", "DATE_UNREADABLE"}


def test_unknown_challenge_is_not_found(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    with sqlite_server.client() as client, pytest.raises(SellerVerifyError) as err:
        client.liveness.RespondChallenge(
            liveness_pb2.RespondChallengeRequest(
                challenge_id="nope", subject_id="x", images=[common_pb2.Image(content=LIVE_PHOTO.read_bytes())]
            )
        )
    assert err.value.reason == "CHALLENGE_NOT_FOUND"


def test_screen_replay_of_a_genuine_response_is_not_accepted(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    """The seller's own photo with the right code, shown on a phone and photographed again."""
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id, pose="paper_right_half")
    shown = _with_paper(LIVE_PHOTO, attackgen.paper_with_code(c.code), "right")
    response = _respond(sqlite_server, c, subject_id, presentation.screen_replay(shown, random.Random(1), 1.0))
    assert response.verdict != common_pb2.VERDICT_PASS
    assert _codes(response) & {"SCREEN_REPLAY_SUSPECTED", "PRINTED_PHOTO_SUSPECTED"}, _codes(response)
    pad = next(x for x in response.checks if x.name == "presentation_attack")
    assert "frame" in pad.detail and "luma_axis_peak" in pad.detail


def test_printed_photo_of_a_genuine_response_is_not_accepted(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id, pose="paper_right_half")
    shown = _with_paper(LIVE_PHOTO, attackgen.paper_with_code(c.code), "right")
    response = _respond(sqlite_server, c, subject_id, presentation.printed_photo(shown, random.Random(4), 1.0))
    assert response.verdict != common_pb2.VERDICT_PASS
    assert "PRINTED_PHOTO_SUSPECTED" in _codes(response), _codes(response)


def test_code_shown_on_a_phone_instead_of_paper_is_refused(sqlite_server, verified_documents) -> None:  # type: ignore[no-untyped-def]
    """The right code, in the requested place, but on a phone's screen: CODE_ON_SCREEN."""
    subject_id = verified_documents()
    c = _issue(sqlite_server, subject_id, pose="paper_right_half")
    rng = random.Random(5)
    phone = presentation.phone_with_code(attackgen.paper_with_code(c.code, rng=rng), rng, 0.5)
    shown = attackgen.compose(cv2.imread(str(LIVE_PHOTO_2)), default_engine(), phone, "right", rng, lit=True)
    response = _respond(sqlite_server, c, subject_id, attackgen.camera(shown, rng))
    assert response.verdict == common_pb2.VERDICT_FAIL, [(x.name, x.detail) for x in response.checks]
    assert "CODE_ON_SCREEN" in _codes(response), _codes(response)
    medium = next(x for x in response.checks if x.name == "paper_medium")
    assert "ripple" in medium.detail and "fringes" in medium.detail
