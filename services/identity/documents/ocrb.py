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
    cap_px: float = 0.0  # the cap height (px) the line was read at

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


def read_line(gray: np.ndarray, row: Row, spec: str, cap_px: float | None = None) -> LineRead:
    """Cut one row into len(spec) cells and match every cell against the allowed OCR-B glyphs.

    The grid (first cell, pitch, a slight bend) is fitted to all glyph blobs at once, under
    the rule that every one of the n cells is inked and nothing outside them is. Cap height
    and blur come from the row's darkness profile; the scale is then settled by which of a
    few nearby scales matches the line best, so a small, blurred photo is matched against
    soft glyphs at the right size and a scan against sharp ones. The cap height chosen is
    kept in LineRead.cap_px; given as `cap_px`, the other lines of the same zone (one print,
    one size) skip the search.
    """
    n = len(spec)
    b = row.boxes
    cap0 = float(np.percentile(b[:, 3], 85))
    yfit = _centre_line(b, cap0)
    tall = b[b[:, 3] >= 0.75 * cap0]
    cap, blur = _cap_and_blur(gray, tall, yfit, cap0)
    xs = fit_grid(b, n)
    pitch = float(np.median(np.diff(xs))) if n > 1 else cap
    allowed = np.array([[ch in _CLASSES[c] for ch in ALPHABET] for c in spec])
    # The scale: whichever of a few nearby ones matches a sample of the cells best.
    sample = np.unique(np.linspace(0, n - 1, min(n, 12)).round().astype(int))
    best_cap, best_quality = cap_px or cap, -np.inf
    for factor in SCALE_STEPS if cap_px is None else ():
        scale = _CAP / (cap * factor)
        scores = match_cells(_windows(gray, xs[sample], yfit, scale), _sigma(blur, scale))
        quality = float(np.where(allowed[sample], scores, -2.0).max(axis=1).mean())
        if quality > best_quality:
            best_cap, best_quality = cap * factor, quality
    scale = _CAP / best_cap
    scores = np.where(allowed, match_cells(_windows(gray, xs, yfit, scale), _sigma(blur, scale)), -2.0)
    order = np.argsort(-scores, axis=1)
    boxes = [(x - pitch / 2, float(np.polyval(yfit, x)) - cap / 2, pitch, cap) for x in xs]
    cells = []
    for i in range(n):
        i1, i2 = int(order[i, 0]), int(order[i, 1])
        s1, s2 = float(scores[i, i1]), float(scores[i, i2])
        c1, c2 = ALPHABET[i1], ALPHABET[i2] if s2 > -2.0 else ""
        if spec[i] == "L" and c2 == "<" and s1 < WEAK_LETTER:
            # A weak letter whose runner-up is the filler: in a name field that is a filler
            # caught off-centre (a letter is matched far above this).
            (s1, c1), (s2, c2) = (s2, c2), (s1, c1)
        cells.append(CellRead(c1, s1, c2, s2, boxes[i]))
    return LineRead(cells, best_cap)


SCALE_STEPS = (0.9, 0.96, 1.02, 1.08, 1.14)  # cap-height corrections tried per line


def _sigma(blur: float, scale: float) -> float:
    """The template softness nearest to the glyphs' edge spread in normalised px."""
    return min(BLURS, key=lambda s: abs(s - max(BLURS[0], blur * scale)))


def _centre_line(b: np.ndarray, cap: float) -> np.ndarray:
    """The row's centre line y(x), bent a little (a photo never rectifies perfectly).

    Through all glyph centres, fillers included: names leave long runs of `<` and no tall glyph.
    """
    xs_all = b[:, 0] + b[:, 2] / 2
    ys_all = b[:, 1] + b[:, 3] / 2
    yfit = np.array([0.0, 0.0, float(np.median(ys_all))])
    if len(b) >= 10 and np.ptp(xs_all) > 0:
        yfit = np.polyfit(xs_all, ys_all, 2)
        good = np.abs(np.polyval(yfit, xs_all) - ys_all) < 0.25 * cap
        if good.sum() >= 10:
            yfit = np.polyfit(xs_all[good], ys_all[good], 2)
    return yfit


def _blob_centres(b: np.ndarray, pitch: float) -> np.ndarray:
    """Glyph centres from blobs; a blob several cells wide (`<<` merged by blur) is split evenly."""
    out: list[float] = []
    for x, w in b[:, [0, 2]]:
        m = max(1, round(w / pitch - 0.6) + 1)
        glyph = w - (m - 1) * pitch
        out.extend(x + glyph / 2 + j * pitch for j in range(m))
    return np.sort(np.asarray(out, np.float64))


