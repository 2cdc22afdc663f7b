"""Presentation attacks: a genuine response photo shown on a screen or printed, then
photographed again with a phone.

Screen replay: the picture is resampled onto a display's pixel grid, each display pixel
three vertical R, G, B sub-pixel stripes with a dark gap; the camera samples that grid
at a non-integer pitch and a small angle (aliasing gives moire), the screen's gamma,
brightness and bluish white point shift the colours, a glare spot may sit on the glass,
and the phone or monitor's dark bezel may show around the picture.

Printed photo: the picture is screened into CMYK halftone dots (rotated screens at a
realistic 65-150 lines per inch), printed on paper whose white is a little warm and dim
and whose black is grey (a reduced gamut), sometimes with the paper's edge and the room
behind it in view, and photographed again (blur, noise, JPEG).

Code on a phone: the code sheet shown on a phone's screen (the same stripe lattice, bright
and bluish, sometimes a glare streak) inside the phone's dark body, to be held up by
`tests.attackgen.compose` where the paper would be.

`strength` runs from 0 (mild: fine pitch, defocused, screen or print filling the frame)
to 1 (coarse grid, sharp, bezel or paper edge in view). Deterministic for a seed.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

MAX_SIDE = 800  # the re-photographed picture's longer side
SUPER = 3  # supersampling per camera pixel, so the grid aliases as a real sensor would


def _homography(w: int, h: int, rng: random.Random, tilt: float) -> np.ndarray:
    """Camera pixel -> source pixel: a small rotation and perspective."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = np.float32([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(4)]) * tilt * min(w, h)
    return cv2.getPerspectiveTransform(src, src + jitter)


def _camera(img: np.ndarray, rng: random.Random, blur: float, quality: int) -> np.ndarray:
    out = cv2.GaussianBlur(img, (0, 0), blur) if blur > 0.05 else img
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(1.5, 4.0), out.shape)
    out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _fit(photo: np.ndarray) -> np.ndarray:
    h, w = photo.shape[:2]
    s = min(1.0, MAX_SIDE / max(h, w))
    return cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else photo


def _surround(inner: np.ndarray, rng: random.Random, border: float, colour: tuple[int, int, int]) -> np.ndarray:
    """The device or sheet (inner) framed by a band of `colour`, in a room, scaled back to size."""
    h, w = inner.shape[:2]
    b = int(border * min(h, w))
    framed = cv2.copyMakeBorder(inner, b, b, b, b, cv2.BORDER_CONSTANT, value=colour)
    room = int(0.08 * min(h, w))
    base = np.array([rng.randrange(60, 200) for _ in range(3)], np.float32)
    tex = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 10, (h + 2 * b + 2 * room, w + 2 * b + 2 * room, 1))
    scene = np.clip(base + cv2.GaussianBlur(tex.astype(np.float32), (0, 0), 3)[:, :, None], 0, 255).astype(np.uint8)
    scene[room : room + framed.shape[0], room : room + framed.shape[1]] = framed
    return cv2.resize(scene, (w, h), interpolation=cv2.INTER_AREA)


