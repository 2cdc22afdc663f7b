"""The PP-OCRv4 text-line recogniser (services/vision/ppocr.py) on rendered name lines,
with the real model from the rapidocr-onnxruntime wheel (issue #3)."""

from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from services.identity.documents.cn_layout import FRONT
from services.identity.documents.cn_reader import ink_crop
from services.vision import ppocr
from services.vision.ppocr import TextLineRecogniser
from tests.docgen.cn_id_card import CJK_FONT, INK, random_card, render_front

TODAY = date(2026, 11, 22)
# Names whose first character Chinese Tesseract misread on rendered cards (廖 as 大,
# 郝 as 孝, 磊 as 大 / 硕, 熊 as 能, 袁 dropped, 贺 ...), and a few plain ones.
NAMES = ["廖娜", "郝强", "杜磊", "于磊敏", "熊晓", "袁娟娜", "贺玉萍", "覃怡娟", "潘晓", "彭欣一", "王芳", "欧阳思远"]


@pytest.fixture(scope="module")
def recogniser() -> TextLineRecogniser:
    found = ppocr.shared()
    assert found is not None, "the rapidocr-onnxruntime wheel is not installed (scripts/setup.sh installs it)"
    return found


def _line(text: str, size: int = 32) -> np.ndarray:
    """The text in the card generator's font and ink, on the card's pale background."""
    font = ImageFont.truetype(CJK_FONT, size)
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(text))
    pad = size // 3
    img = Image.new("RGB", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), (236, 242, 246))
    ImageDraw.Draw(img).text((pad - x0, pad - y0), text, font=font, fill=INK)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


@pytest.mark.parametrize("name", NAMES)
def test_rendered_name_lines_are_read_exactly(recogniser: TextLineRecogniser, name: str) -> None:
    line = recogniser.recognise(_line(name))
    assert line.text == name
    assert len(line.confidences) == len(name)
    assert line.confidence > 0.8


@pytest.mark.parametrize("tier", ["clean", "photo"])
@pytest.mark.parametrize("name", ["廖丽怡", "郝强", "熊晓", "袁娟娜", "贺磊"])
def test_names_cut_from_captured_cards_are_read_exactly(recogniser: TextLineRecogniser, name: str, tier: str) -> None:
    # The card is rendered and photographed at the tier; the crop is the name field of the
    # canonical card (a clean capture keeps the layout close enough to cut it directly).
    rng = random.Random(f"{name}-{tier}")
    card = random_card(rng, TODAY, None)
    card.name = name
    front = render_front(card, rng)
    if tier == "photo":  # the photo tier's blur and noise without its perspective
        front = cv2.GaussianBlur(front, (3, 3), 0.8)
        front = np.clip(front + np.random.default_rng(5).normal(0, 6, front.shape), 0, 255).astype(np.uint8)
    x, y, w, h = FRONT["name"]
    crop = ink_crop(front[y : y + h, x : x + w], 0.2, 0.5)
    assert crop is not None
    assert recogniser.recognise(crop).text == name


def test_digits_and_latin_come_from_the_same_dictionary(recogniser: TextLineRecogniser) -> None:
    assert recogniser.recognise(_line("2026年11月22日")).text == "2026年11月22日"


def test_ctc_decoding_merges_repeats_but_keeps_a_doubled_character(recogniser: TextLineRecogniser) -> None:
    lei = recogniser.recognise(_line("磊")).text
    assert lei == "磊"
    index = recogniser._chars.index(lei)
    classes = len(recogniser._chars)
    steps = [index, index, 0, index, 0, 0]  # 磊 磊 blank 磊 blank blank -> 磊磊
    probs = np.full((len(steps), classes), 0.0, np.float32)
    for t, k in enumerate(steps):
        probs[t, k] = 0.9 if t != 1 else 0.6
    out = recogniser.decode(probs)
    assert out.text == "磊磊"
    assert out.confidences == pytest.approx((0.9, 0.9))
    assert recogniser.decode(np.eye(classes, dtype=np.float32)[[0, 0]]).text == ""


def test_the_dictionary_matches_the_model_output(recogniser: TextLineRecogniser) -> None:
    probs = recogniser._session.run(None, {recogniser._input: recogniser.prepare(_line("王芳"))})[0]
    assert probs.shape[-1] == len(recogniser._chars) == 6625
    assert recogniser._chars[0] == "" and recogniser._chars[-1] == " "


@pytest.mark.parametrize("name", ["贺玉萍", "欧阳思远", "11月22日"])
def test_openvino_gives_what_onnxruntime_gives_on_lines_of_the_common_width(
    recogniser: TextLineRecogniser, name: str
) -> None:
    # Lines padded to MIN_WIDTH run on OpenVINO; every accuracy figure before 2026-12-04
    # was measured on onnxruntime, so both must compute the same probabilities.
    x = recogniser.prepare(_line(name))
    assert x.shape == (1, 3, ppocr.HEIGHT, ppocr.MIN_WIDTH)
    expected = recogniser._session.run(None, {recogniser._input: x})[0]
    got = recogniser._infer(x)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < 1e-4
    assert recogniser.decode(got[0]).text == name


def test_concurrent_calls_give_the_same_readings(recogniser: TextLineRecogniser) -> None:
    lines = [_line(n) for n in NAMES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda im: recogniser.recognise(im).text, lines * 2))
    assert results == NAMES * 2


def test_an_empty_or_blank_crop_reads_as_nothing(recogniser: TextLineRecogniser) -> None:
    assert recogniser.recognise(np.zeros((0, 0, 3), np.uint8)).text == ""
    blank = recogniser.recognise(np.full((48, 200, 3), 240, np.uint8))
    assert blank.text.strip() == ""


def test_a_missing_model_is_logged_and_means_tesseract_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ppocr, "model_path", lambda: None)
    with caplog.at_level(logging.WARNING, logger=ppocr.__name__):
        assert ppocr.load() is None
    assert "Tesseract alone" in caplog.text
