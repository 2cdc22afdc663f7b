"""A face pasted into another person's photo goes to a person (services/liveness/swap.py);
live faces holding a code sheet do not."""

from __future__ import annotations

import random

import cv2
import pytest

from bench.liveness import _phone_sized
from services.liveness import swap
from services.liveness.checker import face_swap_check
from services.vision.faces import DETECT_MAX_SIDE, default_engine
from tests import attackgen
from tests.conftest import FACES

PEOPLE = ["barack_obama/facerec_obama2.jpg", "joe_biden/facerec_biden.jpg"]


def _face(img):  # type: ignore[no-untyped-def]
    return max(default_engine().detect(img, DETECT_MAX_SIDE), key=lambda f: f.box[2])


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("where", ["under_chin", "left", "right"])
def test_a_live_face_with_its_paper_is_no_swap(person: str, where: str) -> None:
    rng = random.Random(21)
    img = attackgen.camera(
        attackgen.compose(
            cv2.imread(str(FACES / person)), default_engine(), attackgen.paper_with_code("HJ47KX", rng=rng), where, rng
        ),
        rng,
    )
    face = _face(img)
    result = swap.assess(img, face.landmarks, None)
    assert result.verdict == "pass", result.detail


def _swap(target: str, rng: random.Random):  # type: ignore[no-untyped-def]
    # As the benchmark sends them: sources under 480 px are upscaled to a phone's size.
    donor, tgt = (_phone_sized(cv2.imread(str(FACES / p))) for p in (PEOPLE[1], target))
    return attackgen.camera(attackgen.face_swap(tgt, donor, default_engine(), rng), rng)


def test_a_sharp_face_blended_into_softer_photos_goes_to_review_at_times() -> None:
    """The seller's face Poisson-blended (tests/attackgen) onto photos softer than it: the
    face's fine noise does not match its neck's and ears'. A weak signal (review only):
    on these ten swaps it measured 4 at the line; a third must reach it."""
    flagged = 0
    for target in ("anthony_hopkins/facenet_Anthony_Hopkins_0002.jpg", "eric_clapton/openface_clapton-1.jpg"):
        for seed in range(5):
            img = _swap(target, random.Random(seed))
            check = face_swap_check(img, _face(img).landmarks, None)
            assert check.verdict != "fail", check.detail  # never more than a review
            if check.verdict == "review":
                flagged += 1
                assert [r.value for r, _ in check.reasons] == ["FACE_SWAP_SUSPECTED"]
    assert flagged >= 3, flagged


@pytest.mark.xfail(
    strict=True,
    reason="known miss: a swap between two sharp photos leaves no noise mismatch and the "
    "Poisson blend no seam strong enough (docs/liveness.md)",
)
def test_a_swap_between_equally_sharp_photos_is_found() -> None:
    img = _swap("alex_lacamoire/facerec_alex_lacamoire1.jpg", random.Random(22))
    assert face_swap_check(img, _face(img).landmarks, None).verdict == "review"
