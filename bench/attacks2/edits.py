"""Near-duplicate edits of a photo that passed: what a replay attacker does to it before
sending it again (the benchmark's own code, independent of tests/attackgen).

`edit(bgr, kind, strength, rng)` with strength 0..1 (1 = the issue's limit):
- crop: up to 20% of the width and of the height cut off, unevenly between the sides;
- scale: to 1 - 0.5 * strength (or up, 1 + 0.5 * strength);
- rotate: up to 10 degrees, the corners filled by reflecting the picture;
- reencode: WebP or JPEG down to quality 95 - 65 * strength, after a chroma subsample;
- colour: hue, saturation, gamma and white-balance shifts;
- mirror: left-right flip (strength adds a small crop);
- combined: all of the above at once.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

KINDS = ("crop", "scale", "rotate", "reencode", "colour", "mirror", "combined")


def _crop(img: np.ndarray, s: float, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    cx, cy = 0.2 * s * w, 0.2 * s * h
    left = rng.uniform(0, cx)
    top = rng.uniform(0, cy)
    return img[int(top) : h - int(cy - top), int(left) : w - int(cx - left)]


def _scale(img: np.ndarray, s: float, rng: random.Random) -> np.ndarray:
    f = 1 - 0.5 * s if rng.random() < 0.6 else 1 + 0.5 * s
    return cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def _rotate(img: np.ndarray, s: float, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    deg = 10 * s * rng.choice([-1, 1])
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _reencode(img: np.ndarray, s: float, rng: random.Random) -> np.ndarray:
    q = int(95 - 65 * s)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, max(q, 5)])
    else:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _colour(img: np.ndarray, s: float, rng: random.Random) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + rng.uniform(-1, 1) * 25 * s) % 180
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * (1 + rng.uniform(-0.6, 0.6) * s), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32) / 255
    gamma = 1 + rng.uniform(-0.5, 0.5) * s
    balance = np.float32([1 + rng.uniform(-0.25, 0.25) * s for _ in range(3)])
    return np.clip(255 * (out**gamma) * balance, 0, 255).astype(np.uint8)


def _mirror(img: np.ndarray, s: float, rng: random.Random) -> np.ndarray:
    return _crop(cv2.flip(img, 1), 0.25 * s, rng)


_EDITS = {
    "crop": _crop,
    "scale": _scale,
    "rotate": _rotate,
    "reencode": _reencode,
    "colour": _colour,
    "mirror": _mirror,
}


def edit(bgr: np.ndarray, kind: str, strength: float, rng: random.Random) -> np.ndarray:
    """The photo after one kind of edit (or all of them, "combined") at this strength."""
    if kind == "combined":
        out = bgr
        for k in ("colour", "rotate", "crop", "scale", "mirror", "reencode"):
            if k == "mirror" and rng.random() < 0.5:
                continue
            out = _EDITS[k](out, strength, rng)
        return out
    return _EDITS[kind](bgr, strength, rng)