def _displayed(img: np.ndarray, rng: random.Random, strength: float) -> np.ndarray:
    """`img` lit on a display's R, G, B stripe grid and sampled by a camera (float BGR)."""
    h, w = img.shape[:2]
    # Camera pixels per display pixel: 1.3 (a fine retina screen, far) to 3.5 (close up).
    pitch = rng.uniform(1.3, 1.9) + strength * rng.uniform(0.5, 1.6)
    disp_w, disp_h = max(8, int(w / pitch)), max(8, int(h / pitch))
    shown = cv2.resize(img, (disp_w, disp_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Screen tone: gamma, brightness, a bluish white point.
    gamma = rng.uniform(0.8, 1.2)
    shown = 255 * (shown / 255) ** gamma * rng.uniform(0.85, 1.1)
    shown *= np.float32([rng.uniform(1.0, 1.12), rng.uniform(0.97, 1.03), rng.uniform(0.88, 0.98)])  # BGR
    hh, ww = h * SUPER, w * SUPER
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    m = np.linalg.inv(_homography(w, h, rng, 0.03 + 0.03 * strength)).astype(np.float32)
    angle = np.float32(np.radians(rng.uniform(-4, 4)))
    cx, cy = (xs + 0.5) / SUPER, (ys + 0.5) / SUPER
    px = m[0, 0] * cx + m[0, 1] * cy + m[0, 2]
    py = m[1, 0] * cx + m[1, 1] * cy + m[1, 2]
    den = m[2, 0] * cx + m[2, 1] * cy + m[2, 2]
    px, py = px / den, py / den
    u = (np.cos(angle) * px - np.sin(angle) * py) / pitch
    v = (np.sin(angle) * px + np.cos(angle) * py) / pitch
    ui = np.clip(u.astype(np.int32), 0, disp_w - 1)
    vi = np.clip(v.astype(np.int32), 0, disp_h - 1)
    colour = shown[vi, ui]  # (hh, ww, 3) BGR
    fu, fv = u - np.floor(u), v - np.floor(v)
    stripe = np.minimum((fu * 3).astype(np.int32), 2)  # 0 = R, 1 = G, 2 = B from left to right
    lit = np.zeros_like(colour)
    for channel, bgr_index in ((0, 2), (1, 1), (2, 0)):
        on = stripe == channel
        lit[:, :, bgr_index] = np.where(on, colour[:, :, bgr_index] * 3 * 0.85, 0)
    lit *= (fv < rng.uniform(0.8, 0.92))[:, :, None]  # the dark gap between pixel rows
    # Optical blur before the sensor, then the sensor's area sampling.
    lit = cv2.GaussianBlur(lit, (0, 0), SUPER * rng.uniform(0.35, 0.6) * (1.3 - 0.5 * strength))
    return cv2.resize(lit, (w, h), interpolation=cv2.INTER_AREA)


def screen_replay(photo: np.ndarray, rng: random.Random, strength: float = 0.5) -> np.ndarray:
    """The photo shown on a phone or monitor and photographed again."""
    img = _fit(photo)
    h, w = img.shape[:2]
    out = _displayed(img, rng, strength)
    if rng.random() < 0.5 + 0.4 * strength:  # glare on the glass
        gx, gy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = rng.uniform(0.1, 0.3) * min(w, h)
        out += (rng.uniform(40, 120) * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * r * r)))[:, :, None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3 + 0.6 * strength:  # the phone or monitor's bezel in view
        out = _surround(out, rng, rng.uniform(0.03, 0.08), (rng.randrange(5, 30),) * 3)
    return _camera(out, rng, rng.uniform(0.3, 1.0) * (1.2 - 0.6 * strength), rng.randrange(75, 93))


def phone_with_code(sheet: np.ndarray, rng: random.Random, strength: float = 0.5) -> np.ndarray:
    """The code sheet (tests.attackgen.paper_with_code) as a phone shows it: lit on the
    screen's stripe grid, a little brighter than paper and bluish, a glare streak across
    the glass sometimes, inside a dark body (bezel 3-8% of the screen's height). Hold it
    up with `tests.attackgen.compose(..., lit=True)`."""
    h, w = sheet.shape[:2]
    out = _displayed(sheet, rng, strength) * rng.uniform(1.0, 1.15)
    if rng.random() < 0.5:  # a glare streak: the room's lamp on the glass
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0.3, 1.2)
        d = (xx - rng.uniform(0.2, 0.8) * w) * np.cos(a) + (yy - 0.5 * h) * np.sin(a)
        out += (rng.uniform(20, 60) * np.exp(-(d**2) / (2 * (rng.uniform(0.05, 0.15) * w) ** 2)))[:, :, None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    b = int(rng.uniform(0.03, 0.08) * h)
    body = (rng.randrange(5, 35),) * 3
    return cv2.copyMakeBorder(
        out, b, b, int(b * rng.uniform(1.0, 2.5)), int(b * rng.uniform(1.0, 2.5)), cv2.BORDER_CONSTANT, value=body
    )


def printed_photo(photo: np.ndarray, rng: random.Random, strength: float = 0.5) -> np.ndarray:
    """The photo printed with CMYK halftone screening and photographed again."""
    img = _fit(photo)
    h, w = img.shape[:2]
    # Halftone cell in camera pixels: a 150 lpi print seen from far (1.6 px) to a 65 lpi
    # print close up (4.5 px).
    cell = rng.uniform(1.6, 2.4) + strength * rng.uniform(0.5, 2.1)
    rgb = img[:, :, ::-1].astype(np.float32) / 255
    k = 1 - rgb.max(axis=2)
    cmy = (1 - rgb - k[:, :, None]) / np.maximum(1 - k[:, :, None], 1e-3)
    hh, ww = h * SUPER, w * SUPER
    m = np.linalg.inv(_homography(w, h, rng, 0.02 + 0.03 * strength)).astype(np.float32)
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    cx, cy = (xs + 0.5) / SUPER, (ys + 0.5) / SUPER
    den = m[2, 0] * cx + m[2, 1] * cy + m[2, 2]
    px = (m[0, 0] * cx + m[0, 1] * cy + m[0, 2]) / den
    py = (m[1, 0] * cx + m[1, 1] * cy + m[1, 2]) / den
    sx, sy = np.clip(px, 0, w - 1).astype(np.float32), np.clip(py, 0, h - 1).astype(np.float32)
    inks = [cmy[:, :, 0], cmy[:, :, 1], cmy[:, :, 2], k]
    angles = [15, 75, 0, 45]  # classic C, M, Y, K screen angles
    ink_cover = []
    for plane, deg in zip(inks, angles, strict=True):
        value = cv2.remap(plane.astype(np.float32), sx, sy, cv2.INTER_LINEAR)
        a = np.float32(np.radians(deg + rng.uniform(-2, 2)))
        ru = (np.cos(a) * px + np.sin(a) * py) / cell
        rv = (-np.sin(a) * px + np.cos(a) * py) / cell
        threshold = 0.5 - 0.25 * (np.cos(2 * np.pi * ru) + np.cos(2 * np.pi * rv))
        ink_cover.append((value > threshold).astype(np.float32))
    c, mg, y, kk = ink_cover
    paper = np.float32([rng.uniform(215, 240), rng.uniform(222, 245), rng.uniform(228, 250)])  # B, G, R: warm
    black = rng.uniform(0.72, 0.85)  # ink absorbs this much light
    b_ = paper[0] * (1 - 0.8 * y) * (1 - black * kk)
    g_ = paper[1] * (1 - 0.8 * mg) * (1 - black * kk)
    r_ = paper[2] * (1 - 0.8 * c) * (1 - black * kk)
    printed = np.dstack([b_, g_, r_])
    printed = cv2.GaussianBlur(printed, (0, 0), SUPER * rng.uniform(0.3, 0.55) * (1.3 - 0.5 * strength))
    out = np.clip(cv2.resize(printed, (w, h), interpolation=cv2.INTER_AREA), 0, 255).astype(np.uint8)
    if rng.random() < 0.3 + 0.6 * strength:  # the sheet's white margin and the room around it
        out = _surround(out, rng, rng.uniform(0.02, 0.06), tuple(int(v) for v in paper))
    return _camera(out, rng, rng.uniform(0.3, 0.9) * (1.2 - 0.6 * strength), rng.randrange(75, 93))
