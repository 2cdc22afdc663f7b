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
- body: on three or four sides a dark, even band that ends, within a bezel's width, at
  an outer edge parallel to the side, whether the scene beyond is brighter or darker
  (a black phone before a black shirt still has an edge, a shirt shading off has none).
- tint: a light region whose white has a colour of its own (a screen's white point): a
  hint under review that adds to another sign (pastel papers exist).
- the ripple is judged over tiles of the blank part (a low quantile of the tiles'
  spreads): a screen's grid is everywhere on it, a newspaper's fine print in its columns.
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
TILE_GRID = 6  # the blank part is judged in up to 6 x 6 tiles ...
TILE_QUANTILE = 0.25  # ... and a screen's texture is in most of them
SPREAD_SAMPLES = 20000  # robust spreads and the tint are estimated on at most this many pixels
MARGIN = 0.4  # the band around the region that is looked at, x its short side
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
TINT_MIN, TINT_MAX = 10.5, 25.0  # CIELAB chroma of a tinted white (white sheets of both renderers <= 8.6)
TINT_BRIGHT = 180.0  # ... only for a light region (kraft paper is darker, sticky notes far more saturated)
TINT_PART = 0.45  # under REVIEW_AT: a hint that adds to another sign
BODY_START = 0.1  # the band starts within this share of the short side (a found outline may sit inside the screen)
BODY_DEPTH = 0.35  # a device's body around the screen is at most this share of the screen's short side
BODY_STRAIGHT = 0.02  # ... and its outer edge is straight: the thirds of a side end on one line within this
BODY_ASKEW = 0.08  # ... and nearly parallel to the region's side (the found outline may sit a little askew)
BODY_LEVEL_TOL = 10.0  # grey levels: the thirds of a side's band agree on its darkness

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


def _native(bgr: np.ndarray, quad: Quad, margin: float) -> tuple[np.ndarray, int, int, int, np.ndarray]:
    """The region flattened at about its own resolution (never enlarged), with a band of
    `margin` x its short side around it: (picture, inner width, inner height, band px,
    mask of the pixels that lie inside the photo)."""
    tl, tr, br, bl = quad.astype(np.float32)
    w = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    s = min(1.0, 900 / max(w, h, 1.0))  # a whole-frame region of a 4,000 px photo: bounded work
    iw, ih = max(8, int(w * s)), max(8, int(h * s))
    b = max(3, int(margin * min(iw, ih)))
    dst = np.array([[b, b], [b + iw, b], [b + iw, b + ih], [b, b + ih]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    size = (iw + 2 * b, ih + 2 * b)
    out = cv2.warpPerspective(bgr, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # Where the photo itself is (outside it the warp reflects): its outline, mapped.
    ph, pw = bgr.shape[:2]
    outline = cv2.perspectiveTransform(np.array([[[0, 0], [pw, 0], [pw, ph], [0, ph]]], np.float32), m)[0]
    seen = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillConvexPoly(seen, np.round(outline).astype(np.int32), 1)
    return out, iw, ih, b, seen > 0


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


def _body_sides(full: np.ndarray, seen: np.ndarray, b: int, iw: int, ih: int, bright: float) -> int:
    """Sides of the region along which a device's body runs: a dark, even band starting
    at the region's edge and ending, within a bezel's width, at an outer edge parallel to
    it (the scene beyond brighter or darker: a hand, a shirt, a wall). Measured on the
    median profile outwards of each third of the side; the thirds must agree on the band's
    level and on where it ends. A sheet before dark clothes or a dark room has a dark band
    that does not end, or ends at different distances along the side (folds, an arm)."""
    s = min(iw, ih)
    depth = min(b, int(BODY_DEPTH * s))
    if depth < 8:
        return 0
    count = 0
    for side in range(4):
        # Offsets outwards (axis 0) x positions along the side (axis 1), the ends left out.
        if side == 0:
            strip, ok = full[b - depth : b][::-1, b : b + iw], seen[b - depth : b][::-1, b : b + iw]
        elif side == 1:
            strip, ok = full[b + ih : b + ih + depth, b : b + iw], seen[b + ih : b + ih + depth, b : b + iw]
        elif side == 2:
            strip, ok = full[b : b + ih, b - depth : b][:, ::-1].T, seen[b : b + ih, b - depth : b][:, ::-1].T
        else:
            strip, ok = full[b : b + ih, b + iw : b + iw + depth].T, seen[b : b + ih, b + iw : b + iw + depth].T
        n = strip.shape[1]
        if n < 12 or float(ok.mean()) < 0.95:  # the band runs out of the picture: not judged
            continue
        thirds = [strip[:, int(n * (0.1 + 0.27 * k)) : int(n * (0.37 + 0.27 * k))] for k in range(3)]
        ends = [_band_end(np.median(t, axis=1), s, bright) for t in thirds]
        if any(e is None for e in ends):
            continue
        offsets = [e[0] for e in ends if e is not None]
        levels = [e[1] for e in ends if e is not None]
        # Straight (the middle third's end on the line through the outer two), and nearly
        # parallel to the side (the found outline may sit a little askew on the screen).
        bent = abs(offsets[1] - (offsets[0] + offsets[2]) / 2)
        askew = abs(offsets[2] - offsets[0])
        if (
            bent <= max(2.0, BODY_STRAIGHT * s)
            and askew <= max(3.0, BODY_ASKEW * s)
            and max(levels) - min(levels) <= BODY_LEVEL_TOL
        ):
            count += 1
    return count


def _band_end(profile: np.ndarray, s: int, bright: float) -> tuple[int, float] | None:
    """Where a dark, even band that starts at the region's edge ends (offset, band level),
    or None when there is no such band or it does not end in a step."""
    near = range(min(len(profile), max(3, int(BODY_START * s))))
    start = next((o for o in near if profile[o] < BEZEL_DARK * bright), None)
    if start is None or start + 6 >= len(profile):
        return None
    # The first two pixels may ring (the screen's edge, sharpened and JPEG-coded).
    level = float(np.median(profile[start + 1 : start + 6]))
    tol = max(3.0, 0.2 * level)
    o = start + 2
    while o < len(profile) and abs(float(profile[o]) - level) <= tol:
        o += 1
    width = o - start
    if width < max(2, int(0.015 * s)) or o + 2 >= len(profile):
        return None
    after = profile[o : o + 3].astype(np.float32) - level
    # An edge, not a drift: the scene beyond stays on one side of the band's level, and
    # the change is made within a few pixels (a dark wall or shirt shades off gradually).
    if not (np.all(after > tol) or np.all(after < -tol)):
        return None
    if abs(float(profile[o + 2]) - float(profile[max(start, o - 2)])) < 1.5 * tol:
        return None
    return o, level


def _tint(inner: np.ndarray, blank: np.ndarray) -> float:
    """Chroma (CIELAB a*b* distance from grey) of the blank part's median colour."""
    k = max(1, int(np.sqrt(blank.size / SPREAD_SAMPLES)))  # an even subsample, taken before indexing
    med = np.median(inner[::k, ::k][blank[::k, ::k]], axis=0).astype(np.uint8).reshape(1, 1, 3)
    _, a, b = cv2.cvtColor(med, cv2.COLOR_BGR2LAB)[0, 0].astype(np.float32)
    return float(np.hypot(a - 128, b - 128))


def _tiled_spread(values: np.ndarray, mask: np.ndarray, q: float = TILE_QUANTILE) -> float:
    """The `q` quantile over tiles of the spread of `values` in each tile's `mask` part: a
    texture found over the whole region (a screen's grid), not in a part of it (a
    newspaper's columns of fine print leave its margins and masthead plain)."""
    h, w = values.shape
    ny, nx = max(1, min(TILE_GRID, h // 16)), max(1, min(TILE_GRID, w // 16))
    spreads = []
    for i in range(ny):
        for j in range(nx):
            ys, xs = slice(i * h // ny, (i + 1) * h // ny), slice(j * w // nx, (j + 1) * w // nx)
            m = mask[ys, xs]
            if m.sum() >= max(30, 0.25 * m.size):
                spreads.append(_spread(values[ys, xs][m]))
    return float(np.quantile(spreads, q)) if len(spreads) >= 4 else _spread(values[mask])


def _spread(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (outliers ignored),
    on an even subsample of at most SPREAD_SAMPLES values (the medians are most of the
    check's cost)."""
    if values.size > SPREAD_SAMPLES:
        values = values[:: values.size // SPREAD_SAMPLES]
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def assess(bgr: np.ndarray, quad: Quad) -> MediumResult:
    """How screen-like the region holding the code is."""
    region, iw, ih, b, seen = _native(bgr, quad, MARGIN)
    inner = region[b : b + ih, b : b + iw]
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    blank = _blank(gray)
    signals: dict[str, float] = {"blank_px": float(blank.sum())}
    ripple = fringes = bezel = tint = 0.0
    bright = float(np.median(gray[blank])) if blank.sum() >= MIN_BLANK_PX else float(np.percentile(gray, 75))
    if blank.sum() >= MIN_BLANK_PX:
        f = inner.astype(np.float32)
        luma = gray.astype(np.float32)

        def band(ch: np.ndarray, tiled: bool = False) -> float:
            fine = cv2.GaussianBlur(ch, (0, 0), 0.7) - cv2.GaussianBlur(ch, (0, 0), 3.0)
            return _tiled_spread(fine, blank) if tiled else _spread(fine[blank])

        # Tiled: a newspaper's fine body print is brightness texture in its columns only.
        ripple = 100 * band(luma, tiled=True) / max(bright, 1.0)
        rb = f[:, :, 2] - f[:, :, 0]
        gm = f[:, :, 1] - (f[:, :, 2] + f[:, :, 0]) / 2
        fringes = float(np.hypot(band(rb), band(gm)))
        tint = _tint(inner, blank)
    # The band outside each side: a phone's body is dark and even all along.
    full = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # The band starts a little off the outline: a found outline is a few pixels off.
    u = max(3, max(3, int(0.24 * min(iw, ih))) // 2)  # 12% of the region's short side
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
    body = _body_sides(full, seen, b, iw, ih, bright)
    share = float(blank.sum()) / max(1, iw * ih)
    signals.update(
        ripple=ripple,
        fringes=fringes,
        bezel=bezel,
        framed=framed,
        body=body,
        tint=tint,
        brightness=bright,
        blank_share=share,
    )
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
            # A dark, even band ending at an edge parallel to the region's, on three or
            # four sides: a device's body, whatever lies beyond it.
            FRAMED_3 if body >= 3 else FRAMED_2 if body >= 2 else 0.0,
            NO_BLANK if share < MIN_BLANK_SHARE else 0.0,
            # A light, tinted white (a screen's white point, not the scene's): a hint
            # that needs another sign (pastel papers exist; coloured sheets are far
            # more saturated, kraft is darker).
            TINT_PART if TINT_MIN <= tint <= TINT_MAX and bright >= TINT_BRIGHT else 0.0,
        ],
        reverse=True,
    )
    score = parts[0] + 0.5 * parts[1]
    verdict = "fail" if score >= FAIL_AT else "review" if score >= REVIEW_AT else "pass"
    return MediumResult(score, verdict, signals)
