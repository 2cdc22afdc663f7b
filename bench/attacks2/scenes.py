"""A second, independent attack renderer for the liveness benchmark.

Written apart from tests/attackgen (whose pictures the thresholds were tuned on) and on
purpose unlike it: compositing with PIL (perspective by `Image.transform`, alpha masks
with rounded corners and blurred drop shadows), other fonts (Liberation, DejaVu Serif,
Noto Serif CJK), a screen simulated as a diamond/PenTile-like sub-pixel lattice sampled
by a slightly rotated camera with a glare gradient, and a plain synthetic room when no
person is in view. Never tune a threshold on these pictures: they measure how the checks
hold on attacks nobody rehearsed.

Scenes (each returns a BGR picture as a phone would send it):
- card_with_paper: an ID card held up in the requested place with the code sheet beside
  it, nobody's face in view (the card portrait is the only face);
- card_beside_face: the seller holds the ID card next to the face and the code below;
- code_on_screen: the code shown on a phone held up instead of paper;
- paper_before_screen: a real paper with the code held in front of a monitor that shows
  the seller's photo.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = (
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf",
)


def _pil(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).convert("RGBA")


def _bgr(img: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.array(img.convert("RGB")), cv2.COLOR_RGB2BGR)


def _widen(photo: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """A wider shot: the photo's edges continued outwards, softened (no mirrored faces)."""
    big = cv2.copyMakeBorder(photo, top, bottom, left, right, cv2.BORDER_REPLICATE)
    soft = cv2.GaussianBlur(big, (0, 0), 9)
    soft[top : top + photo.shape[0], left : left + photo.shape[1]] = photo
    return soft


def _phone_jpeg(bgr: np.ndarray, rng: random.Random) -> np.ndarray:
    noisy = np.clip(
        bgr.astype(np.float32) + np.random.default_rng(rng.randrange(1 << 30)).normal(0, 2.5, bgr.shape), 0, 255
    )
    ok, buf = cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, rng.randrange(78, 94)])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def code_sheet(code: str, rng: random.Random, width: int = 520) -> Image.Image:
    """The code printed in another font, on paper of a slightly random tint."""
    h = int(width * 0.7)
    tint = tuple(rng.randrange(232, 250) for _ in range(3))
    sheet = Image.new("RGBA", (width, h), (*tint, 255))
    d = ImageDraw.Draw(sheet)
    font = ImageFont.truetype(rng.choice(FONTS), int(width / rng.uniform(6.2, 7.5)))
    tw = d.textlength(code, font=font)
    d.text(((width - tw) / 2, h * rng.uniform(0.32, 0.45)), code, font=font, fill=(25, 25, 30, 255))
    return sheet


