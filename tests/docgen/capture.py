"""Capture tiers: what a rendered document looks like when a seller photographs it.

- clean: a flat scan with a margin of white around the document.
- photo: the document on a textured desk, in perspective, rotated by a multiple of 90
  degrees plus up to 15, with uneven light, JPEG-compressed (quality 70-85).
- hard: stronger blur, a glare spot, downscaled, rotation up to 15 degrees plus more
  perspective, JPEG quality 55-65.
Deterministic for a seed. Returns the captured image and the document's corners in it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np

TIERS = ("clean", "photo", "hard")


@dataclass
class Capture:
    image: np.ndarray
    quad: np.ndarray  # (4, 2) corners: top-left, top-right, bottom-right, bottom-left of the document
    tier: str


def _desk(rng: random.Random, h: int, w: int) -> np.ndarray:
    nr = np.random.default_rng(rng.randrange(1 << 30))
    base = np.array([rng.randrange(40, 120), rng.randrange(40, 110), rng.randrange(30, 100)], np.float32)
    texture = cv2.GaussianBlur(nr.normal(0, 18, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 4))[:, :, None]
    grain = nr.normal(0, 6, (h, w, 1)).astype(np.float32)
    return np.clip(base + texture + grain, 0, 255).astype(np.uint8)


def capture(doc: np.ndarray, tier: str, seed: int) -> Capture:
    rng = random.Random(seed)
    h, w = doc.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if tier == "clean":
        margin = 40
        out = np.full((h + 2 * margin, w + 2 * margin, 3), 250, np.uint8)
        out[margin : margin + h, margin : margin + w] = doc
        return Capture(out, src + margin, tier)
    hard = tier == "hard"
    out_w, out_h = (1280, 960) if not hard else (960, 720)
    scale = rng.uniform(0.55, 0.75) * out_w / w if not hard else rng.uniform(0.5, 0.62) * out_w / w
    cw, ch = w * scale, h * scale
    angle = np.radians(rng.choice([0, 0, 0, 90, 180, 270]) + rng.uniform(-15, 15) * (1.0 if hard else 0.8))
    centre = np.array([out_w / 2 + rng.uniform(-60, 60), out_h / 2 + rng.uniform(-40, 40)])
    corners = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = corners @ rot.T + centre
    jitter = (0.08 if hard else 0.05) * min(cw, ch)
    dst += np.array([[rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter)] for _ in range(4)])
    # Keep the whole document in the picture.
    span = dst.max(axis=0) - dst.min(axis=0)
    fit = min(1.0, 0.94 * out_w / span[0], 0.94 * out_h / span[1])
    dst = (dst - dst.mean(axis=0)) * fit + np.array([out_w / 2, out_h / 2])
    dst = dst.astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    desk = _desk(rng, out_h, out_w)
    warped = cv2.warpPerspective(doc, m, (out_w, out_h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (out_w, out_h))
    img = np.where(mask[:, :, None] > 127, warped, desk).astype(np.float32)
    # Uneven light: a soft gradient across the picture.
    y, x = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    gx, gy = rng.uniform(-0.25, 0.25), rng.uniform(-0.25, 0.25)
    light = 1.0 + gx * (x / out_w - 0.5) + gy * (y / out_h - 0.5)
    img *= light[:, :, None]
    if hard:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.9, 1.4))
        # A glare spot somewhere on the document, away from the number line.
        gxc, gyc = dst[:, 0].mean() + rng.uniform(-0.2, 0.2) * cw, dst[:, 1].mean() + rng.uniform(-0.3, 0.0) * ch
        glare = np.exp(-(((x - gxc) / (0.12 * cw)) ** 2 + ((y - gyc) / (0.08 * ch)) ** 2))
        img += 70 * glare[:, :, None]
    else:
        img = cv2.GaussianBlur(img, (0, 0), 0.6)
    img = np.clip(img, 0, 255).astype(np.uint8)
    quality = rng.randrange(55, 66) if hard else rng.randrange(70, 86)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return Capture(cv2.imdecode(buf, cv2.IMREAD_COLOR), dst, tier)
