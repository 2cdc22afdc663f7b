"""Finding a Chinese ID card in any capture (issue #15): rendered cards in the capture
styles the finder missed (a light card on a printed page or stone, a screenshot under an
app's title bar, a phone photo), found where they really are; a card really cut off is
still refused as cut off."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from services.core.errors import DomainError
from services.core.reasons import Reason
from services.identity.documents.cn_layout import CARD_H, CARD_W
from services.identity.documents.doc_quality import gate
from tests.docgen.capture import Capture, capture_style
from tests.docgen.cn_id_card import random_card, render_back, render_front

TODAY = date(2026, 11, 22)


def _captured(style: str, tier: str, i: int, side: str) -> Capture:
    rng = random.Random(f"11-{style}-{tier}-{i}")
    card = random_card(rng, TODAY, None)
    front = capture_style(render_front(card, rng), tier, style, rng.randrange(1 << 30))
    if side == "front":
        return front
    return capture_style(render_back(card, rng), tier, style, rng.randrange(1 << 30))


def _corner_error(found: np.ndarray, truth: np.ndarray) -> float:
    """The largest corner distance, over the ways of matching the two quads' corners."""
    return min(float(np.abs(np.roll(t, k, axis=0) - found).max()) for t in (truth, truth[::-1]) for k in range(4))


# Each was refused (NO_DOCUMENT_FOUND, DOCUMENT_CUT_OFF) or found far off (the whole frame,
# a quad running into the background) before the finder judged sides on band medians and
# tried quads of straight edges.
@pytest.mark.parametrize(
    ("style", "tier", "i", "side"),
    [
        ("screenshot", "clean", 0, "back"),  # light app background, card right under the title bar
        ("screenshot", "clean", 1, "back"),  # a strip of app background between bar and card
        ("screenshot", "photo", 0, "back"),
        ("textured", "clean", 2, "front"),  # a light card on a printed page
        ("phone", "clean", 1, "front"),  # card edges near the picture's border, page around
        ("phone", "photo", 1, "front"),  # speckled stone
    ],
)
def test_a_card_is_found_where_it_is_in_any_capture(style: str, tier: str, i: int, side: str) -> None:
    shot = _captured(style, tier, i, side)
    found = gate(shot.image, side, CARD_W / CARD_H)
    error = _corner_error(found.quad, shot.quad.astype(np.float32))
    assert error <= 0.015 * max(shot.image.shape[:2]), (error, found.quad.tolist(), shot.quad.tolist())


def test_a_card_really_cut_off_on_a_printed_page_is_refused_as_cut_off() -> None:
    shot = _captured("textured", "clean", 2, "front")
    x_cut = int(shot.quad[:, 0].min() + 0.7 * np.ptp(shot.quad[:, 0]))  # 30% of the card outside
    with pytest.raises(DomainError) as err:
        gate(shot.image[:, :x_cut], "front", CARD_W / CARD_H)
    assert err.value.reason is Reason.DOCUMENT_CUT_OFF
