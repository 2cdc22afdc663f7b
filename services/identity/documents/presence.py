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


DOC_ASPECT = (1.3, 1.9)  # ID-1 cards 1.585, passport data pages 1.42, held at an angle
PORTRAIT_SHARE = (0.02, 0.35)  # face box area / document area: a portrait is a small part of it
GLYPHS_BESIDE = 8  # printed characters on the document beside the portrait
OUTLINE_EDGE = 0.7  # share of the outline's perimeter that is an edge in the picture


def portrait_in_document(image: np.ndarray, face_box: Box) -> str:
    """Evidence that this face is the printed portrait of a card or passport page held in
    the frame ("" when none): a card-shaped outline, an edge along most of its perimeter,
    tightly around the face (a small part of it, wholly inside it, towards one end as
    portraits are printed) and carrying printed characters beside the face. Needs no OCR,
    so it works for any issuer's layout."""
    fx, fy, fw, fh = face_box
    h, w = image.shape[:2]
    # A card is about 6 portrait widths wide, the portrait at one end: look that far.
    x0, y0 = int(max(0, fx - 7 * fw)), int(max(0, fy - 3 * fh))
    x1, y1 = int(min(w, fx + 8 * fw)), int(min(h, fy + 4 * fh))
    region = image[y0:y1, x0:x1]
    scale = min(1.0, CARD_SEARCH_SIDE / max(region.shape[:2]))
    small = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else region
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    centre = ((fx + fw / 2 - x0) * scale, (fy + fh / 2 - y0) * scale)
    face_area = fw * fh * scale * scale
    a = np.array([fx - x0, fy - y0], np.float32) * scale
    b = np.array([fx + fw - x0, fy + fh - y0], np.float32) * scale
    corners = [
        (float(a[0]), float(a[1])),
        (float(b[0]), float(a[1])),
        (float(b[0]), float(b[1])),
        (float(a[0]), float(b[1])),
    ]
    for lo, hi in ((30, 90), (60, 160)):
        raw = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), lo, hi)
        edges = cv2.dilate(raw, np.ones((3, 3), np.uint8))
        near_edge = cv2.dilate(raw, np.ones((5, 5), np.uint8))
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in contours:
            hull = cv2.convexHull(cnt)
            area = cv2.contourArea(hull)
            if not PORTRAIT_SHARE[0] < face_area / max(area, 1.0) < PORTRAIT_SHARE[1]:
                continue
            (cx, cy), (rw, rh), _ = cv2.minAreaRect(hull)
            if min(rw, rh) < 10 or not DOC_ASPECT[0] < max(rw, rh) / min(rw, rh) < DOC_ASPECT[1]:
                continue
            if area / (rw * rh) < 0.85 or cv2.pointPolygonTest(hull, centre, False) <= 0:
                continue
            if min(cv2.pointPolygonTest(hull, p, True) for p in corners) < -0.1 * fw * scale:
                continue  # the face pokes out of the outline: a head in a door frame, not a portrait
            if np.hypot(centre[0] - cx, centre[1] - cy) < 0.12 * max(rw, rh):
                continue  # portraits sit towards one end of a card or page, not in its middle
            perimeter = np.zeros(gray.shape, np.uint8)
            cv2.polylines(perimeter, [hull.reshape(-1, 2).astype(np.int32)], True, 255, 1)
            on_edge = float((near_edge[perimeter > 0] > 0).mean())
            if on_edge < OUTLINE_EDGE:
                continue
            glyphs = _glyphs_beside(gray, hull, (a, b))
            if glyphs >= GLYPHS_BESIDE:
                return (
                    f"the face is {100 * face_area / area:.0f}% of a document-shaped outline "
                    f"(aspect {max(rw, rh) / min(rw, rh):.2f}, {100 * on_edge:.0f}% edged) "
                    f"with {glyphs} printed characters beside it"
                )
    return ""


def _glyphs_beside(gray: np.ndarray, hull: np.ndarray, face: tuple[np.ndarray, np.ndarray]) -> int:
    """Small dark character-sized blobs inside the outline and outside the face."""
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, hull.reshape(-1, 2).astype(np.int32), 255)
    (ax, ay), (bx, by) = face
    pad_x, pad_y = 0.15 * (bx - ax), 0.15 * (by - ay)
    cv2.rectangle(mask, (int(ax - pad_x), int(ay - pad_y)), (int(bx + pad_x), int(by + pad_y)), 0, -1)
    inner = cv2.erode(mask, np.ones((5, 5), np.uint8))
    ink = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 12)
    ink[inner == 0] = 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    fh = by - ay
    return sum(1 for _, _, bw, bh, n in stats[1:] if 0.04 * fh <= bh <= 0.4 * fh and bw <= 2 * bh and n >= 6)
