"""Which side of a Chinese resident ID card a picture shows (for wrong-picture answers)."""

from __future__ import annotations

import cv2
import numpy as np

from services.core.reasons import Reason
from services.identity.documents.cn_layout import BACK, CARD_H, CARD_W
from services.identity.documents.model import HARD_FAILURES
from services.identity.documents.ocr import Region
from services.identity.documents.presence import Ocr
from services.identity.documents.rectify import find_document, warp
from services.vision.faces import FaceEngine

# The back's validity line holds two dates (16 digits) or one date and 长期 (8).
VALIDITY_DIGITS = 8


def _flat(bgr: np.ndarray) -> np.ndarray:
    found = find_document(bgr)
    if found is None or found.touches_border:  # a scan that fills the frame: the picture is the card
        return cv2.resize(bgr, (CARD_W, CARD_H), interpolation=cv2.INTER_AREA)
    flat, _ = warp(bgr, found.quad, (CARD_W, CARD_H))
    return flat


def has_portrait(bgr: np.ndarray, engine: FaceEngine) -> bool:
    """The card in the picture carries a face (the front's portrait)."""
    import cv2

    flat = _flat(bgr)
    return any(engine.detect(candidate) for candidate in (flat, cv2.rotate(flat, cv2.ROTATE_180)))


def looks_like_back(bgr: np.ndarray, ocr: Ocr) -> bool:
    """The card in the picture shows the back: digits where the validity period is printed."""
    import cv2

    flat = _flat(bgr)
    x, y, w, h = BACK["validity"]
    for candidate in (flat, cv2.rotate(flat, cv2.ROTATE_180)):
        text = ocr.read([Region("validity", candidate[y : y + h, x : x + w])], "eng", 7, "0123456789.-")[
            "validity"
        ].text
        if sum(c.isdigit() for c in text) >= VALIDITY_DIGITS:
            return True
    return False


def combine_sides(
    front_reasons: list[dict[str, str]], back_reasons: list[dict[str, str]]
) -> tuple[str, list[dict[str, str]]]:
    """The card's verdict and reasons once both sides are in: the front's reasons without
    the missing back, plus the back's own (validity, expiry). (code, message, field) dicts."""
    kept = [r for r in front_reasons if r["code"] != Reason.DOCUMENT_BACK_MISSING.value]
    reasons = kept + back_reasons
    hard = {r.value for r in HARD_FAILURES}
    codes = {r["code"] for r in reasons}
    verdict = "fail" if codes & hard else "review" if codes else "pass"
    return verdict, reasons
