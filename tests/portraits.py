"""Derive ID-card-portrait variants from ordinary photos (for calibration, tests, bench).

A Chinese ID card's chip portrait is 102x126 px; printed portraits are small, washed out
and compressed. From a photo we: detect the face; crop a head-and-shoulders box of
aspect 102:126 with the face width at ~52% of the crop and the eyes at ~42% of its
height; resize to 102x126 (INTER_AREA); lower contrast and saturation and lift the
blacks (washed-out print); blur slightly (print/scan softness); JPEG-compress at
quality 55. The variant is deterministic for a given image.
"""

from __future__ import annotations

import cv2
import numpy as np

from services.vision.faces import FaceEngine

PORTRAIT_SIZE = (102, 126)  # width, height


def id_portrait(photo_bgr: np.ndarray, engine: FaceEngine, jpeg_quality: int = 55) -> np.ndarray | None:
    """The ID-portrait-like variant of `photo_bgr`, or None when no face is found."""
    faces = engine.detect(photo_bgr)
    if not faces:
        return None
    lm = faces[0].landmarks
    eyes_mid = (lm[0] + lm[1]) / 2
    face_w = faces[0].box[2]
    crop_w = face_w / 0.52
    crop_h = crop_w * PORTRAIT_SIZE[1] / PORTRAIT_SIZE[0]
    x0 = eyes_mid[0] - crop_w / 2
    y0 = eyes_mid[1] - 0.42 * crop_h
    # Shrink first (INTER_AREA, no aliasing) so the final warp only scales by ~0.5.
    s = min(1.0, 2 * PORTRAIT_SIZE[0] / crop_w)
    if s < 1.0:
        photo_bgr = cv2.resize(photo_bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        x0, y0, crop_w, crop_h = x0 * s, y0 * s, crop_w * s, crop_h * s
    src = np.float32([[x0, y0], [x0 + crop_w, y0], [x0, y0 + crop_h]])
    dst = np.float32([[0, 0], [PORTRAIT_SIZE[0], 0], [0, PORTRAIT_SIZE[1]]])
    m = cv2.getAffineTransform(src, dst)
    big = cv2.warpAffine(photo_bgr, m, PORTRAIT_SIZE, flags=cv2.INTER_AREA, borderValue=(235, 235, 235))
    img = big.astype(np.float32)
    gray = cv2.cvtColor(big, cv2.COLOR_BGR2GRAY).astype(np.float32)[:, :, None]
    img = 0.55 * img + 0.45 * gray  # desaturate
    img = 0.72 * img + 55.0  # low contrast, lifted blacks
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0.6)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)