def _place(
    scene: Image.Image, item: Image.Image, centre: tuple[float, float], width: float, rng: random.Random
) -> None:
    """Paste `item` at `centre`, `width` px wide, turned and in perspective, with a soft
    drop shadow, in place."""
    w = int(width)
    h = int(width * item.size[1] / item.size[0])
    item = item.resize((w, h), Image.LANCZOS)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, w - 1, h - 1), radius=max(2, w // 30), fill=255)
    item.putalpha(mask)
    item = item.rotate(rng.uniform(-8, 8), resample=Image.BICUBIC, expand=True)
    # A little perspective: move the corners by up to 4% of the size.
    iw, ih = item.size
    j = [rng.uniform(-0.04, 0.04) * iw for _ in range(8)]
    coeffs = _perspective_coeffs(
        [(0, 0), (iw, 0), (iw, ih), (0, ih)],
        [(j[0], j[1]), (iw + j[2], j[3]), (iw + j[4], ih + j[5]), (j[6], ih + j[7])],
    )
    item = item.transform((iw, ih), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    x, y = int(centre[0] - iw / 2), int(centre[1] - ih / 2)
    shadow = Image.new("RGBA", item.size, (0, 0, 0, 0))
    shadow.putalpha(item.getchannel("A").point(lambda a: int(a * 0.45)))
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(2, iw // 40)))
    scene.alpha_composite(shadow, (max(0, x + iw // 50), max(0, y + ih // 30)))
    scene.alpha_composite(item, (max(0, x), max(0, y)))


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, np.float64)
    b = np.array([c for p in src for c in p], np.float64)
    return list(np.linalg.solve(a, b))


def room(rng: random.Random, size: tuple[int, int] = (960, 720)) -> Image.Image:
    """A plain synthetic room: a wall with a light gradient, a shelf line, some texture."""
    w, h = size
    base = np.array([rng.randrange(90, 200) for _ in range(3)], np.float32)
    _, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.75 + 0.35 * (xx / w if rng.random() < 0.5 else 1 - xx / w)
    tex = cv2.GaussianBlur(
        np.random.default_rng(rng.randrange(1 << 30)).normal(0, 9, (h, w)).astype(np.float32), (0, 0), 2
    )
    img = np.clip(base[None, None, :] * light[:, :, None] + tex[:, :, None], 0, 255).astype(np.uint8)
    y = rng.randrange(h // 5, h // 3)
    cv2.rectangle(img, (0, y), (w, y + 12), [int(v * 0.6) for v in base], -1)
    return Image.fromarray(img[:, :, ::-1]).convert("RGBA")


def card_with_paper(card_bgr: np.ndarray, code: str, rng: random.Random) -> np.ndarray:
    """The ID card held up where a face would be, the code sheet beside it, nobody in view."""
    scene = room(rng)
    w, h = scene.size
    cw = rng.uniform(0.3, 0.45) * w
    side = rng.choice([-1, 1])
    _place(scene, _pil(card_bgr), (w / 2 + side * 0.2 * w, h * 0.42), cw, rng)
    _place(scene, code_sheet(code, rng), (w / 2 - side * 0.25 * w, h * 0.6), cw * 1.1, rng)
    return _phone_jpeg(_bgr(scene), rng)


def card_beside_face(
    photo: np.ndarray, face_box: tuple[float, float, float, float], card_bgr: np.ndarray, code: str, rng: random.Random
) -> np.ndarray:
    """The seller holds the ID card next to the face and the code sheet under the chin."""
    fx, fy, fw, fh = face_box
    pad = int(2.2 * fw)
    big = _widen(photo, pad // 3, pad, pad, pad)
    scene = _pil(big)
    cx, cy = fx + pad, fy + pad // 3
    side = rng.choice([-1, 1])
    _place(scene, _pil(card_bgr), (cx + fw / 2 + side * 1.5 * fw, cy + fh * 0.5), 1.9 * fw, rng)
    _place(scene, code_sheet(code, rng), (cx + fw / 2, cy + fh * 1.75), 1.7 * fw, rng)
    return _phone_jpeg(_bgr(scene), rng)


def _screen_lattice(img: np.ndarray, rng: random.Random, pitch: float) -> np.ndarray:
    """`img` as a diamond (PenTile-like) sub-pixel screen photographed by a camera turned a
    little: each display pixel lights a green dot and alternately a red or a blue one."""
    h, w = img.shape[:2]
    s = 3
    yy, xx = np.mgrid[0 : h * s, 0 : w * s].astype(np.float32) / s
    a = np.radians(rng.uniform(-4, 4))
    u = (np.cos(a) * xx + np.sin(a) * yy) / pitch
    v = (-np.sin(a) * xx + np.cos(a) * yy) / pitch
    src = cv2.resize(img, (w * s, h * s), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    fu, fv = u - np.floor(u), v - np.floor(v)
    checker = (np.floor(u) + np.floor(v)) % 2
    dot_g = np.exp(-(((fu - 0.5) ** 2 + (fv - 0.25) ** 2) / 0.03))
    dot_rb = np.exp(-(((fu - 0.5) ** 2 + (fv - 0.75) ** 2) / 0.05))
    mb, mr = dot_rb * (checker == 1), dot_rb * (checker == 0)
    # Each sub-pixel colour normalised so a white picture stays white on average.
    b = src[:, :, 0] * mb / max(float(mb.mean()), 1e-3)
    g = src[:, :, 1] * dot_g / max(float(dot_g.mean()), 1e-3)
    r = src[:, :, 2] * mr / max(float(mr.mean()), 1e-3)
    # Sub-pixels glow into each other (and the camera defocuses): half of the light is even.
    lit = 0.5 * np.dstack([b, g, r]) + 0.5 * src
    lit = cv2.GaussianBlur(lit, (0, 0), s * rng.uniform(0.35, 0.6))
    out = cv2.resize(lit, (w, h), interpolation=cv2.INTER_AREA)
    # The camera's white balance takes out the lattice's overall tint.
    out *= img.reshape(-1, 3).mean(axis=0) / np.maximum(out.reshape(-1, 3).mean(axis=0), 1e-3)
    glare = np.clip(1 + 0.25 * rng.random() * (xx[::s, ::s] / w), 0, 2)[:, :, None]
    return np.clip(out * glare * rng.uniform(0.9, 1.15), 0, 255).astype(np.uint8)


def phone_showing(code: str, rng: random.Random, width: int = 600) -> Image.Image:
    """A phone: black body, a bright screen with the code in an app-like font."""
    h = int(width / 2.0)  # held landscape, like a sheet
    screen_w, screen_h = int(width * 0.86), int(h * 0.9)
    screen = Image.new("RGB", (screen_w, screen_h), (250, 252, 255))
    d = ImageDraw.Draw(screen)
    font = ImageFont.truetype(rng.choice(FONTS), int(screen_w / 6.5))
    tw = d.textlength(code, font=font)
    d.text(((screen_w - tw) / 2, screen_h * 0.42), code, font=font, fill=(10, 10, 10))
    lit = _screen_lattice(_bgr(screen), rng, rng.uniform(1.6, 2.6))
    body = Image.new("RGBA", (width, h), (18, 18, 22, 255))
    body.paste(Image.fromarray(lit[:, :, ::-1]), ((width - screen_w) // 2, (h - screen_h) // 2))
    return body


def code_on_screen(
    photo: np.ndarray, face_box: tuple[float, float, float, float], code: str, where: str, rng: random.Random
) -> np.ndarray:
    """The seller holds a phone showing the code where the paper should be."""
    fx, fy, fw, fh = face_box
    pad = int(2.0 * fw)
    big = _widen(photo, 0, pad, pad, pad)
    scene = _pil(big)
    cx, cy = fx + pad, fy
    width = 1.5 * fw
    if where == "under_chin":
        centre = (cx + fw / 2, cy + fh * 1.55)
    elif where == "left":
        centre = (cx - 0.9 * fw, cy + fh * 0.6)
    else:
        centre = (cx + fw + 0.9 * fw, cy + fh * 0.6)
    _place(scene, phone_showing(code, rng), centre, width, rng)
    return _phone_jpeg(_bgr(scene), rng)


def paper_before_screen(
    photo: np.ndarray, face_box: tuple[float, float, float, float], code: str, where: str, rng: random.Random
) -> np.ndarray:
    """The seller's photo on a monitor (bezel in view or not) and a real code sheet held
    in front of the monitor, photographed."""
    shown = _screen_lattice(photo, rng, rng.uniform(1.4, 2.4))
    fx, fy, fw, fh = face_box
    if rng.random() < 0.5:
        b = int(0.04 * max(photo.shape[:2]))
        shown = cv2.copyMakeBorder(shown, b, b, b, b, cv2.BORDER_CONSTANT, value=(rng.randrange(10, 35),) * 3)
        fx, fy = fx + b, fy + b
    pad = int(1.8 * fw)
    big = cv2.copyMakeBorder(shown, 0, pad, pad, pad, cv2.BORDER_CONSTANT, value=(rng.randrange(60, 120),) * 3)
    scene = _pil(big)
    cx, cy = fx + pad, fy
    if where == "under_chin":
        centre = (cx + fw / 2, cy + fh * 1.6)
    elif where == "left":
        centre = (cx - 0.95 * fw, cy + fh * 0.6)
    else:
        centre = (cx + fw + 0.95 * fw, cy + fh * 0.6)
    _place(scene, code_sheet(code, rng), centre, 1.6 * fw, rng)
    return _phone_jpeg(_bgr(scene), rng)


def face_swap(
    target: np.ndarray,
    target_landmarks: np.ndarray,
    donor: np.ndarray,
    donor_landmarks: np.ndarray,
    code: str,
    where: str,
    target_box: tuple[float, float, float, float],
    rng: random.Random,
) -> np.ndarray:
    """The donor's (the seller's) inner face laid over another person's photo: aligned on
    the five landmarks, its colour moved part of the way to the target's skin, pasted
    through a feathered ellipse (no Poisson blending: unlike tests/attackgen), then the
    code sheet held up in another person's photo."""
    m, _ = cv2.estimateAffinePartial2D(donor_landmarks.astype(np.float32), target_landmarks.astype(np.float32))
    h, w = target.shape[:2]
    warped = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    eyes = target_landmarks[:2].mean(axis=0)
    mouth = target_landmarks[3:5].mean(axis=0)
    span = float(np.linalg.norm(target_landmarks[0] - target_landmarks[1]))
    centre = (eyes + mouth) / 2
    axes = (int(span * rng.uniform(0.95, 1.15)), int(np.linalg.norm(mouth - eyes) * rng.uniform(1.3, 1.55)))
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, span * rng.uniform(0.04, 0.12)))[:, :, None]
    lab_t = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab_d = cv2.cvtColor(warped, cv2.COLOR_BGR2LAB).astype(np.float32)
    inside = mask[:, :, 0] > 0.5
    shift = (lab_t[inside].mean(axis=0) - lab_d[inside].mean(axis=0)) * rng.uniform(0.3, 0.9)
    matched = cv2.cvtColor(np.clip(lab_d + shift, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)
    out = np.clip(target.astype(np.float32) * (1 - mask) + matched * mask, 0, 255).astype(np.uint8)
    fx, fy, fw, fh = target_box
    pad = int(1.8 * fw)
    big = _widen(out, 0, pad, pad, pad)
    scene = _pil(big)
    cx, cy = fx + pad, fy
    if where == "under_chin":
        centre_p = (cx + fw / 2, cy + fh * 1.6)
    elif where == "left":
        centre_p = (cx - 0.95 * fw, cy + fh * 0.6)
    else:
        centre_p = (cx + fw + 0.95 * fw, cy + fh * 0.6)
    _place(scene, code_sheet(code, rng), centre_p, 1.6 * fw, rng)
    return _phone_jpeg(_bgr(scene), rng)
