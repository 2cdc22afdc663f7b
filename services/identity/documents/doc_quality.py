"""The image-quality gate before OCR: problems the seller can fix get an actionable error."""

from __future__ import annotations

import cv2
import numpy as np

from services.core.errors import invalid
from services.core.reasons import Reason
from services.identity.documents.rectify import Found, find_document, keeps_aspect, warp

MIN_DOC_WIDTH_PX = 420  # the card's long side in the photo
MIN_SHARPNESS = 18.0
GLARE_FRACTION = 0.15


def gate(bgr: np.ndarray, side: str, aspect: float | None = None, shape_search: bool = True) -> Found:
    """The document outline, or an INVALID_ARGUMENT error saying what to change.

    `aspect` is the document's long side over its short side (an ID card's 1.585): with
    it, an outline that reaches the picture's border but keeps those proportions (a
    screenshot or scan with no side margin) is the whole document, not a cut-off one.
    `shape_search`: the finder also uses `aspect` to look harder (rectify.find_document;
    tuned on Chinese ID cards). The MRZ reader keeps the plain finder it was measured on
    (with it, 3 of 8 clean full-frame TD1 cards lost their PASS on seed 314)."""
    found = find_document(bgr, aspect=aspect if shape_search else None)
    if found is None:
        raise invalid(
            Reason.NO_DOCUMENT_FOUND,
            f"no document found in the {side} photo: lay the card on a plain dark surface and fill the picture",
            side,
        )
    if found.touches_border and not _whole(found, aspect):
        raise invalid(
            Reason.DOCUMENT_CUT_OFF, f"the card is cut off in the {side} photo: keep all four corners in view", side
        )
    long_side = max(np.linalg.norm(found.quad[1] - found.quad[0]), np.linalg.norm(found.quad[2] - found.quad[1]))
    if long_side < MIN_DOC_WIDTH_PX:
        raise invalid(
            Reason.IMAGE_TOO_SMALL,
            f"the card is only {long_side:.0f} px wide in the {side} photo (at least {MIN_DOC_WIDTH_PX}); move closer",
            side,
        )
    flat, _ = warp(bgr, found.quad, (856, 540), share=True)  # what the ID card reader reads
    gray = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY)
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    if sharpness < MIN_SHARPNESS:
        raise invalid(Reason.IMAGE_TOO_BLURRY, f"the {side} photo is too blurred to read: hold still and focus", side)
    return found


def _whole(found: Found, aspect: float | None) -> bool:
    """An outline on the picture's border is the whole document when it has the document's
    proportions; without a known aspect it is taken as cut off."""
    return aspect is not None and keeps_aspect(found.quad, aspect)


def _sides_touched(found: Found, shape: tuple[int, ...], margin: float = 3.0) -> int:
    h, w = shape[:2]
    q = found.quad
    return int(
        bool((q[:, 0] <= margin).any())
        + bool((q[:, 1] <= margin).any())
        + bool((q[:, 0] >= w - 1 - margin).any())
        + bool((q[:, 1] >= h - 1 - margin).any())
    )


def check_glare(card: np.ndarray, boxes: dict[str, tuple[int, int, int, int]], side: str) -> None:
    """A field whose print has been washed out by a reflection: near-white and without ink."""
    gray = cv2.cvtColor(card, cv2.COLOR_BGR2GRAY)
    for name, (x, y, w, h) in boxes.items():
        region = gray[y : y + h, x : x + w]
        saturated = float((region >= 250).mean())
        ink = float(np.percentile(region, 3))
        if saturated > GLARE_FRACTION and ink > 160:
            raise invalid(
                Reason.GLARE_ON_FIELD,
                f"a reflection covers the {name.replace('_', ' ')} on the {side} of the card: "
                "tilt the card or move away from the light",
                side,
            )
