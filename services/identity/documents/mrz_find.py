"""Finding a machine-readable zone without the document's outline.

When the outline finder sees no page (a light page on a busy surface, a phone photo whose
edges melt into the background, a screenshot without margins), the MRZ itself still shows:
two or three long rows of evenly spaced glyphs of one size, parallel, with the same left and
right ends. ICAO 9303 fixes where those rows sit on the page (mrz_layout), so the rows give
the page: their length is 44 or 30 character pitches, their left end is MRZ_LEFT from the
page's edge, their centres are MRZ_LINE_CENTRES from its top. The page outline derived that
way is handed to the usual zone reader, which tries both ways up and checks every glyph.

Rows are searched at a few rotations (a photo turned by a multiple of 90 degrees plus a
tilt): on the rotated picture, dark print is enhanced (black-hat), glyphs of a row are joined
by a wide, one-pixel-high closing, and long thin blobs of equal extent are grouped.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from services.identity.documents.mrz_layout import MRZ_LEFT, MRZ_LINE_CENTRES, PITCH, TD1_H, TD1_W, TD3_H, TD3_W

_WORK_SIDES = (1000, 640)  # px: the picture is searched at most this long
_ANGLES = (0.0, 90.0)  # then levelled by the rows' own tilt
_CHARS = {"TD3": 44, "TD1": 30}
_SIZE = {"TD3": (TD3_W, TD3_H), "TD1": (TD1_W, TD1_H)}
Box = tuple[float, float, float, float]


def _joined(gray: np.ndarray) -> np.ndarray:
    """Dark print enhanced (black-hat) and each row's glyphs joined into one blob."""
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 9)))
    _, ink = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    joined = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, 13), np.uint8))
    return cv2.morphologyEx(joined, cv2.MORPH_OPEN, np.ones((3, 9), np.uint8))


def _skews(gray: np.ndarray) -> list[float]:
    """Tilts (degrees, counter-clockwise positive as cv2 rotates) that level the picture's long
    text rows, most print first: the peaks of its long blobs' slopes, weighted by length. A
    document tilted on a printed page shows two: the page's and its own."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(_joined(gray), connectivity=8)
    angles, weights = [], []
    for i in range(1, n):
        x, y, w, h, _ = (int(v) for v in stats[i])
        if w >= 80 and w >= 4 * h:
            ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
            if len(xs) > 50:
                slope = float(np.polyfit(xs.astype(np.float64), ys.astype(np.float64), 1)[0])
                angles.append(float(np.degrees(np.arctan(slope))))
                weights.append(float(w))
    if not angles:
        return [0.0]
    hist, edges = np.histogram(angles, bins=np.arange(-22.5, 23.0, 1.0), weights=weights)
    peaks: list[float] = []
    for b in np.argsort(hist)[::-1]:
        if hist[b] <= 0 or len(peaks) == 3:
            break
        centre = float(np.average([a for a in angles if edges[b] <= a < edges[b + 1]] or [edges[b] + 0.5]))
        if all(abs(centre - p) > 1.5 for p in peaks):
            peaks.append(centre)
    return peaks or [0.0]


def _rows_at(gray: np.ndarray) -> list[Box]:
    """Long thin blobs of joined dark glyphs: (x0, y0, x1, y1) in `gray`'s pixels."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(_joined(gray), connectivity=8)
    pieces = []
    for i in range(1, n):
        x, y, w, h, area = (float(v) for v in stats[i])
        if w >= 3 * h and 5 <= h <= 40 and area >= 0.35 * w * h:
            pieces.append((x, y, x + w, y + h))
    # A row broken at a faint run of fillers is one row: join pieces on one line, close by.
    pieces.sort()
    rows: list[Box] = []
    for p in pieces:
        for i, r in enumerate(rows):
            overlap = min(r[3], p[3]) - max(r[1], p[1])
            if overlap >= 0.5 * min(r[3] - r[1], p[3] - p[1]) and p[0] - r[2] <= 2.5 * (p[3] - p[1]):
                rows[i] = (r[0], min(r[1], p[1]), max(r[2], p[2]), max(r[3], p[3]))
                break
        else:
            rows.append(p)
    return [r for r in rows if r[2] - r[0] >= 120 and r[2] - r[0] >= 12 * (r[3] - r[1])]


def _follows(last: Box, r: Box, want_gap: float) -> bool:
    """Whether row `r` is the next MRZ row after `last`: same ends, ICAO line spacing."""
    width = last[2] - last[0]
    gap = ((r[1] + r[3]) - (last[1] + last[3])) / 2
    return (
        abs(r[0] - last[0]) <= 0.04 * width
        and abs(r[2] - last[2]) <= 0.06 * width
        and abs(gap / width - want_gap) <= 0.3 * want_gap
    )


