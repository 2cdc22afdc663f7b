"""Is this face a printed portrait? Cues that need no outline of the document around it.

`presence.portrait_in_document` finds a card or passport page by its closed outline. A
card held up in front of a wall as bright as itself, or with the seller's head over one
of its edges, has no closed outline, yet it still reads as a document: its portrait is
small next to the live face at the same distance (an ID-1 card is 86 mm wide and its
portrait's face about 20 mm, a head about 150 mm), and rows of printed characters sit
beside the portrait at a size set by the portrait (a document's name, date and number
lines are a tenth to a third of the portrait's face height). A live person standing
beside the seller has no text rows at that scale next to the face; a held code sheet's
letters are far larger than a small face's tenth. Newspapers print photos of people with
text beside them too, so the text cue alone only asks for a person; with a small face
beside a live one, it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]

SMALL_FACE = 0.55  # face width / the live face's width under this: a printed portrait's size
GLYPH_HEIGHT = (0.07, 0.38)  # printed characters beside a portrait, in face heights
ROW_GLYPHS = 3  # a text row has at least this many characters
# A second, small face: this many rows and characters beside it (genuine second faces: 0 rows).
MIN_ROWS, MIN_GLYPHS = 3, 20
# The live face itself: more (a held newspaper's headline and date rows reach 3 rows and
# 21 characters on the tests' generator; a card's name, birth, address and number rows 4+).
MAIN_ROWS, MAIN_GLYPHS = 4, 30
SMALL_IN_FRAME = 0.12  # face width / picture width under this: too small for a selfie at arm's length
WORK_FACE_HEIGHT = 72.0  # the search window is scaled so the face is this tall


Glyph = tuple[float, float, float, float]  # x, y, width, height


def glyph_rows(glyphs: list[Glyph], dy: float, height: tuple[float, float], gap: float) -> list[list[Glyph]]:
    """Glyph boxes chained left to right into rows of text: a glyph joins a row when its
    centre is within `dy` of the row's line height from the row's last glyph, its height
    within `height` times the row's, and the blank before it under `gap` line heights."""
    rows: list[list[Glyph]] = []
    for g in sorted(glyphs, key=lambda g: g[0]):
        cy = g[1] + g[3] / 2
        for row in rows:
            last = row[-1]
            lh = float(np.median([r[3] for r in row]))
            if (
                abs(cy - (last[1] + last[3] / 2)) < dy * lh
                and height[0] * lh < g[3] < height[1] * lh
                and g[0] - (last[0] + last[2]) < gap * lh
            ):
                row.append(g)
                break
        else:
            rows.append([g])
    return rows


@dataclass
class TextBeside:
    rows: int
    glyphs: int

    @property
    def printed(self) -> bool:
        """Enough text beside a second, small face to call it a printed portrait."""
        return self.rows >= MIN_ROWS and self.glyphs >= MIN_GLYPHS

    @property
    def main_face_printed(self) -> bool:
        """Enough text beside the one face in view to call it a printed portrait."""
        return self.rows >= MAIN_ROWS and self.glyphs >= MAIN_GLYPHS

    def describe(self) -> str:
        return f"{self.rows} printed text rows ({self.glyphs} characters) beside it"


def text_beside(image: np.ndarray, face_box: Box, exclude: list[Box] | None = None) -> TextBeside:
    """Rows of small dark characters on a light, unsaturated ground beside the face
    (within 5 face widths left or right, 1 face height above to 2.5 below), at the size a
    document prints next to its portrait. `exclude`: boxes to leave out (the live face)."""
    fx, fy, fw, fh = face_box
    h, w = image.shape[:2]
    x0, y0 = int(max(0, fx - 5 * fw)), int(max(0, fy - 1.0 * fh))
    x1, y1 = int(min(w, fx + 6 * fw)), int(min(h, fy + 2.5 * fh))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return TextBeside(0, 0)
    s = min(1.0, WORK_FACE_HEIGHT / max(fh, 1.0)) if fh > WORK_FACE_HEIGHT else 1.0
    region = image[y0:y1, x0:x1]
    small = cv2.resize(region, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else region
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    sat = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[:, :, 1]
    sfh = fh * s
    k = max(7, int(0.5 * sfh) | 1)  # closes characters up to half a face tall
    square = np.ones((k, k), np.uint8)  # a square kernel: OpenCV runs it as two fast 1-D passes
    ground = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, square)
    ground_sat = cv2.morphologyEx(sat, cv2.MORPH_OPEN, square)
    diff = ground.astype(np.int16) - gray.astype(np.int16)
    ink = (diff > np.maximum(30, 0.25 * ground)) & (ground > 120) & (ground_sat < 80)
    # The face itself (widened to the hair and shoulders) and the excluded boxes are not text.
    keep = np.ones(gray.shape, bool)
    for bx, by, bw, bh in [face_box, *(exclude or [])]:
        ax0, ay0 = int((bx - 0.3 * bw - x0) * s), int((by - 0.3 * bh - y0) * s)
        ax1, ay1 = int((bx + 1.3 * bw - x0) * s), int((by + 1.4 * bh - y0) * s)
        keep[max(0, ay0) : max(0, ay1), max(0, ax0) : max(0, ax1)] = False
    ink &= keep
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    lo, hi = GLYPH_HEIGHT[0] * sfh, GLYPH_HEIGHT[1] * sfh
    glyphs = [
        (float(x), float(y), float(bw), float(bh))
        for x, y, bw, bh, area in stats[1:]
        if max(3.0, lo) <= bh <= hi and bw <= 2.0 * bh and area >= 6 and area <= 0.85 * bw * bh
    ]
    rows = glyph_rows(glyphs, dy=0.4, height=(0.5, 2.0), gap=1.5)
    full = [r for r in rows if len(r) >= ROW_GLYPHS]
    return TextBeside(len(full), sum(len(r) for r in full))


def is_small_beside(face_box: Box, live_box: Box) -> bool:
    """Much smaller than the live face: the size of a printed portrait at the same distance."""
    return face_box[2] < SMALL_FACE * live_box[2]


def is_small_in_frame(image: np.ndarray, face_box: Box) -> bool:
    """A face this small in the picture is not a selfie taken at arm's length."""
    return face_box[2] < SMALL_IN_FRAME * image.shape[1]
