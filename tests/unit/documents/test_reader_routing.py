"""Routing without a kind hint: a wrong guess that a document carries an MRZ must not
cost a Chinese ID card its reading (its OCR-B-like number line can look like an MRZ row
on a blurred photo; seen on 2 of 60 hard-tier cards in bench/ocr.py)."""

from __future__ import annotations

import random
from datetime import date

import cv2
import pytest

from services.identity.documents import reader as reader_module
from services.identity.documents.model import DocumentKind
from services.identity.documents.reader import DocumentReader
from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_back, render_front
from tests.portraits import id_portrait


def test_a_wrong_mrz_guess_falls_back_to_the_chinese_id_card(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = default_engine()
    rng = random.Random(3)
    today = date(2026, 11, 22)
    card = random_card(rng, today, id_portrait(cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg")), engine))
    front = capture(render_front(card, rng), "clean", 1).image
    back = capture(render_back(card, rng), "clean", 2).image
    # The classifier's mistake, forced: it takes the card for a TD1 card.
    monkeypatch.setattr(reader_module, "looks_like_mrz_document", lambda bgr: DocumentKind.ID_CARD_TD1)
    result = DocumentReader(engine).read(front, back, None, today)
    assert result.kind is DocumentKind.CN_RESIDENT_ID
    assert result.value("citizen_number") == card.truth["citizen_number"] and result.verdict == "pass"
