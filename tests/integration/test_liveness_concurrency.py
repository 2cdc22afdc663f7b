"""Two answers to one challenge at the same moment: exactly one is recorded as the answer,
every other one fails with CHALLENGE_ALREADY_USED (never a silent FAIL, never a second
PASS or a second review case)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sellerverify.v1 import common_pb2

from services.platform.models import ChallengeRow, ReviewCaseRow
from tests import attackgen
from tests.conftest import id_card_subjects
from tests.integration.test_liveness import LIVE_PHOTO, LIVE_PHOTO_2, _codes, _issue, _respond, _with_paper


def test_concurrent_answers_consume_the_challenge_once(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    subject_id = id_card_subjects(sqlite_server, seed=21, ref_prefix="live")()
    c = _issue(sqlite_server, subject_id)
    paper = attackgen.paper_with_code(c.code)
    images = [_with_paper(LIVE_PHOTO, paper), _with_paper(LIVE_PHOTO_2, paper)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda img: _respond(sqlite_server, c, subject_id, img), images))
    with sqlite_server.app.db.read() as session:
        row = session.get(ChallengeRow, c.challenge_id)
        recorded = row.verification_id
        cases = session.query(ReviewCaseRow).filter(ReviewCaseRow.subject_id == subject_id).count()
    winners = [a for a in answers if a.verification_id == recorded]
    losers = [a for a in answers if a.verification_id != recorded]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].verdict == common_pb2.VERDICT_FAIL
    assert "CHALLENGE_ALREADY_USED" in _codes(losers[0]), [(x.name, x.detail) for x in losers[0].checks]
    # The challenge was answered once: at most the winner's review case exists.
    assert cases <= (1 if winners[0].verdict == common_pb2.VERDICT_REVIEW else 0)
