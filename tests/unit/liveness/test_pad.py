"""Presentation-attack signals on real photos: a live scene scores nothing; a periodic
grid, a screen's bezel or a print's grey blacks and paper edge are seen and named."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from services.liveness import pad
from services.vision.faces import default_engine
from tests import attackgen
from tests.attackgen import presentation
from tests.conftest import FACES

PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"


@pytest.fixture(scope="module")
def genuine() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    rng = random.Random(3)
    img = attackgen.camera(
        attackgen.compose(
            cv2.imread(str(PHOTO)), default_engine(), attackgen.paper_with_code("HJ47KX", rng=rng), "right", rng
        ),
        rng,
    )
    return img, default_engine().detect(img)[0].box


def test_a_grid_stands_out_of_the_spectrum(genuine) -> None:  # type: ignore[no-untyped-def]
    img, _ = genuine
    gray = cv2.cvtColor(img[:256, :256], cv2.COLOR_BGR2GRAY).astype(np.float32)
    plain_axis, plain_slant = pad.spectral_peaks(gray)
    yy, xx = np.mgrid[0 : gray.shape[0], 0 : gray.shape[1]].astype(np.float32)
    a = np.radians(5)  # a display grid every 3.3 px, turned a little against the camera
    grid = gray + 12 * np.cos(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / 3.3)
    axis, _ = pad.spectral_peaks(grid)
    assert plain_axis < pad.LUMA_AXIS_FLOOR < axis  # aligned with the picture's axes, as a screen is
    halftone = gray + 12 * np.cos(2 * np.pi * (xx + yy) / (2.5 * np.sqrt(2)))  # a 45° screen
    assert plain_slant < pad.LUMA_SLANT_FLOOR < pad.spectral_peaks(halftone)[1]


def test_a_live_response_scores_nothing(genuine) -> None:  # type: ignore[no-untyped-def]
    img, box = genuine
    result = pad.assess(img, box)
    assert result.verdict == "pass", result.detail
    assert result.signals["frame"] == 0.0


@pytest.mark.parametrize("seed", [1, 2])
def test_a_screen_with_its_bezel_is_refused(genuine, seed: int) -> None:  # type: ignore[no-untyped-def]
    img, _ = genuine
    attack = presentation.screen_replay(img, random.Random(seed), 1.0)
    faces = default_engine().detect(attack)
    result = pad.assess(attack, faces[0].box if faces else None)
    assert result.verdict != "pass", result.detail


def test_a_print_is_named_as_print(genuine) -> None:  # type: ignore[no-untyped-def]
    img, _ = genuine
    attack = presentation.printed_photo(img, random.Random(4), 1.0)
    faces = default_engine().detect(attack)
    result = pad.assess(attack, faces[0].box if faces else None)
    assert result.verdict != "pass" and result.kind == "print", result.detail


def test_a_print_s_squeezed_gamut_is_sent_to_review(genuine) -> None:  # type: ignore[no-untyped-def]
    """A print too fine and soft to show its halftone still cannot be darker than its ink
    nor brighter than its paper: the live photo's tones squeezed into a print's range
    (grey black, dim warm white) are no longer passed; the live photo itself is."""
    img, box = genuine
    live = pad.assess(img, box)
    assert live.signals["ink_gamut"] == 0.0 and live.verdict == "pass", live.detail
    paper = np.float32([222, 232, 240])  # B, G, R: a warm, dim white
    ink = 0.14  # the share of the paper's light a black ink still reflects
    squeezed = (img.astype(np.float32) / 255 * (1 - ink) + ink) * paper
    attack = np.clip(squeezed, 0, 255).astype(np.uint8)
    result = pad.assess(attack, box)
    assert result.signals["ink_gamut"] > pad.REVIEW_AT, result.detail
    assert result.verdict == "review" and result.kind == "print", result.detail


def test_a_grey_black_alone_or_a_dim_white_alone_is_live() -> None:
    """A low-key live photo (grey shadows, clipped highlights) or a dim room (deep
    shadows, no white) keeps one end of the range: no gamut evidence."""
    assert pad.ink_gamut(38.0, 255.0) == 0.0
    assert pad.ink_gamut(4.0, 212.0) == 0.0
    assert pad.ink_gamut(30.0, 225.0) == pytest.approx(pad.GAMUT_MAX)


def test_a_screen_s_colour_fringes_stand_out(genuine) -> None:  # type: ignore[no-untyped-def]
    """Sub-pixel R, G, B stripes aliased by the camera leave fine colour fringes that a live
    face's smooth skin colour does not have, even through the phone's JPEG."""
    img, box = genuine
    assert pad.chroma_detail(pad._patch(img, box)) < pad.CHROMA_DETAIL_FLOOR
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * np.cos(0.05) + yy * np.sin(0.05)) / 6.0  # the aliased stripes' period in camera pixels
    stripes = [1 + 0.12 * np.cos(2 * np.pi * (u - k / 3)) for k in (2, 1, 0)]  # B, G, R: R leftmost
    shown = np.clip(img.astype(np.float32) * np.dstack(stripes), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", shown, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    attack = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    result = pad.assess(attack, box)
    # Too faint for a spectral peak of its own: the fringes alone send it to review.
    assert result.signals["chroma_slant_peak"] < pad.CHROMA_FLOOR, result.detail
    assert result.signals["chroma_detail"] > pad.CHROMA_DETAIL_FLOOR + 0.5 * pad.CHROMA_DETAIL_SPAN, result.detail
    assert result.verdict != "pass" and result.kind == "screen", result.detail