def _groups(rows: list[Box]) -> list[tuple[str, list[Box]]]:
    """Sets of exactly 3 (TD1) or 2 (TD3) rows with the same ends, evenly spaced as ICAO spaces
    them; best first. A run of more such rows is a printed page's text, not a zone."""
    rows = sorted(rows, key=lambda r: r[1])
    found: list[tuple[float, str, list[Box]]] = []
    for fmt, k in (("TD1", 3), ("TD3", 2)):
        centres = MRZ_LINE_CENTRES[fmt]
        want_gap = (centres[1] - centres[0]) / (_CHARS[fmt] * PITCH)  # line spacing / row length
        want_ratio = _CHARS[fmt] * PITCH / 24.0  # row length / cap height
        for i in range(len(rows)):
            if any(_follows(r, rows[i], want_gap) for r in rows[:i]):
                continue  # not the first row of its run
            group = [rows[i]]
            for r in rows[i + 1 :]:
                if _follows(group[-1], r, want_gap):
                    group.append(r)
            if len(group) != k:
                continue
            # Rank: rows as long for their height as OCR-B lines of that many characters first
            # (a tilt makes a row's box taller; the zone reader and the check digits decide).
            ratios = [(r[2] - r[0]) / max(1.0, r[3] - r[1]) for r in group]
            found.append((float(np.mean([abs(np.log(q / want_ratio)) for q in ratios])), fmt, group))
    return [(fmt, group) for _, fmt, group in sorted(found, key=lambda f: f[0])]


def _page_quad(fmt: str, group: list[tuple[float, float, float, float]]) -> np.ndarray:
    """The page's corners (TL, TR, BR, BL) in the rotated picture, from its MRZ rows."""
    left = float(np.median([r[0] for r in group]))
    right = float(np.median([r[2] for r in group]))
    # The rows span the glyphs, about a pitch short of the cells' full extent.
    pitch = (right - left) / (_CHARS[fmt] - 0.35)
    k = pitch / PITCH  # picture px per canonical px
    top_row_centre = (group[0][1] + group[0][3]) / 2
    w, h = _SIZE[fmt]
    x0 = left - (MRZ_LEFT[fmt] + 0.18 * PITCH) * k
    y0 = top_row_centre - MRZ_LINE_CENTRES[fmt][0] * k
    return np.array([[x0, y0], [x0 + w * k, y0], [x0 + w * k, y0 + h * k], [x0, y0 + h * k]], np.float32)


def _turned(small: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """`small` rotated by `angle` degrees on a canvas that holds all of it, the matrix, the size."""
    sh, sw = small.shape[:2]
    rot = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, 1.0)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    bw, bh = int(sh * sin + sw * cos), int(sh * cos + sw * sin)
    rot[0, 2] += bw / 2 - sw / 2
    rot[1, 2] += bh / 2 - sh / 2
    return cv2.warpAffine(small, rot, (bw, bh), flags=cv2.INTER_LINEAR, borderValue=255), rot, bw, bh


def candidate_quads(bgr: np.ndarray, fmts: tuple[str, ...]) -> Iterator[tuple[str, np.ndarray]]:
    """Page outlines (in `bgr`'s pixels) implied by MRZ-like rows, most plausible first, made
    lazily: the caller stops at the first whose reading satisfies the check digits."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    for side in _WORK_SIDES:  # the kernels suit a range of glyph sizes: two scales cover photos
        yield from _candidates(gray, fmts, side)


def _candidates(gray: np.ndarray, fmts: tuple[str, ...], work_side: int) -> Iterator[tuple[str, np.ndarray]]:
    h, w = gray.shape[:2]
    s = min(1.0, work_side / max(h, w))
    small = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else gray
    for base in _ANGLES:
        for tilt in _skews(_turned(small, base)[0]):
            turned, rot, bw, bh = _turned(small, base + tilt)
            back = cv2.invertAffineTransform(rot)
            for fmt, group in _groups(_rows_at(turned)):
                if fmt not in fmts:
                    continue
                # The page upright (MRZ at its bottom) or upside down (the same rows seen from
                # the other end: the page lies above them either way in its own frame).
                flipped = sorted(((bw - x1, bh - y1, bw - x0, bh - y0) for x0, y0, x1, y1 in group), key=lambda r: r[1])
                for quad in (_page_quad(fmt, group), np.array([bw, bh], np.float32) - _page_quad(fmt, flipped)):
                    pts = np.hstack([quad, np.ones((4, 1), np.float32)]) @ back.T / s
                    yield fmt, pts.astype(np.float32)
