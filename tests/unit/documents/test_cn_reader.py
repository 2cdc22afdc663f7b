"""The Chinese ID card reader on rendered cards with real Tesseract: regressions for the
systematic misses found with bench/ocr.py (issue #3)."""

from __future__ import annotations

import dataclasses
import random
from datetime import date
from functools import cache

import cv2
import numpy as np
import pytest

from services.identity.documents import cn_id
from services.identity.documents.cn_layout import FRONT
from services.identity.documents.cn_reader import line_image, read_cn_id
from services.identity.documents.ocr import default_ocr
from services.vision.faces import FaceEngine, default_engine
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import IdCard, random_card, render_back, render_front
from tests.portraits import id_portrait

TODAY = date(2026, 11, 22)


@cache
def _engine() -> FaceEngine:
    return default_engine()


@cache
def _ocr():  # type: ignore[no-untyped-def]
    return default_ocr()


@cache
def _portrait() -> np.ndarray:
    p = id_portrait(cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg")), _engine())
    assert p is not None
    return p


def _card(seed: int, name: str | None = None, birth: date | None = None, invalid: str | None = None) -> IdCard:
    """A generated card, optionally with a given name and birth date (number re-derived)."""
    card = random_card(random.Random(seed), TODAY, _portrait(), invalid)
    if birth is not None:
        first17 = card.number[:6] + f"{birth:%Y%m%d}" + card.number[14:17]
        card = dataclasses.replace(card, birth=birth, number=first17 + cn_id.check_char(first17))
    if name is not None:
        card = dataclasses.replace(card, name=name)
    return card


def _read(card: IdCard, tier: str = "clean", seed: int = 1):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    front = capture(render_front(card, rng), tier, seed).image
    back = capture(render_back(card, rng), tier, seed + 1).image
    return read_cn_id(front, back, TODAY, _engine(), _ocr())


@pytest.mark.parametrize("birth", [date(1957, 1, 30), date(1971, 12, 20), date(1980, 11, 15), date(2001, 3, 1)])
def test_one_and_two_digit_months_and_days_are_read(birth: date) -> None:
    # Lone one- or two-digit crops came back empty or as 4/8 from Tesseract; read as one
    # line they are exact, and the printed date agrees with the number's.
    doc = _read(_card(7, birth=birth))
    assert doc.value("birth_date") == birth.isoformat()
    assert doc.fields["birth_date"].status.value == "valid"
    assert doc.verdict == "pass"


@pytest.mark.parametrize("name", ["钱建杰", "韦霞远", "肖红浩", "沈燕"])
def test_names_that_the_loose_field_box_lost_are_read_exactly(name: str) -> None:
    # With the glyphs at half the crop height Tesseract returned nothing or misread them.
    doc = _read(_card(9, name=name))
    assert doc.value("name") == name


def test_line_image_cuts_to_the_ink_and_scales_the_glyphs() -> None:
    card = render_front(_card(3, name="王芳"), random.Random(3))
    x, y, w, h = FRONT["name"]
    img = line_image(card[y : y + h, x : x + w], 48, 0.3, 0.3)
    assert img is not None
    assert img.shape[0] == 48 + 2 * round(0.3 * 48)  # ink rows scaled to 48 px plus the margins
    assert img.shape[1] < 4 * 48  # two characters, not the empty rest of the field box
    assert line_image(np.full((56, 400, 3), 230, np.uint8)) is None


def test_a_reflection_that_leaves_the_fields_readable_does_not_refuse_the_card() -> None:
    # The hard-tier capture puts a glare spot over the back's issuing authority; the
    # validity period still reads, so the card is read instead of refused.
    rng = random.Random("0-hard-0")
    card = random_card(rng, TODAY, _portrait())
    front = capture(render_front(card, rng), "hard", rng.randrange(1 << 30)).image
    back = capture(render_back(card, rng), "hard", rng.randrange(1 << 30)).image
    doc = read_cn_id(front, back, TODAY, _engine(), _ocr())
    assert doc.value("citizen_number") == card.number
    assert doc.fields["valid_until"].status.value == "valid"


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_a_printed_birth_date_that_differs_from_the_number_never_passes(seed: int) -> None:
    doc = _read(_card(seed, invalid="birth_mismatch"), "photo", seed)
    assert doc.verdict != "pass"
    assert {r.name for r, _, _ in doc.reasons} & {"BIRTH_DATE_MISMATCH", "FIELD_UNREADABLE"}


def test_a_forged_check_character_is_not_repaired_by_the_re_reads() -> None:
    doc = _read(_card(31, invalid="bad_check_char"), "photo", 31)
    assert doc.verdict == "fail"
    assert "ID_NUMBER_CHECKSUM_FAILED" in {r.name for r, _, _ in doc.reasons}
