"""Is the held "paper" paper? A code shown on a phone or tablet screen instead of a sheet.

Measured on the region where the code (or date) was found, at the picture's own
resolution (sub-pixel fringes and moire are a few pixels wide, and a flattening that
enlarges the region would smooth them away), on its blank part only: the sheet between
its margins and its text lines. Signals:
- ripple: fine brightness texture of the blank part, relative to its brightness. Paper is
  smooth under the camera's noise; a screen's pixel grid, sampled by the camera, leaves a
  moire of bright and dark bands or a fine lattice even where it shows white.
- fringes: fine colour texture of the blank part (opponent chroma band-passed). A paper's
  white has no colour detail; a screen's R, G, B sub-pixels leave coloured fringes.
- no blank paper: a sheet holding a code is mostly blank; when nearly every pixel of the
  region is marked as ink (a strong moire), there is no paper to judge, worth review.
- bezel: a dark, uniform band hugging the bright region on its sides (a phone's or a
  tablet's body). A sheet held in front of dark clothes has a dark surround too, but not
  a uniform one on every side (the neck, the hand, the room). Alone it stays under the
  review line: it adds to another sign.
- framed: the scene is bright again just beyond that dark band on two or more sides, so
  the band is a thin object around the region: a device's body (fail on three or four
  sides; two sides are a hint under review that adds to another sign: one genuine
  newspaper of bench seed 4 had two). Dark clothes or a dark room continue outwards.
- the judged region is the tightest around the code: when the found "paper" holds a
  smaller bright quadrilateral carrying the whole code line (a phone before a bright
  wall taken for the sheet), that one is judged too (checker._nested_sheet).
Each is normalised to 0 (the highest value of genuine sheets in the calibration set) ..
2 and the score is the strongest plus half of the next one: two weak signs together
reach review. Calibrated on the tests' generator (genuine sheets and newspapers,
tests/attackgen; phones from tests/attackgen/presentation.phone_with_code), seed 1 of
bench/liveness.py; the independent renderer (bench/attacks2) was never tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

REVIEW_AT = 0.5
FAIL_AT = 1.0
RIPPLE_FLOOR = 0.6  # % of the sheet's brightness: band-passed luminance spread on blank paper (genuine <= 0.59)
RIPPLE_SPAN = 1.5
FRINGE_FLOOR = 1.3  # grey levels: band-passed chroma spread on blank paper (genuine <= 1.04)
FRINGE_SPAN = 2.0
BEZEL_DARK = 0.25  # a side's band is "dark" under this fraction of the sheet's brightness
BEZEL_STD = 8.0  # ... and uniform: its spread (grey levels) under this
BEZEL_MAX = 0.45  # under REVIEW_AT: a dark even surround needs a second sign (seed 1: sheets before dark walls)
FRAMED_2, FRAMED_3 = 0.45, 1.0  # two framed sides: a hint under review; three or four: fail
FRAME_STEP = 0.15  # the scene beyond a dark side this much (of the sheet's brightness) brighter: a thin frame
PRINTED_MARK = 0.85  # darker than this fraction of the paper around it: a printed mark, not blank
MIN_BLANK_PX = 400  # fewer blank pixels than this: nothing to judge
MIN_BLANK_SHARE = 0.03  # a sheet holding a code is mostly blank; under this share, the "white" is not white
NO_BLANK = 0.6  # ... which alone is worth review (a strong moire marks every pixel as ink)

Quad = np.ndarray  # (4, 2) float32: top-left, top-right, bottom-right, bottom-left


@dataclass
class MediumResult:
    score: float
    verdict: str  # pass / review / fail
    signals: dict[str, float] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in self.signals.items())
        return f"screen {self.score:.2f} (review at {REVIEW_AT}, fail at {FAIL_AT}): {parts}"


def quad_of_box(box: tuple[int, int, int, int]) -> Quad:
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def _native(bgr: np.ndarray, quad: Quad, margin: float) -> tuple[np.ndarray, int, int, int]:
    """The region flattened at about its own resolution (never enlarged), with a band of
    `margin` x its short side around it: (picture, inner x0, inner y0, band px)."""
    tl, tr, br, bl = quad.astype(np.float32)
    w = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    s = min(1.0, 900 / max(w, h, 1.0))  # a whole-frame region of a 4,000 px photo: bounded work
    iw, ih = max(8, int(w * s)), max(8, int(h * s))
    b = max(3, int(margin * min(iw, ih)))
    dst = np.array([[b, b], [b + iw, b], [b + iw, b + ih], [b, b + ih]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    out = cv2.warpPerspective(bgr, m, (iw + 2 * b, ih + 2 * b), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out, iw, ih, b


def _blank(gray: np.ndarray) -> np.ndarray:
    """Mask of the sheet's blank part: inside 8% margins, away from dark ink and from the
    lighter marks printed on real paper (a notebook's ruled lines, a newspaper's grey body
    text: 15 % or more darker than the paper around them). Those are drawn, not emitted,
    and their edges would read as a screen's fine texture. A screen's moire and sub-pixel
    lattice are fainter than that on white, so they stay in the blank part; where they are
    strong enough to be marked, the blank share collapses (NO_BLANK)."""
    h, w = gray.shape
    mask = np.zeros((h, w), bool)
    my, mx = max(2, int(0.08 * h)), max(2, int(0.08 * w))
    mask[my : h - my, mx : w - mx] = True
    k = max(5, (min(h, w) // 8) | 1)
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)).astype(np.float32)
    ink = gray.astype(np.float32) < 0.6 * background
    blank = mask & ~(cv2.dilate(ink.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
    marks = gray.astype(np.float32) < PRINTED_MARK * background
    unmarked = blank & ~(cv2.dilate(marks.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    # Where light marks cover nearly everything, they are no print on paper but a texture
    # all over (a strong moire): judge the ink-free part as it is.
    if unmarked.sum() < max(MIN_BLANK_PX, 0.5 * blank.sum()):
        return blank
    return unmarked


def _spread(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (outliers ignored)."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def assess(bgr: np.ndarray, quad: Quad) -> MediumResult:
    """How screen-like the region holding the code is."""
    region, iw, ih, b = _native(bgr, quad, 0.24)
    inner = region[b : b + ih, b : b + iw]
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    blank = _blank(gray)
    signals: dict[str, float] = {"blank_px": float(blank.sum())}
    ripple = fringes = bezel = 0.0
    bright = float(np.median(gray[blank])) if blank.sum() >= MIN_BLANK_PX else float(np.percentile(gray, 75))
    if blank.sum() >= MIN_BLANK_PX:
        f = inner.astype(np.float32)
        luma = gray.astype(np.float32)

        def band(ch: np.ndarray) -> float:
            return _spread((cv2.GaussianBlur(ch, (0, 0), 0.7) - cv2.GaussianBlur(ch, (0, 0), 3.0))[blank])

        ripple = 100 * band(luma) / max(bright, 1.0)
        rb = f[:, :, 2] - f[:, :, 0]
        gm = f[:, :, 1] - (f[:, :, 2] + f[:, :, 0]) / 2
        fringes = float(np.hypot(band(rb), band(gm)))
    # The band outside each side: a phone's body is dark and even all along.
    full = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # The band starts a little off the outline: a found outline is a few pixels off.
    u = max(3, b // 2)  # 12% of the region's short side
    t, gap = max(3, int(0.6 * u)), max(1, int(0.2 * u))
    sides = [
        full[b - t : b - gap, b : b + iw],
        full[b + ih + gap : b + ih + t, b : b + iw],
        full[b : b + ih, b - t : b - gap],
        full[b : b + ih, b + iw + gap : b + iw + t],
    ]
    dark_even = [float(np.median(s)) < BEZEL_DARK * bright and _spread(s.ravel()) < BEZEL_STD for s in sides if s.size]
    bezel = sum(dark_even) / 4.0
    # A device's body is a thin dark frame: beyond it the scene is brighter again (a wall,
    # a hand, a shirt). A sheet before dark clothes has dark all the way out.
    outer = [
        full[max(0, b - 3 * t) : b - 2 * t, b : b + iw],
        full[b + ih + 2 * t : b + ih + 3 * t, b : b + iw],
        full[b : b + ih, max(0, b - 3 * t) : b - 2 * t],
        full[b : b + ih, b + iw + 2 * t : b + iw + 3 * t],
    ]
    framed = sum(
        1
        for s, o, de in zip(sides, outer, dark_even, strict=False)
        if de and o.size and float(np.median(o)) > float(np.median(s)) + FRAME_STEP * bright
    )
    share = float(blank.sum()) / max(1, iw * ih)
    signals.update(ripple=ripple, fringes=fringes, bezel=bezel, framed=framed, brightness=bright, blank_share=share)
    parts = sorted(
        [
            float(np.clip((ripple - RIPPLE_FLOOR) / RIPPLE_SPAN, 0.0, 2.0)),
            float(np.clip((fringes - FRINGE_FLOOR) / FRINGE_SPAN, 0.0, 2.0)),
            # Three or four even dark sides: a body around a screen. Alone it stays under
            # review (a sheet before a black, evenly lit wall has one too).
            BEZEL_MAX * max(0.0, (bezel - 0.5) * 2.0),
            # A thin dark frame with the scene bright again beyond it, on several sides: a
            # device's body (genuine sheets: at most two such sides, on seeds 1, 4 and 7).
            FRAMED_3 if framed >= 3 else FRAMED_2 if framed >= 2 else 0.0,
            NO_BLANK if share < MIN_BLANK_SHARE else 0.0,
        ],
        reverse=True,
    )
    score = parts[0] + 0.5 * parts[1]
    verdict = "fail" if score >= FAIL_AT else "review" if score >= REVIEW_AT else "pass"
    return MediumResult(score, verdict, signals)
