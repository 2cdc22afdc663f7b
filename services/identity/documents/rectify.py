"""Find a document in a photo and warp it flat onto the canonical canvas.

The document is the largest convex, roughly rectangular region whose edges stand out
from the background (Canny edges, closed, external contours, a 4-point approximation or
the minimum-area rectangle). The long side is made horizontal; which way is up is decided
by the caller (a face on the right of an ID front, the title on top of the back).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE = 960


@dataclass
class Found:
    quad: np.ndarray  # (4, 2) float32 in original-image pixels: TL, TR, BR, BL
    touches_border: bool
    area_fraction: float


def _order(pts: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL with the long side first (TL->TR)."""
    c = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(angles)]  # clockwise in image coordinates, starting near the left
    start = int(np.argmin(pts.sum(axis=1)))
    pts = np.roll(pts, -start, axis=0)
    if np.linalg.norm(pts[1] - pts[0]) < np.linalg.norm(pts[2] - pts[1]):
        pts = np.roll(pts, -1, axis=0)
    return pts.astype(np.float32)


def find_document(bgr: np.ndarray, min_fraction: float = 0.04) -> Found | None:
    h, w = bgr.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    best = None
    for lo, hi in ((20, 60), (40, 120)):
        edges = cv2.Canny(gray, lo, hi)
        edges = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8), iterations=2)
        contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            hull = cv2.convexHull(cnt)
            area = cv2.contourArea(hull)
            if area < min_fraction * gray.size:
                continue
            approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
            quad = approx.reshape(-1, 2) if len(approx) == 4 else cv2.boxPoints(cv2.minAreaRect(hull))
            if best is None or area > best[1]:
                best = (quad.astype(np.float32), area)
        if best is not None:
            break
    by_background = _by_background(small, min_fraction)
    if by_background is not None and (best is None or by_background[1] > 1.2 * best[1]):
        best = by_background  # a low-contrast edge (light card on white) hides the outline from Canny
    if best is None:
        return None
    quad = _order(best[0] / scale)
    margin = 3
    touches = bool(
        (quad[:, 0] <= margin).any()
        or (quad[:, 1] <= margin).any()
        or (quad[:, 0] >= w - 1 - margin).any()
        or (quad[:, 1] >= h - 1 - margin).any()
    )
    return Found(quad, touches, float(best[1] / gray.size))


def _by_background(small: np.ndarray, min_fraction: float) -> tuple[np.ndarray, float] | None:
    """Low-contrast scans (a light card on white): whatever differs from the border colour."""
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]).astype(np.float32)
    ref = np.median(border, axis=0)
    # How much the background itself varies (a textured desk), so texture is not "document".
    spread = float(np.median(np.abs(border - ref).max(axis=1)))
    # The largest channel difference, in OpenCV (numpy's abs/max over a float copy of the
    # whole photo took ~50 ms of a 300 ms budget).
    scalar = (*map(float, ref[:3]), 0.0)  # a per-channel cv2 Scalar (the stubs miss this overload)
    d = cv2.absdiff(cv2.GaussianBlur(small, (7, 7), 0).astype(np.float32), scalar)  # type: ignore[call-overload]
    diff = cv2.max(cv2.max(d[:, :, 0], d[:, :, 1]), d[:, :, 2])
    mask = (diff > max(6.0, 4.0 * spread)).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8), iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    area = cv2.contourArea(hull)
    if area < min_fraction * mask.size or area > 0.9 * mask.size:
        return None
    approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    quad = approx.reshape(-1, 2) if len(approx) == 4 else cv2.boxPoints(cv2.minAreaRect(hull))
    return quad.astype(np.float32), area


def warp(bgr: np.ndarray, quad: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The document flattened to `size` (w, h), and the homography canvas -> original image."""
    w, h = size
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(quad, dst)
    flat = cv2.warpPerspective(bgr, m, (w, h), flags=cv2.INTER_CUBIC)
    return flat, np.linalg.inv(m)


def box_to_image(box: tuple[int, int, int, int], inverse: np.ndarray) -> tuple[float, float, float, float]:
    """A canvas box mapped back to the original image (axis-aligned bounds)."""
    x, y, w, h = box
    pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(pts, inverse).reshape(-1, 2)
    x0, y0 = mapped.min(axis=0)
    x1, y1 = mapped.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
