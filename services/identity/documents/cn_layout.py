"""Where things are on a Chinese resident ID card, on the canonical 856x540 canvas
(85.6 x 54 mm at 10 px/mm). Boxes are (x, y, w, h)."""

from __future__ import annotations

CARD_W, CARD_H = 856, 540

FRONT: dict[str, tuple[int, int, int, int]] = {
    "name": (140, 34, 400, 56),
    "sex": (140, 98, 90, 56),
    "ethnicity": (335, 98, 200, 56),
    "birth_year": (140, 162, 94, 56),
    "birth_month": (276, 162, 51, 56),
    "birth_day": (366, 162, 51, 56),
    "address": (140, 226, 410, 140),
    "citizen_number": (250, 436, 580, 64),
}
PORTRAIT = (560, 60, 250, 310)
BACK: dict[str, tuple[int, int, int, int]] = {
    "issuing_authority": (290, 370, 560, 54),
    "validity": (290, 435, 560, 54),
}
