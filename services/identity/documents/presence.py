"""Is there a document in this picture, and is this face a document's portrait?

Newcomers send the wrong picture: a selfie as the ID card, the ID card as the selfie, the
back as the front. These checks turn such mistakes into an answer that says so, instead
of a misleading "cut off" or, worse, a face match against a printed portrait.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from services.identity.documents.cn_layout import CARD_H, CARD_W, FRONT
from services.identity.documents.ocr import Reading, Region
from services.identity.documents.rectify import find_document, warp

# A face this large in the picture is a selfie, not a document's portrait: a portrait
# fills at most ~5% of a full-frame card, passport page or TD1 card (measured on the
# generators' layouts: 3.1-5.0%), a phone selfie typically 6-30%.
SELFIE_FACE_AREA = 0.08
CARD_SEARCH_SIDE = 480  # a card held up to the camera is searched for on a picture this size
CARD_ASPECT = (1.4, 1.8)  # ID-1 cards are 85.6 x 54 mm (1.585)
NUMBER_DIGITS = 15  # a citizen-number line read with at least this many digits


class Ocr(Protocol):
    def read(self, regions: list[Region], lang: str, psm: int, whitelist: str | None = None) -> dict[str, Reading]: ...


Box = tuple[float, float, float, float]


def face_area_fraction(image: np.ndarray, face_box: Box) -> float:
    h, w = image.shape[:2]
    return float(face_box[2] * face_box[3]) / float(max(1, h * w))


def is_selfie(image: np.ndarray, face_box: Box | None) -> bool:
    """A face this dominant means the picture is of a person, not of a document."""
    return face_box is not None and face_area_fraction(image, face_box) >= SELFIE_FACE_AREA


def _has_number_line(flat: np.ndarray, ocr: Ocr) -> bool:
    x, y, w, h = FRONT["citizen_number"]
    for candidate in (flat, cv2.rotate(flat, cv2.ROTATE_180)):
        text = ocr.read([Region("number", candidate[y : y + h, x : x + w])], "eng", 7, "0123456789X")["number"].text
        if sum(c.isdigit() for c in text) >= NUMBER_DIGITS:
            return True
    return False


def portrait_of_card(image: np.ndarray, face_box: Box, ocr: Ocr) -> bool:
    """The face is the portrait of an ID card: a card-shaped quadrilateral around it (or
    the whole picture, for a card that fills the frame) that, flattened, carries a
    citizen-number line. Costs one or two one-line OCR calls when a card shape is found."""
    h, w = image.shape[:2]
    scale = min(1.0, CARD_SEARCH_SIDE / max(h, w))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    card = find_document(small)
    fx, fy, fw, fh = face_box
    if card is not None and 0.04 < card.area_fraction < 0.9:
        q = (card.quad / scale).astype(np.float32)
        long_side = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1])))
        short_side = float(min(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1])))
        inside = cv2.pointPolygonTest(q.reshape(-1, 1, 2), (fx + fw / 2, fy + fh / 2), False) > 0
        if inside and CARD_ASPECT[0] < long_side / max(short_side, 1.0) < CARD_ASPECT[1]:
            flat, _ = warp(image, q, (CARD_W, CARD_H))
            if _has_number_line(flat, ocr):
                return True
    # A card that fills the frame (a scan or a screenshot): the picture is card-shaped.
    if CARD_ASPECT[0] < max(h, w) / max(1, min(h, w)) < CARD_ASPECT[1]:
        flat = cv2.resize(image if w >= h else cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), (CARD_W, CARD_H))
        if _has_number_line(flat, ocr):
            return True
    return False
