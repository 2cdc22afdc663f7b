"""Face swap / morph: the seller's inner face laid over another person's photo.

A swap app (or a hand edit) cuts the inner face from one photo and blends it into
another. Two photos never share their sharpness and noise, and the blend leaves a
boundary around the face. Signals, on the face's neighbourhood at the picture's own
resolution, in units of the eye distance d around the landmarks' centre (an ellipse
1 d wide, 1.25 d tall is "radius 1"):
- noise mismatch: the fine high-pass spread of the inner face (radius < 0.8) over that
  of the skin-coloured pixels around it (radius 1.25-2: forehead, cheeks, neck, ears),
  as a log ratio. One camera took a live face and its neck: they share one noise and one
  focus.
- seam: the strongest ring of radial gradient in the band where blends are placed
  (radius 0.9-1.6), over the median ring out to radius 2. A face's own contour (jaw,
  hairline) is there too, so live faces reach 1.5; a pasted face adds its boundary.
The held paper is left out (its top edge under the chin is a strong ring).
Score = (noise - NOISE_FLOOR) / 0.5 + (seam - SEAM_FLOOR) / 0.5, each part at least 0.
Only ever a review (a person looks at the face), never a fail: live faces reach 0.73
(with the paper in: 1.53) on the calibration set, too close to call anything more. The
review line sits above the genuine responses of seed 1 of a scratch scene set (44, tests/
attackgen compositing); the attack counts of that set were seen when it was set (so its
x2_face_swap numbers are not an unseen-attack measurement; other seeds are). No
landmark-geometry check: a swap that pastes the seller's face keeps the seller's geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

NOISE_FLOOR = 0.6  # log ratio, inner face / surrounding skin (genuine median 0.2, p90 0.6)
SEAM_FLOOR = 1.5  # ring gradient peak / median ring (genuine median 1.3, p90 1.6)
PART_SPAN = 0.5
REVIEW_AT = 1.0  # genuine calibration responses (paper left out): at most 0.73
MIN_RING_PX = 300  # fewer skin pixels around the face than this: no noise comparison


@dataclass
class SwapResult:
    score: float
    verdict: str  # pass / review
    signals: dict[str, float] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in self.signals.items())
        return f"swap {self.score:.2f} (review at {REVIEW_AT}): {parts}"


def assess(bgr: np.ndarray, landmarks: np.ndarray, paper_box: tuple[int, int, int, int] | None = None) -> SwapResult:
    """How much the face looks pasted into the picture around it."""
    lm = landmarks.astype(np.float32)
    d = float(np.linalg.norm(lm[0] - lm[1]))
    if d < 8:
        return SwapResult(0.0, "pass", {"eye_distance": d})
    cx, cy = (float(v) for v in lm.mean(axis=0))
    h, w = bgr.shape[:2]
    x0, y0 = int(max(0, cx - 2.2 * d)), int(max(0, cy - 2.75 * d))
    x1, y1 = int(min(w, cx + 2.2 * d)), int(min(h, cy + 2.75 * d))
    crop = bgr[y0:y1, x0:x1]
    if crop.shape[0] < 16 or crop.shape[1] < 16:
        return SwapResult(0.0, "pass", {"eye_distance": d})
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]].astype(np.float32)
    dx, dy = xx + x0 - cx, yy + y0 - cy
    r = np.hypot(dx / d, dy / (1.25 * d))
    valid = np.ones(g.shape, bool)
    if paper_box is not None:
        px, py, pw, ph = paper_box
        valid[max(0, py - y0) : max(0, py + ph - y0), max(0, px - x0) : max(0, px + pw - x0)] = False
    inner = (r < 0.8) & valid
    if inner.sum() < MIN_RING_PX:
        return SwapResult(0.0, "pass", {"eye_distance": d})
    hp = g - cv2.GaussianBlur(g, (0, 0), 1.0)

    def mad(mask: np.ndarray) -> float:
        v = hp[mask]
        return float(np.median(np.abs(v - np.median(v)))) if v.size else 0.0

    skin_ab = np.median(lab[inner][:, 1:], axis=0)
    skin = np.linalg.norm(lab[:, :, 1:] - skin_ab, axis=2) < 12
    ring = (r > 1.25) & (r < 2.0) & skin & valid
    noise = float(np.log((mad(inner) + 0.1) / (mad(ring) + 0.1))) if ring.sum() >= MIN_RING_PX else 0.0
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    norm = np.hypot(dx, dy) + 1e-3
    radial = np.abs(gx * dx / norm + gy * dy / norm)
    # Mean radial gradient per ring of width 0.1 from radius 0.6 to 2.0, in one pass.
    ring_of = np.floor((r - 0.6) / 0.1).astype(np.int32)
    sel = valid & (ring_of >= 0) & (ring_of < 14)
    sums = np.bincount(ring_of[sel], weights=radial[sel], minlength=14)
    counts = np.bincount(ring_of[sel], minlength=14)
    profile = [float(sv / n) if n else 0.0 for sv, n in zip(sums, counts, strict=True)]
    seam = max(profile[3:10]) / (float(np.median(profile)) + 1e-3)
    score = max(0.0, noise - NOISE_FLOOR) / PART_SPAN + max(0.0, seam - SEAM_FLOOR) / PART_SPAN
    signals = {"noise_mismatch": noise, "seam": seam, "ring_skin_px": float(ring.sum())}
    return SwapResult(score, "review" if score >= REVIEW_AT else "pass", signals)