def fit_grid(b: np.ndarray, n: int) -> np.ndarray:
    """The x centres of the n cells of a row whose glyph blobs are `b` (x, y, w, h).

    Exhaustive over pitch and start: a grid scores one per cell that holds a blob centre and
    loses one per blob left outside it, so a grid one cell off (one empty cell, one blob
    out) always loses to the right one; then a least-squares fit on the blobs it explains.
    """
    naive = float((b[:, 0] + b[:, 2]).max() - b[:, 0].min()) / (n - 0.4)
    c = _blob_centres(b, naive)
    pitches = naive * np.linspace(0.94, 1.06, 31)
    starts = np.arange(c.min() - 1.5 * naive, c.min() + 2.5 * naive, 1.0)
    p = np.repeat(pitches, len(starts))[:, None]
    x0 = np.tile(starts, len(pitches))[:, None]
    k = np.round((c[None, :] - x0) / p)
    d = np.abs(c[None, :] - (x0 + k * p)) / p
    inside = (k >= 0) & (k < n)
    good = inside & (d < 0.3)
    hits = np.zeros((len(p), n), bool)
    ci, bi = np.nonzero(good)
    hits[ci, k[ci, bi].astype(int)] = True
    score = hits.sum(1) - (~inside).sum(1) - (d * good).sum(1) / n
    j = int(np.argmax(score))
    kj, gj = k[j], good[j]
    coeffs = np.array([0.0, float(p[j, 0]), float(x0[j, 0])])
    for _ in range(2):
        if gj.sum() >= 6:
            deg = 2 if gj.sum() >= 15 and np.ptp(kj[gj]) > n / 2 else 1
            coeffs = np.polyfit(kj[gj], c[gj], deg)
            if deg == 1:
                coeffs = np.concatenate([[0.0], coeffs])
        grid = np.polyval(coeffs, kj)
        pitch = float(coeffs[1] + coeffs[0] * n)
        gj = (kj >= 0) & (kj < n) & (np.abs(c - grid) < 0.3 * abs(pitch))
    return np.polyval(coeffs, np.arange(n, dtype=np.float64))


_PAD_X, _PAD_Y = 4, 4  # search margin around each cell once the grid is fitted, normalised px


def _windows(gray: np.ndarray, xs: Iterable[float], yfit: np.ndarray, scale: float) -> np.ndarray:
    """Normalised search windows (n, CELL_H + 2 pad, CELL_W + 2 pad) around cells centred at xs."""
    xs = np.asarray(list(xs), np.float64)
    ys = np.polyval(yfit, xs)
    h = gray.shape[0]
    margin = (CELL_H / 2 + _PAD_Y + 2) / scale
    y0 = max(0, int(np.floor(ys.min() - margin)))
    y1 = min(h, int(np.ceil(ys.max() + margin)))
    strip = cv2.resize(gray[y0:y1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    size = (CELL_W + 2 * _PAD_X, CELL_H + 2 * _PAD_Y)
    out = np.empty((len(xs), size[1], size[0]), np.float32)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        # The cell's centre in strip pixels (pixel centres at +0.5 in both grids).
        centre = ((x + 0.5) * scale - 0.5, (y - y0 + 0.5) * scale - 0.5)
        out[i] = cv2.getRectSubPix(strip, size, centre, patchType=cv2.CV_32F)
    return out


@cache
def _template_matrix(sigma: float) -> np.ndarray:
    """All glyphs of ALPHABET as zero-mean unit-norm rows (len(ALPHABET), CELL_H * CELL_W)."""
    tpl = templates(sigma)
    m = np.stack([tpl[ch].ravel() for ch in ALPHABET]).astype(np.float32)
    m -= m.mean(axis=1, keepdims=True)
    m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-6
    return m


def match_cells(windows: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised correlation (n, len(ALPHABET)) of every window with every glyph, best shift each.

    The same measure as cv2.TM_CCOEFF_NORMED, for all cells, shifts and glyphs in one product.
    """
    n, wh, ww = windows.shape
    views = np.lib.stride_tricks.sliding_window_view(windows, (CELL_H, CELL_W), axis=(1, 2))
    sy, sx = views.shape[1], views.shape[2]
    shifts = sy * sx
    # The templates are zero-mean, so the patch mean drops out of the numerator; the patch
    # norms come from integral images instead of per-patch arithmetic.
    patches = np.ascontiguousarray(views.reshape(n * shifts, CELL_H * CELL_W))
    # OpenCV's product: numpy's BLAS spreads this small product over threads that spin on a
    # shared 2-core machine (about twice the CPU time for the same result).
    numerator = cv2.gemm(patches, _template_matrix(sigma), 1.0, None, 0.0, flags=cv2.GEMM_2_T)  # type: ignore[call-overload]
    area = CELL_H * CELL_W
    w64 = windows.astype(np.float64)
    sums = []
    for a in (w64, w64 * w64):
        ii = np.zeros((n, wh + 1, ww + 1))
        ii[:, 1:, 1:] = a.cumsum(axis=1).cumsum(axis=2)
        sums.append(ii[:, CELL_H:, CELL_W:] - ii[:, :sy, CELL_W:] - ii[:, CELL_H:, :sx] + ii[:, :sy, :sx])
    var = np.maximum(sums[1] - sums[0] ** 2 / area, 0.0).reshape(n * shifts, 1)
    scores = numerator / (np.sqrt(var) + 1e-3).astype(np.float32)
    return scores.reshape(n, shifts, -1).max(axis=1)


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
