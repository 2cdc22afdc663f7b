"""Reading ICAO 9303 machine-readable zones by their OCR-B geometry.

An MRZ is a fixed grid: every line has exactly 44 (TD3) or 30 (TD1) characters at one
pitch, every cell is inked (the filler `<` too), in one standardised font (OCR-B, ISO
1073-2). So instead of general OCR (which reads runs of `<` as K, loses or adds fillers and
shifts every field after them), each line is cut into its N cells and every cell is
matched against OCR-B glyphs rendered from Debian's fonts-ocr-b, restricted to the
characters ICAO allows at that position (digits in dates and check digits, letters in
names). Each cell keeps its best and second-best candidate with scores, so the caller
can tell a confident read from a doubtful one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

OCRB_FONTS = ("/usr/share/fonts/opentype/ocr-b/OCRB.otf", "/usr/share/fonts/truetype/ocr-b/OCRB.ttf")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
ALNUM = ALPHABET
CELL_W, CELL_H = 24, 32  # the normalised cell: cap height -> 24 px
_CAP = 24
WEAK_LETTER = 0.7
_PAD = 8  # search margin around the expected cell, in normalised px


def _spec(fmt: str) -> list[str]:
    """The allowed characters at each position, one string per line, as class codes."""
    if fmt == "TD3":
        line1 = "LL" + "LLL" + "L" * 39
        line2 = "A" * 9 + "D" + "LLL" + "D" * 7 + "S" + "D" * 7 + "A" * 14 + "C" + "D"
        return [line1, line2]
    line1 = "LL" + "LLL" + "A" * 9 + "C" + "A" * 15
    line2 = "D" * 7 + "S" + "D" * 7 + "LLL" + "A" * 11 + "D"
    return [line1, line2, "L" * 30]


_CLASSES = {"L": LETTERS, "D": DIGITS, "A": ALNUM, "S": "MF<", "C": DIGITS + "<"}
LINE_LENGTHS = {"TD3": 44, "TD1": 30}


def font_path() -> str | None:
    """The OCR-B font file (Debian fonts-ocr-b), or None when it is not installed."""
    env = os.environ.get("SELLERVERIFY_OCRB_FONT")
    for path in ((env,) if env else ()) + OCRB_FONTS:
        if path and os.path.exists(path):
            return path
    return None


BLURS = (0.8, 1.6, 2.4, 3.2)  # template softness, in normalised px: sharp scan .. small blurred photo


@cache
def templates(sigma: float = BLURS[0]) -> dict[str, np.ndarray]:
    """Each character's normalised cell (CELL_H x CELL_W, float32), blurred like a photo."""
    path = font_path()
    if path is None:
        raise FileNotFoundError("OCR-B font not found (apt-get install fonts-ocr-b)")
    size = 60
    font = ImageFont.truetype(path, size)
    top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    size = round(size * 4 * _CAP / (bottom - top))  # render at 4x, then shrink
    font = ImageFont.truetype(path, size)
    top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    cap = bottom - top
    out = {}
    for ch in ALPHABET:
        w, h = 4 * CELL_W * 2, 4 * CELL_H * 2
        img = Image.new("L", (w, h), 255)
        adv = font.getlength(ch)
        # Centre the advance box horizontally and the cap height vertically.
        ImageDraw.Draw(img).text((w / 2 - adv / 2, h / 2 - (top + bottom) / 2), ch, font=font, fill=0)
        arr = np.asarray(img, np.float32)
        scale = _CAP / cap
        small = cv2.resize(arr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cy, cx = small.shape[0] / 2, small.shape[1] / 2
        y0, x0 = round(cy - CELL_H / 2), round(cx - CELL_W / 2)
        cell = small[y0 : y0 + CELL_H, x0 : x0 + CELL_W]
        out[ch] = cv2.GaussianBlur(cell, (0, 0), sigma)
    return out


@cache
def filler_offset() -> float:
    """How far right of its cell's centre the ink of `<` sits, in cap heights."""
    path = font_path()
    if path is None:
        return 0.0
    font = ImageFont.truetype(path, 200)
    top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    x0, _, x1, _ = font.getbbox("<")
    return ((x0 + x1) / 2 - font.getlength("<") / 2) / (bottom - top)


@dataclass
class CellRead:
    char: str
    score: float  # normalised correlation of the best glyph, -1..1
    second: str
    second_score: float
    box: tuple[float, float, float, float]  # x, y, w, h in the band's pixels


@dataclass
class LineRead:
    cells: list[CellRead]

    @property
    def text(self) -> str:
        return "".join(c.char for c in self.cells)


@dataclass
class Row:
    """One text row of an MRZ candidate: its glyph boxes in band pixels."""

    boxes: np.ndarray  # (n, 4) x, y, w, h

    @property
    def left(self) -> float:
        return float(self.boxes[:, 0].min())

    @property
    def right(self) -> float:
        return float((self.boxes[:, 0] + self.boxes[:, 2]).max())

    @property
    def centre_y(self) -> float:
        return float(np.median(self.boxes[:, 1] + self.boxes[:, 3] / 2))


def binarise(gray: np.ndarray) -> np.ndarray:
    """Ink = 255, for a band with even light or not (adaptive threshold on a flattened image)."""
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    flat = cv2.divide(gray, background, scale=255)
    _, ink = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return ink


def find_rows(gray: np.ndarray, min_chars: int = 24, min_span: float = 0.7) -> list[Row]:
    """Text rows that look like MRZ lines (many glyphs, spanning most of the width), top to bottom."""
    _h, w = gray.shape[:2]
    ink = binarise(gray)
    _n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    boxes = stats[1:, :4].astype(np.float32)
    # Glyph-sized blobs only (an MRZ glyph is 1.5-4.5% of the page width tall).
    keep = (
        (boxes[:, 3] >= 0.006 * w)
        & (boxes[:, 3] <= 0.05 * w)
        & (boxes[:, 2] <= 0.08 * w)
        & (boxes[:, 2] * boxes[:, 3] >= 6)
    )
    # Remnants of the desk along the page's left and right edges are not glyphs.
    keep &= (boxes[:, 0] > 0.012 * w) & (boxes[:, 0] + boxes[:, 2] < 0.988 * w)
    boxes = boxes[keep]
    if len(boxes) < min_chars:
        return []
    cy = boxes[:, 1] + boxes[:, 3] / 2
    order = np.argsort(cy)
    boxes, cy = boxes[order], cy[order]
    tall = float(np.percentile(boxes[:, 3], 80))
    rows: list[list[int]] = [[0]]
    for i in range(1, len(boxes)):
        if cy[i] - cy[rows[-1][-1]] > 0.45 * tall:
            rows.append([i])
        else:
            rows[-1].append(i)
    out = []
    for idx in rows:
        r = Row(boxes[idx])
        if len(idx) >= min_chars and (r.right - r.left) >= min_span * w:
            out.append(_trim(r))
    return out


def _trim(row: Row) -> Row:
    """Drop blobs far off the row's line (noise, guilloche remnants) before reading."""
    b = row.boxes
    cy = b[:, 1] + b[:, 3] / 2
    med = np.median(cy)
    cap = float(np.percentile(b[:, 3], 80))
    return Row(b[np.abs(cy - med) <= 0.6 * cap])


def read_line(gray: np.ndarray, row: Row, spec: str) -> LineRead:
    """Cut one row into len(spec) cells and match every cell against the allowed OCR-B glyphs.

    Cap height and blur come from the row's darkness profile, so a small, blurred photo is
    matched against soft glyphs at the right scale and a scan against sharp ones.
    """
    n = len(spec)
    b = row.boxes
    heights = b[:, 3]
    cap = float(np.percentile(heights, 85))
    tall = b[heights >= 0.75 * cap]
    # The row's centre line (a photo never rectifies perfectly): through all glyph centres,
    # fillers included (names leave long runs of `<` with no tall glyph), bent a little.
    xs_all = b[:, 0] + b[:, 2] / 2
    ys_all = b[:, 1] + b[:, 3] / 2
    yfit = np.array([0.0, 0.0, float(np.median(ys_all))])
    if len(b) >= 10 and np.ptp(xs_all) > 0:
        yfit = np.polyfit(xs_all, ys_all, 2)
        good = np.abs(np.polyval(yfit, xs_all) - ys_all) < 0.25 * cap
        if good.sum() >= 10:
            yfit = np.polyfit(xs_all[good], ys_all[good], 2)
    cap, blur = _cap_and_blur(gray, tall, yfit, cap)
    scale = _CAP / cap
    # The template softness from the glyphs' edge spread in normalised px.
    sigma = min(BLURS, key=lambda s: abs(s - max(BLURS[0], blur * scale)))
    candidates = _grids(b, n, cap)
    close = [c for c in candidates if c[0] >= candidates[0][0] - 3][:3]
    # And the best grid one cell either way: a stray blob at one end can shift every cell.
    for d in (-1.0, 1.0):
        shifted = np.polyval(candidates[0][1], np.arange(n) + d)
        close.append((0, np.polyfit(np.arange(n), shifted, 2)))
    if len(close) > 1:
        ends = (0, 1, n - 2, n - 1)

        def fit(c: tuple[int, np.ndarray]) -> float:
            wins = _windows(gray, np.polyval(c[1], ends), yfit, cap)
            return sum(_match(w, spec[i], sigma)[0][0] for w, i in zip(wins, ends, strict=True))

        close.sort(key=fit, reverse=True)
    xs = np.polyval(close[0][1], np.arange(n))
    pitch = float(np.median(np.diff(xs))) if n > 1 else cap
    # Each cell snaps to the glyph that sits in it: a pitch off by a fraction of a pixel
    # adds up to half a cell by the end of a 44-character line.
    # Glyphs merged by blur (`<<`) are split evenly into cells.
    blob_x = np.sort(
        np.concatenate([x + (np.arange(m) + 0.5) * w / m for x, w in b[:, [0, 2]] for m in [max(1, round(w / pitch))]])
    )
    for i in range(n):
        j = int(np.argmin(np.abs(blob_x - xs[i])))
        if abs(blob_x[j] - xs[i]) < 0.45 * pitch:
            xs[i] = blob_x[j]
    windows = _windows(gray, xs, yfit, cap)
    boxes = [(x - pitch / 2, float(np.polyval(yfit, x)) - cap / 2, pitch, cap) for x in xs]
    cells = []
    for i in range(n):
        (s1, c1), (s2, c2) = _match(windows[i], spec[i], sigma)
        if spec[i] == "L" and c2 == "<" and s1 < WEAK_LETTER:
            # A weak letter whose runner-up is the filler: in a name field that is a filler
            # caught off-centre (a letter is matched far above this).
            (s1, c1), (s2, c2) = (s2, c2), (s1, c1)
        cells.append(CellRead(c1, s1, c2, s2, boxes[i]))
    return LineRead(cells)


def _windows(gray: np.ndarray, xs: Iterable[float], yfit: np.ndarray, cap: float) -> list[np.ndarray]:
    """Normalised search windows around cells centred at xs."""
    scale = _CAP / cap
    windows = []
    for cx in xs:
        cy = float(np.polyval(yfit, cx))
        half_w = (CELL_W / 2 + _PAD) / scale
        half_h = (CELL_H / 2 + _PAD) / scale
        x0, x1 = int(np.floor(cx - half_w)), int(np.ceil(cx + half_w))
        y0, y1 = int(np.floor(cy - half_h)), int(np.ceil(cy + half_h))
        patch = _crop(gray, x0, y0, x1, y1)
        size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
        windows.append(cv2.resize(patch, size, interpolation=cv2.INTER_AREA).astype(np.float32))
    return windows


def _cap_and_blur(gray: np.ndarray, tall: np.ndarray, yfit: np.ndarray, guess: float) -> tuple[float, float]:
    """Cap height and edge blur (sigma, px) from the row's darkness profile across tall glyphs.

    Blob heights of a thresholded blurred photo overstate the glyphs; the profile's width at
    half its height does not, and its rise from 10% to 90% measures the blur.
    """
    half = round(guess)
    acc = np.zeros(2 * half + 1, np.float64)
    for x, _, w, _ in tall:
        cx = x + w / 2
        cy = round(float(np.polyval(yfit, cx)))
        patch = _crop(gray, int(x), cy - half, int(x + w), cy + half + 1).astype(np.float64)
        acc += 255.0 - patch.mean(axis=1)
    if not len(tall) or np.ptp(acc) <= 0:
        return guess, 1.0
    lo = min(acc[:3].mean(), acc[-3:].mean())
    prof = (acc - lo) / (acc.max() - lo)
    above = np.nonzero(prof >= 0.5)[0]
    if len(above) < 2:
        return guess, 1.0
    top, bottom = _cross(prof, above[0], True), _cross(prof, above[-1], False)
    cap = float(bottom - top)
    up10 = np.nonzero(prof[: above[0] + 1] < 0.1)[0]
    up90 = np.nonzero(prof >= 0.9)[0]
    rise = float(up90[0] - up10[-1]) if len(up10) and len(up90) else 2.0
    if not 0.6 * guess <= cap <= 1.3 * guess:
        cap = guess
    return cap, max(rise, 1.0) / 2.56


def _cross(prof: np.ndarray, i: int, rising: bool) -> float:
    """Sub-pixel position where the profile crosses 0.5 next to index i."""
    j = i - 1 if rising else i + 1
    if j < 0 or j >= len(prof):
        return float(i)
    a, b = prof[j], prof[i]
    t = (0.5 - a) / (b - a) if b != a else 0.5
    return float(j + t * (i - j))


def _grids(boxes: np.ndarray, n: int, cap: float) -> list[tuple[int, np.ndarray]]:
    """Candidate n-cell grids (votes, polynomial: cell index -> centre x), best first.

    Each candidate starts on one of the leftmost blobs; a blob votes when its centre sits
    on the grid. Blobs that are not glyphs (the edge of the desk, a speck) make near-ties,
    which the caller settles by how well the end cells match glyphs.
    """
    centres = boxes[:, 0] + boxes[:, 2] / 2
    # A filler `<` is not drawn in the middle of its cell: move its centre to where the cell's is,
    # or a line of mostly fillers pulls the grid's pitch off.
    short = boxes[:, 3] < 0.75 * cap
    centres = np.sort(np.where(short, centres - filler_offset() * cap, centres))
    naive = ((boxes[:, 0] + boxes[:, 2]).max() - boxes[:, 0].min()) / n
    gaps = np.diff(centres)
    plausible = gaps[(gaps > 0.6 * naive) & (gaps < 1.5 * naive)]
    pitch = float(np.median(plausible)) if len(plausible) >= 5 else naive
    out = []
    for first in centres[: min(6, len(centres))]:
        k = np.round((centres - first) / pitch)
        on = (k >= 0) & (k < n) & (np.abs(centres - (first + k * pitch)) < 0.4 * pitch)
        coeffs = np.array([0.0, pitch, float(first)])
        for _ in range(2):  # refine start and pitch on the glyphs that fit
            if on.sum() >= 10 and np.ptp(k[on]) > n / 3:
                coeffs = np.polyfit(k[on], centres[on], 2)
            grid = np.polyval(coeffs, k)
            on = (k >= 0) & (k < n) & (np.abs(centres - grid) < 0.4 * pitch)
        out.append((int(on.sum()), coeffs))
    out.sort(key=lambda c: -c[0])
    return out


def _match(win: np.ndarray, cls: str, sigma: float) -> tuple[tuple[float, str], tuple[float, str]]:
    """The best and second-best allowed glyph for one cell window."""
    tpl = templates(sigma)
    best = sorted(
        ((float(cv2.matchTemplate(win, tpl[ch], cv2.TM_CCOEFF_NORMED).max()), ch) for ch in _CLASSES[cls]),
        reverse=True,
    )
    return best[0], best[1] if len(best) > 1 else (-1.0, "")


def _crop(gray: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    h, w = gray.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, x1, y0, y1 = x0 + pad, x1 + pad, y0 + pad, y1 + pad
    return gray[y0:y1, x0:x1]


def spec(fmt: str) -> list[str]:
    """Per-line position classes for "TD3" or "TD1"."""
    return _spec(fmt)
