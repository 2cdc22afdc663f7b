"""A card held beside the live face is an attack even when its outline is lost: its portrait
is a small face with rows of printed characters beside it (services/liveness/portrait.py).
Live faces with a code sheet or a newspaper beside them are not portraits."""

from __future__ import annotations

import random
from datetime import date

import cv2
import numpy as np
import pytest

from services.identity.face_match import CalibrationTable, FaceMatcher
from services.liveness import portrait
from services.liveness.checker import held_document_check
from services.vision.faces import DETECT_MAX_SIDE, default_engine
from tests import attackgen
from tests.conftest import FACES
from tests.docgen.cn_id_card import random_card, render_front
from tests.portraits import id_portrait

ID_PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
LIVE = [FACES / "joe_biden" / "facerec_biden.jpg", FACES / "barack_obama" / "facerec_obama2.jpg"]


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    rng = random.Random(4)
    return render_front(
        random_card(rng, date(2026, 11, 22), id_portrait(cv2.imread(str(ID_PHOTO)), default_engine())), rng
    )


def _faces(scene: np.ndarray) -> list:  # type: ignore[type-arg]
    return sorted(default_engine().detect(scene, DETECT_MAX_SIDE), key=lambda f: -f.box[2])


# The placements presence.portrait_in_document misses (outline merged with the scene or cut
# by the picture's edge: tests/unit/liveness/test_document_portrait.py) are among these.
@pytest.mark.parametrize("where,seed", [("under_chin", 3), ("left", 2), ("right", 2), ("left", 5), ("right", 6)])
def test_a_card_beside_the_live_face_fails_the_held_document_check(card, where, seed) -> None:  # type: ignore[no-untyped-def]
    engine = default_engine()
    scene = attackgen.compose(cv2.imread(str(LIVE[0])), engine, card, where, random.Random(seed), 1.9)
    faces = _faces(scene)
    assert len(faces) >= 2
    live, held = faces[0], faces[1]
    assert portrait.is_small_beside(held.box, live.box)
    assert portrait.text_beside(scene, held.box, [live.box]).printed
    check = held_document_check(scene, live.box, FaceMatcher(engine, CalibrationTable.load(engine.info.engine)))
    assert check is not None and check.verdict == "fail"
    assert [r.value for r, _ in check.reasons] == ["DOCUMENT_PORTRAIT_IN_FRAME"]


@pytest.mark.parametrize("path", LIVE)
@pytest.mark.parametrize("where", ["under_chin", "left", "right"])
def test_a_live_face_with_a_code_sheet_or_newspaper_has_no_printed_rows(path, where) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    photo = cv2.imread(str(path))
    for held, size in (
        (attackgen.paper_with_code("HJ47KX", rng=rng, style="hand"), None),
        (attackgen.newspaper(date(2026, 11, 22), rng=rng), 2.5),
    ):
        scene = attackgen.compose(photo, default_engine(), held, where, rng, size)
        face = _faces(scene)[0]
        text = portrait.text_beside(scene, face.box)
        assert not text.main_face_printed, text
        assert not portrait.is_small_in_frame(scene, face.box)
