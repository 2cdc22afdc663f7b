"""Review policy: which decisions need a second rep, and which reason codes go with each."""

from __future__ import annotations

from services.core.reasons import Reason
from services.trust import review_policy


def test_an_approval_over_a_knock_out_needs_four_eyes_and_a_plain_one_does_not() -> None:
    reasons = [{"code": "DUPLICATE_FACE", "message": "same face elsewhere"}]
    checks = [
        {"name": "face_match", "reasons": [{"code": "FACE_MATCH_UNCERTAIN"}, {"code": "PRINTED_PHOTO_SUSPECTED"}]}
    ]
    found = review_policy.knockouts(reasons, checks)
    assert found == ["DUPLICATE_FACE", "PRINTED_PHOTO_SUSPECTED"]
    assert review_policy.four_eyes("approve", False, found) == (
        "approval overrides knock-out DUPLICATE_FACE, PRINTED_PHOTO_SUSPECTED"
    )
    uncertain = review_policy.knockouts([], [{"reasons": [{"code": "FACE_MATCH_UNCERTAIN"}]}])
    assert uncertain == [] and review_policy.four_eyes("approve", False, uncertain) is None


def test_a_code_shown_on_a_screen_is_a_knock_out_a_rep_cannot_approve_alone() -> None:
    checks = [{"name": "paper_medium", "reasons": [{"code": Reason.CODE_ON_SCREEN.value}]}]
    found = review_policy.knockouts([], checks)
    assert found == ["CODE_ON_SCREEN"]
    assert review_policy.four_eyes("approve", False, found) == "approval overrides knock-out CODE_ON_SCREEN"


def test_a_ban_needs_four_eyes_a_plain_reject_and_a_recapture_do_not() -> None:
    assert review_policy.four_eyes("reject", True, []) == "reject with ban"
    assert review_policy.four_eyes("reject", False, ["DUPLICATE_FACE"]) is None
    assert review_policy.four_eyes("request_new_capture", False, ["DUPLICATE_FACE"]) is None


def test_reason_codes_belong_to_one_decision_and_sit_in_the_console_range() -> None:
    seen: set[Reason] = set()
    for decision, codes in review_policy.REASONS_BY_DECISION.items():
        assert codes, decision
        assert not seen & set(codes)
        seen |= set(codes)
    assert Reason.REVIEW_SAME_PERSON in review_policy.allowed_reasons("approve")
    assert Reason.REVIEW_APPROVED in review_policy.allowed_reasons("approve")  # first-version callers
    assert review_policy.sla_for("video_call") < review_policy.sla_for("reverification")
