"""Fields found from the printed labels (issue #15): a card whose print sits elsewhere
than the layout's boxes (another print run: text moved against the portrait and the card's
edges) is still read exactly, with real Tesseract and PP-OCR on rendered cards."""

from __future__ import annotations

import random
from datetime import date

import cv2
import numpy as np
import pytest

from services.identity.documents import cn_labels
from services.identity.documents.cn_layout import BACK, FRONT, PORTRAIT
from services.identity.documents.cn_reader import read_cn_id
from services.identity.documents.ocr import default_ocr
from services.vision import ppocr
from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_back, render_front
from tests.portraits import id_portrait

TODAY = date(2026, 11, 22)


def _moved(img: np.ndarray, dx: int, dy: int, keep: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The card's print moved by (dx, dy) on its background; `keep` (the portrait) stays put."""
    out = np.empty_like(img)
    out[:] = img[2, 2]
    out[dy:, dx:] = img[: img.shape[0] - dy, : img.shape[1] - dx]
    if keep is not None:
        x, y, w, h = keep
        out[y : y + h, x : x + w] = img[y : y + h, x : x + w]
    return out


def test_labels_where_the_layout_has_them_move_no_box() -> None:
    rng = random.Random(4)
    card = random_card(rng, TODAY, None)
    lines = ppocr.shared()
    front = cn_labels.front_fields(render_front(card, rng), lines, FRONT, PORTRAIT[0])
    back = cn_labels.back_fields(render_back(card, rng), lines, BACK)
    assert set(front.labels) == set(cn_labels.FRONT_LABELS) and front.boxes == FRONT
    assert set(back.labels) == set(cn_labels.BACK_LABELS) and back.boxes == BACK


@pytest.mark.parametrize("seed", [0, 1])
def test_a_card_printed_off_the_layout_is_read_from_its_labels(seed: int) -> None:
    engine = default_engine()
    photo = cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg"))
    rng = random.Random(seed)
    card = random_card(rng, TODAY, id_portrait(photo, engine))
    # Read from the layout's boxes (before the labels were used), seed 0 FAILED on a
    # misread number and seed 1 went to review; both lost the validity period.
    front = _moved(render_front(card, rng), 20, 22, PORTRAIT)
    back = _moved(render_back(card, rng), 18, 26)
    doc = read_cn_id(
        capture(front, "clean", seed).image, capture(back, "clean", seed + 1).image, TODAY, engine, default_ocr()
    )
    assert doc.value("citizen_number") == card.number
    assert doc.value("name") == card.name
    assert (doc.value("valid_from"), doc.value("valid_until")) == (card.truth["valid_from"], card.truth["valid_until"])
    assert doc.verdict == "pass"
