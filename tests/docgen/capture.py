"""Capture tiers and styles: what a rendered document looks like when a seller sends it.

Tiers (how degraded):
- clean: a flat scan with a margin of white around the document.
- photo: the document on a textured desk, in perspective, rotated by a multiple of 90
  degrees plus up to 15, with uneven light, JPEG-compressed (quality 70-85).
- hard: stronger blur, a glare spot, downscaled, rotation up to 15 degrees plus more
  perspective, JPEG quality 55-65.

Styles (how the document is framed), each rendered at every tier (issue #15):
- margin: the tiers above as they always were (white margin for clean, a desk otherwise).
- full_frame: a scan cropped to the document: it fills the image, no background at all.
- screenshot: flat, axis-aligned, inside a phone or desktop app's chrome (status bar,
  title bar, bottom bar), with no or little side margin.
- textured: the document with 40 px or more of margin on stone, wood or a printed page.
- phone: a phone photo, the document large in the frame, in perspective, with blur, a
  light gradient and vignetting, JPEG.
- HELD_OUT_STYLE (fabric): a phone photo on woven fabric with a colour cast and a cast
  shadow. Nobody tunes the reader on it; report its numbers separately.

Deterministic for a seed. Returns the captured image and the document's corners in it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

TIERS = ("clean", "photo", "hard")
STYLES = ("margin", "full_frame", "screenshot", "textured", "phone")
HELD_OUT_STYLE = "fabric"
ALL_STYLES = (*STYLES, HELD_OUT_STYLE)
SURFACES = ("stone", "wood", "printed_page")  # textured style; fabric only in the held-out style

_CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
_TEXT = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作"
    "地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
)


@dataclass
class Capture:
    image: np.ndarray
    quad: np.ndarray  # (4, 2) corners: top-left, top-right, bottom-right, bottom-left of the document
    tier: str
    style: str = "margin"


def _desk(rng: random.Random, h: int, w: int) -> np.ndarray:
    nr = np.random.default_rng(rng.randrange(1 << 30))
    base = np.array([rng.randrange(40, 120), rng.randrange(40, 110), rng.randrange(30, 100)], np.float32)
    texture = cv2.GaussianBlur(nr.normal(0, 18, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 4))[:, :, None]
    grain = nr.normal(0, 6, (h, w, 1)).astype(np.float32)
    return np.clip(base + texture + grain, 0, 255).astype(np.uint8)


def _octaves(nr: np.random.Generator, h: int, w: int, scales: tuple[float, ...]) -> np.ndarray:
    """Smooth noise summed over several blur scales, about unit spread."""
    out = np.zeros((h, w), np.float32)
    for s in scales:
        layer = cv2.GaussianBlur(nr.normal(0, 1, (h, w)).astype(np.float32), (0, 0), s)
        out += layer / (layer.std() + 1e-6)
    return out / len(scales)


def _stone(rng: random.Random, h: int, w: int) -> np.ndarray:
    """Granite or terrazzo: mottled grey-beige with dark and light speckles."""
    nr = np.random.default_rng(rng.randrange(1 << 30))
    tone = rng.uniform(90, 190)
    tint = np.array([rng.uniform(-12, 8), rng.uniform(-6, 6), rng.uniform(-4, 14)], np.float32)
    mottle = _octaves(nr, h, w, (2.0, 6.0, 18.0)) * rng.uniform(14, 30)
    img = tone + tint[None, None, :] + mottle[:, :, None]
    speck = nr.random((h, w))
    dark, light = speck < rng.uniform(0.01, 0.05), speck > 1 - rng.uniform(0.005, 0.03)
    spots = cv2.dilate((dark * 255).astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    img[spots] -= rng.uniform(50, 100)
    img[light] += rng.uniform(40, 70)
    return np.clip(cv2.GaussianBlur(img, (0, 0), 0.7), 0, 255).astype(np.uint8)


def _wood(rng: random.Random, h: int, w: int) -> np.ndarray:
    """Wood grain: wavy stripes along one axis, in a brown from pale oak to walnut."""
    nr = np.random.default_rng(rng.randrange(1 << 30))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        x, y = y, x
    warp = _octaves(nr, h, w, (20.0, 60.0)) * rng.uniform(8, 25)
    period = rng.uniform(6, 18)
    grain = np.sin((y + warp) / period * 2 * np.pi) * 0.5 + 0.5
    fine = _octaves(nr, h, w, (1.0,)) * 0.15
    light = rng.uniform(0.45, 1.0)
    colour = np.array([60, 110, 170], np.float32) * light  # BGR brown
    img = colour[None, None, :] * (0.75 + 0.25 * grain[:, :, None] + fine[:, :, None])
    # Planks: a dark seam every so often.
    plank = rng.randrange(140, 320)
    seams = (np.abs((x + rng.randrange(plank)) % plank) < 2)[:, :, None]
    img = np.where(seams, img * 0.55, img)
    return np.clip(img, 0, 255).astype(np.uint8)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_CJK_FONT, size)


def _printed_page(rng: random.Random, h: int, w: int) -> np.ndarray:
    """A printed page (a newspaper or a letter) under the document: lines of dark text."""
    paper = rng.randrange(215, 250)
    img = Image.new("RGB", (w, h), (paper, paper, max(0, paper - rng.randrange(0, 12))))
    d = ImageDraw.Draw(img)
    size = rng.randrange(14, 30)
    ink = rng.randrange(10, 80)
    columns = rng.choice([1, 2, 3])
    col_w = w // columns
    y = rng.randrange(-size, size)
    while y < h:
        for c in range(columns):
            if rng.random() < 0.08:
                continue  # a paragraph break
            n = max(1, (col_w - 2 * size) // size)
            text = "".join(rng.choice(_TEXT) for _ in range(n))
            d.text((c * col_w + size // 2, y), text, font=_font(size), fill=(ink, ink, ink))
        y += int(size * rng.uniform(1.3, 1.8))
    arr = np.array(img)[:, :, ::-1].astype(np.float32)
    nr = np.random.default_rng(rng.randrange(1 << 30))
    arr += nr.normal(0, 3, (h, w, 1)).astype(np.float32)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _fabric(rng: random.Random, h: int, w: int) -> np.ndarray:
    """Woven cloth (held-out style only): a fine warp/weft pattern, a dyed colour, folds."""
    nr = np.random.default_rng(rng.randrange(1 << 30))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    p = rng.uniform(3, 7)
    weave = (np.sin(x / p * np.pi) * np.sin(y / p * np.pi)) * 0.5 + 0.5
    colour = np.array([rng.uniform(30, 220) for _ in range(3)], np.float32)
    folds = _octaves(nr, h, w, (40.0, 90.0)) * 0.18
    img = colour[None, None, :] * (0.8 + 0.2 * weave[:, :, None] + folds[:, :, None])
    img += nr.normal(0, 5, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def surface(kind: str, rng: random.Random, h: int, w: int) -> np.ndarray:
    """A procedural background `h` x `w` (BGR): desk, stone, wood, printed_page or fabric."""
    makers = {"desk": _desk, "stone": _stone, "wood": _wood, "printed_page": _printed_page, "fabric": _fabric}
    return makers[kind](rng, h, w)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _legacy(doc: np.ndarray, tier: str, seed: int) -> Capture:
    """The margin style: the capture the tiers always produced (kept bit for bit)."""
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
    return Capture(_jpeg(img, quality), dst, tier)


def _finish(img: np.ndarray, dst: np.ndarray, tier: str, rng: random.Random, light: float) -> np.ndarray:
    """The tier's degradation of a composed picture: light gradient (`light` strength),
    blur, a glare spot and stronger JPEG on hard."""
    h, w = img.shape[:2]
    f = img.astype(np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if light > 0:
        gx, gy = rng.uniform(-light, light), rng.uniform(-light, light)
        f *= (1.0 + gx * (x / w - 0.5) + gy * (y / h - 0.5))[:, :, None]
    if tier == "hard":
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.9, 1.4))
        cx, cy = dst[:, 0].mean(), dst[:, 1].mean()
        dw, dh = np.ptp(dst[:, 0]), np.ptp(dst[:, 1])
        gxc, gyc = cx + rng.uniform(-0.2, 0.2) * dw, cy + rng.uniform(-0.3, 0.0) * dh
        glare = np.exp(-(((x - gxc) / (0.12 * dw)) ** 2 + ((y - gyc) / (0.08 * dh)) ** 2))
        f += 70 * glare[:, :, None]
    elif tier == "photo":
        f = cv2.GaussianBlur(f, (0, 0), 0.6)
    out = np.clip(f, 0, 255).astype(np.uint8)
    quality = {"clean": rng.randrange(88, 96), "photo": rng.randrange(70, 86), "hard": rng.randrange(55, 66)}[tier]
    return _jpeg(out, quality)


def _full_frame(doc: np.ndarray, tier: str, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """A scan cropped to the document: the picture is the document."""
    h, w = doc.shape[:2]
    scale = {"clean": rng.uniform(0.9, 1.4), "photo": rng.uniform(0.8, 1.2), "hard": rng.uniform(0.6, 0.85)}[tier]
    out = cv2.resize(doc, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    if tier != "clean" and rng.random() < 0.25:
        out = cv2.rotate(out, cv2.ROTATE_180)  # scanned upside down
    oh, ow = out.shape[:2]
    nr = np.random.default_rng(rng.randrange(1 << 30))
    out = np.clip(out.astype(np.float32) + nr.normal(0, 2.5, out.shape), 0, 255).astype(np.uint8)
    return out, np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])


def _chrome_bar(rng: random.Random, w: int, h: int, dark: bool, title: bool) -> np.ndarray:
    """A strip of app chrome: a flat colour with a title or a row of icons."""
    colour = (rng.randrange(20, 60),) * 3 if dark else (rng.randrange(235, 252),) * 3
    if rng.random() < 0.4:
        colour = (rng.randrange(120, 230), rng.randrange(60, 180), rng.randrange(20, 120))
    img = Image.new("RGB", (w, h), colour)
    d = ImageDraw.Draw(img)
    fg = (250, 250, 250) if dark or sum(colour) < 400 else (30, 30, 30)
    size = max(10, int(h * 0.45))
    if title:
        d.text(
            (int(h * 0.9), (h - size) // 2),
            "".join(rng.choice(_TEXT) for _ in range(rng.randrange(2, 6))),
            font=_font(size),
            fill=fg,
        )
        d.line([(int(h * 0.25), h // 2), (int(h * 0.55), h // 4)], fill=fg, width=3)  # a back arrow
        d.line([(int(h * 0.25), h // 2), (int(h * 0.55), 3 * h // 4)], fill=fg, width=3)
    else:
        icons = rng.randrange(3, 6)
        for i in range(icons):
            cx = int((i + 0.5) * w / icons)
            r = int(h * 0.22)
            d.rounded_rectangle((cx - r, h // 2 - r, cx + r, h // 2 + r), radius=r // 3, outline=fg, width=2)
    return np.array(img)[:, :, ::-1].copy()


def _status_bar(rng: random.Random, w: int, h: int, dark: bool) -> np.ndarray:
    colour = (0, 0, 0) if dark else (rng.randrange(235, 252),) * 3
    img = Image.new("RGB", (w, h), colour)
    d = ImageDraw.Draw(img)
    fg = (240, 240, 240) if dark else (20, 20, 20)
    d.text(
        (int(h * 0.8), int(h * 0.15)),
        f"{rng.randrange(0, 24)}:{rng.randrange(0, 60):02d}",
        font=_font(max(10, int(h * 0.6))),
        fill=fg,
    )
    for i in range(3):  # signal, wifi, battery
        x0 = w - int(h * (1.2 + 1.1 * i))
        d.rectangle((x0, int(h * 0.3), x0 + int(h * 0.7), int(h * 0.7)), fill=fg)
    return np.array(img)[:, :, ::-1].copy()


def _screenshot(doc: np.ndarray, tier: str, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """The document shown in an app: flat and straight, chrome strips above and below,
    side margin from none to a little."""
    h, w = doc.shape[:2]
    screen_w = rng.choice([720, 828, 1080, 1170, 1280])
    side = rng.choice([0, 0, rng.randrange(4, 24)])
    doc_w = screen_w - 2 * side
    doc_h = round(h * doc_w / w)
    shown = cv2.resize(doc, (doc_w, doc_h), interpolation=cv2.INTER_AREA if doc_w < w else cv2.INTER_CUBIC)
    dark = rng.random() < 0.35
    status_h = rng.choice([0, round(screen_w * 0.05)])
    bar_h = round(screen_w * rng.uniform(0.08, 0.13))
    bottom_h = rng.choice([0, round(screen_w * rng.uniform(0.1, 0.16))])
    gap_top, gap_bottom = rng.randrange(0, 60), rng.randrange(0, 200)
    app_bg = (rng.randrange(10, 40),) * 3 if dark else (rng.randrange(225, 250),) * 3
    body_h = gap_top + doc_h + gap_bottom
    body = np.full((body_h, screen_w, 3), app_bg, np.uint8)
    body[gap_top : gap_top + doc_h, side : side + doc_w] = shown
    parts = []
    if status_h:
        parts.append(_status_bar(rng, screen_w, status_h, dark))
    parts.append(_chrome_bar(rng, screen_w, bar_h, dark, title=True))
    parts.append(body)
    if bottom_h:
        parts.append(_chrome_bar(rng, screen_w, bottom_h, dark, title=False))
    img = np.vstack(parts)
    top = status_h + bar_h + gap_top
    quad = np.float32([[side, top], [side + doc_w, top], [side + doc_w, top + doc_h], [side, top + doc_h]])
    if tier == "hard":  # forwarded through a chat app: downscaled
        s = rng.uniform(0.5, 0.7)
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        quad *= s
    return img, quad


def _placed(
    doc: np.ndarray,
    tier: str,
    rng: random.Random,
    back: np.ndarray,
    fill: tuple[float, float],
    min_margin: int,
    tilt: float,
    jitter: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The document laid on `back`, its long side `fill` of the picture's width, turned by a
    multiple of 90 degrees plus up to `tilt`, corners moved by `jitter` (perspective), at
    least `min_margin` px from every edge."""
    h, w = doc.shape[:2]
    out_h, out_w = back.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    scale = rng.uniform(*fill) * out_w / w
    cw, ch = w * scale, h * scale
    turn = rng.choice([0, 0, 0, 90, 180, 270]) if tier != "clean" else 0
    angle = np.radians(turn + rng.uniform(-tilt, tilt))
    corners = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = corners @ rot.T
    j = jitter * min(cw, ch)
    dst += np.array([[rng.uniform(-j, j), rng.uniform(-j, j)] for _ in range(4)])
    span = dst.max(axis=0) - dst.min(axis=0)
    fit = min(1.0, (out_w - 2 * min_margin) / span[0], (out_h - 2 * min_margin) / span[1])
    dst = (dst - dst.mean(axis=0)) * fit
    span = dst.max(axis=0) - dst.min(axis=0)
    room = np.maximum(0.0, np.array([out_w, out_h]) - 2 * min_margin - span)
    offset = np.array([min_margin + rng.uniform(0, room[0]), min_margin + rng.uniform(0, room[1])])
    dst = (dst - dst.min(axis=0) + offset).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(doc, m, (out_w, out_h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (out_w, out_h))
    img = np.where(mask[:, :, None] > 127, warped, back)
    return img, dst


def _shadow(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A soft cast shadow (a hand or a phone) across part of the picture."""
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    d = (x - w * rng.uniform(0.2, 0.8)) * np.cos(a) + (y - h * rng.uniform(0.2, 0.8)) * np.sin(a)
    shade = 1.0 - rng.uniform(0.15, 0.35) / (1.0 + np.exp(-d / (0.03 * max(h, w))))
    return np.clip(img.astype(np.float32) * shade[:, :, None], 0, 255).astype(np.uint8)


def capture_style(doc: np.ndarray, tier: str, style: str, seed: int) -> Capture:
    """The document captured in `style` (one of ALL_STYLES) at `tier` (one of TIERS)."""
    if style == "margin":
        return _legacy(doc, tier, seed)
    rng = random.Random(f"{style}-{tier}-{seed}")
    hard = tier == "hard"
    if style == "full_frame":
        img, quad = _full_frame(doc, tier, rng)
        return Capture(_finish(img, quad, tier, rng, 0.0 if tier == "clean" else 0.15), quad, tier, style)
    if style == "screenshot":
        img, quad = _screenshot(doc, tier, rng)
        # A screenshot is pixel-exact; photo and hard tiers are re-encoded by chat apps.
        quality = {"clean": 95, "photo": rng.randrange(70, 86), "hard": rng.randrange(55, 66)}[tier]
        return Capture(_jpeg(img, quality), quad, tier, style)
    out_w, out_h = (1280, 960) if not hard else (960, 720)
    if rng.random() < 0.3:
        out_w, out_h = out_h, out_w  # a portrait-orientation photo
    if style == "textured":
        back = surface(rng.choice(SURFACES), rng, out_h, out_w)
        tilt, jitter = {"clean": (3.0, 0.0), "photo": (12.0, 0.05), "hard": (15.0, 0.08)}[tier]
        img, quad = _placed(doc, tier, rng, back, (0.5, 0.8), rng.randrange(40, 90), tilt, jitter)
        return Capture(_finish(img, quad, tier, rng, 0.0 if tier == "clean" else 0.25), quad, tier, style)
    if style == "phone":
        back = surface(rng.choice(("desk", *SURFACES)), rng, out_h, out_w)
        tilt, jitter = {"clean": (5.0, 0.03), "photo": (12.0, 0.07), "hard": (15.0, 0.1)}[tier]
        img, quad = _placed(doc, tier, rng, back, (0.72, 0.92), rng.randrange(12, 40), tilt, jitter)
        img = cv2.GaussianBlur(img, (0, 0), {"clean": 0.5, "photo": 0.9, "hard": 1.2}[tier])
        h, w = img.shape[:2]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        vignette = 1.0 - 0.35 * (((x / w - 0.5) ** 2 + (y / h - 0.5) ** 2) / 0.5)
        img = np.clip(img.astype(np.float32) * vignette[:, :, None], 0, 255).astype(np.uint8)
        return Capture(_finish(img, quad, tier, rng, 0.3), quad, tier, style)
    if style == HELD_OUT_STYLE:
        back = surface("fabric", rng, out_h, out_w)
        tilt, jitter = {"clean": (6.0, 0.02), "photo": (14.0, 0.06), "hard": (15.0, 0.09)}[tier]
        img, quad = _placed(doc, tier, rng, back, (0.5, 0.85), rng.randrange(25, 70), tilt, jitter)
        cast = np.array([rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.0), rng.uniform(1.0, 1.12)], np.float32)
        img = np.clip(_shadow(img, rng).astype(np.float32) * cast, 0, 255).astype(np.uint8)
        return Capture(_finish(img, quad, tier, rng, 0.2), quad, tier, style)
    raise ValueError(f"unknown capture style {style!r}; one of {ALL_STYLES}")


def capture(doc: np.ndarray, tier: str, seed: int, style: str = "margin") -> Capture:
    """The document captured at `tier`; `style` picks the framing (default: margin)."""
    return capture_style(doc, tier, style, seed)
