"""Our own challenge-response generator: genuine responses and attacks, from real photos.

A response is a real photo of the person with a rendered white paper (the code in large
print or hand-writing, or a newspaper masthead with a date) composed where the pose asks:
under the chin, or in the left or right half of the picture beside the face. The paper is
held as a person holds one: never over the face, slightly turned and in perspective, lit
like the scene (a little darker than pure white, with a gradient), with a soft shadow on
what is behind it and sometimes a thumb over an edge. When the photo is cropped too
tightly for the paper, the scene is extended (a wider shot), never the face covered.

Presentation attacks (a screen or a print of a genuine response, re-photographed) are in
`tests.attackgen.presentation`.
"""

from __future__ import annotations

import random
from datetime import date

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.vision.faces import FaceEngine

LATIN_FONT = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
PRINT_FONTS = (
    LATIN_FONT,
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
HAND_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
)
A_RATIO = 1 / np.sqrt(2)  # A4 / A5 paper, landscape


def paper_with_code(code: str, width: int = 600, rng: random.Random | None = None, style: str = "print") -> np.ndarray:
    """A white A-series sheet (landscape) with the code in large print (style "print") or
    written with a marker (style "hand": uneven letters, baseline and slant)."""
    rng = rng or random.Random(0)
    height = int(width * A_RATIO)
    img = Image.new("RGB", (width, height), (246, 246, 242))
    d = ImageDraw.Draw(img)
    if style == "print":
        font = ImageFont.truetype(rng.choice(PRINT_FONTS) if rng.random() < 0.7 else LATIN_FONT, int(width / 6.5))
        tw = d.textlength(code, font=font)
        d.text(((width - tw) / 2, height * rng.uniform(0.3, 0.42)), code, font=font, fill=(15, 15, 15))
        return np.array(img)[:, :, ::-1].copy()
    # Hand-written: each letter drawn on its own, a little rotated, scaled and shifted.
    ink = rng.choice([(20, 20, 20), (25, 35, 110), (15, 15, 60)])
    path = rng.choice(HAND_FONTS)
    size = int(width / rng.uniform(5.8, 7.0))
    step = width * rng.uniform(0.13, 0.145)
    x = (width - step * len(code)) / 2
    baseline = height * rng.uniform(0.55, 0.65)
    for ch in code:
        s = int(size * rng.uniform(0.9, 1.1))
        tile = Image.new("L", (2 * s, 2 * s), 0)
        font = ImageFont.truetype(path, s)
        stroke = max(1, s // rng.randrange(18, 30))
        ImageDraw.Draw(tile).text((s, s), ch, font=font, fill=255, stroke_width=stroke, anchor="mm")
        tile = tile.rotate(rng.uniform(-8, 8), resample=Image.BICUBIC)
        tile = tile.crop(tile.getbbox())
        y = baseline + rng.uniform(-0.03, 0.03) * height - tile.size[1]
        img.paste(Image.new("RGB", tile.size, ink), (int(x), int(y)), tile)
        x += max(step * rng.uniform(0.92, 1.08), tile.size[0] + 0.02 * width)
    return np.array(img)[:, :, ::-1].copy()


def newspaper(day: date, width: int = 600, rng: random.Random | None = None, iso: bool | None = None) -> np.ndarray:
    """A newspaper front page: red masthead, the date line (2026年11月22日 or 2026-11-22)
    with the weekday, and columns of grey text below."""
    rng = rng or random.Random(0)
    iso = rng.random() < 0.3 if iso is None else iso
    height = int(width * 0.75)
    img = Image.new("RGB", (width, height), (238, 236, 228))
    d = ImageDraw.Draw(img)
    title = rng.choice(["人民日报", "光明日报", "经济日报", "南方日报"])
    d.text((20, 14), title, font=ImageFont.truetype(CJK_FONT, int(width / 7)), fill=(170, 20, 20))
    weekday = "一二三四五六日"[day.weekday()]
    line = f"{day.isoformat()}" if iso else f"{day.year}年{day.month}月{day.day}日"
    d.text(
        (20, int(height * 0.36)),
        f"{line}  星期{weekday}",
        font=ImageFont.truetype(CJK_FONT, int(width / 13)),
        fill=(20, 20, 20),
    )
    for i in range(4):
        y = int(height * (0.58 + 0.09 * i))
        d.line((20, y, width - 20, y), fill=(120, 120, 120), width=3)
    return np.array(img)[:, :, ::-1].copy()


def _scene_white(photo: np.ndarray) -> np.ndarray:
    """The colour a white sheet takes in this scene's light (BGR, 0..1 per channel)."""
    flat = photo.reshape(-1, 3).astype(np.float32)
    lum = flat.mean(axis=1)
    bright = flat[lum >= np.percentile(lum, 90)].mean(axis=0)
    tint = bright / max(float(bright.max()), 1.0)
    return np.clip(0.8 + 0.2 * tint, 0.85, 1.0)  # paper stays near-neutral under a tinted light


def compose(
    photo: np.ndarray,
    engine: FaceEngine,
    paper: np.ndarray,
    where: str,
    rng: random.Random | None = None,
    size: float | None = None,
    lit: bool = False,
) -> np.ndarray:
    """Hold the paper under the chin, or in the left/right half beside the face. `size` is
    the sheet's width in face widths (default 1.4-1.9, an A5/A4 sheet at arm's length;
    a folded newspaper is about 2.2-2.8). `lit`: the "paper" is a screen that gives its own
    light (tests.attackgen.presentation.phone_with_code), not lit by the scene."""
    rng = rng or random.Random(0)
    img = photo.copy()
    faces = engine.detect(img)
    if not faces:
        raise ValueError("no face in the photo")
    fx, fy, fw, fh = faces[0].box
    pw = fw * (size if size is not None else rng.uniform(1.4, 1.9))
    ph = pw * paper.shape[0] / paper.shape[1]
    gap = fw * rng.uniform(0.08, 0.2)
    if where == "under_chin":
        cx, cy = fx + fw / 2 + rng.uniform(-0.15, 0.15) * fw, fy + fh * rng.uniform(1.02, 1.12) + ph / 2
    elif where == "left":
        cx, cy = fx - gap - pw / 2, fy + fh / 2 + rng.uniform(-0.2, 0.3) * fh
    else:
        cx, cy = fx + fw + gap + pw / 2, fy + fh / 2 + rng.uniform(-0.2, 0.3) * fh
    # Corners: a slightly turned sheet in slight perspective.
    angle = np.radians(rng.uniform(-7, 7))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]]) @ rot.T
    corners += np.array([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(4)]) * 0.04 * pw
    corners += np.array([cx, cy])
    # A wider shot when the sheet does not fit (the scene continues beyond the crop).
    h, w = img.shape[:2]
    margin = 6
    left = int(max(0, margin - corners[:, 0].min()))
    right = int(max(0, corners[:, 0].max() - (w - margin)))
    top = int(max(0, margin - corners[:, 1].min()))
    bottom = int(max(0, corners[:, 1].max() - (h - margin)))
    if where in ("left", "right"):
        # The sheet's centre must fall in the requested half of the final picture.
        for _ in range(2):
            width = w + left + right
            centre = cx + left
            if where == "left" and centre >= width / 2 - pw * 0.1:
                right += int(2 * centre - width + pw * 0.2 + 1)
            if where == "right" and centre <= width / 2 + pw * 0.1:
                left += int(width - 2 * centre + pw * 0.2 + 1)
    if left or right or top or bottom:
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REPLICATE)
        corners += np.array([left, top])
    h, w = img.shape[:2]
    # The sheet in the scene's light, with a gentle gradient across it.
    if lit:
        sheet = paper.astype(np.float32)
    else:
        sheet = paper.astype(np.float32) * _scene_white(photo) * rng.uniform(0.8, 0.97)
    gy, gx = np.mgrid[0 : paper.shape[0], 0 : paper.shape[1]].astype(np.float32)
    gdir = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(gdir) * gx / paper.shape[1] + np.sin(gdir) * gy / paper.shape[0]) * rng.uniform(0.0, 0.12)
    sheet = np.clip(sheet * (1 - grad[:, :, None]), 0, 255)
    src = np.float32([[0, 0], [paper.shape[1], 0], [paper.shape[1], paper.shape[0]], [0, paper.shape[0]]])
    m = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    warped = cv2.warpPerspective(sheet, m, (w, h), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(np.ones(paper.shape[:2], np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    # A soft shadow on whatever is behind the sheet.
    off = np.float32([[1, 0, rng.uniform(-1, 1) * 0.03 * pw], [0, 1, rng.uniform(0.01, 0.04) * pw]])
    shadow = cv2.warpAffine(alpha, off, (w, h))
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, 0.02 * pw)) * rng.uniform(0.25, 0.5)
    out = img.astype(np.float32) * (1 - shadow[:, :, None])
    out = out * (1 - alpha[:, :, None]) + warped * alpha[:, :, None]
    if rng.random() < 0.5:
        _thumb(out, corners, pw, rng)
    out = np.clip(out + np.random.default_rng(rng.randrange(1 << 30)).normal(0, 2.0, out.shape), 0, 255)
    return out.astype(np.uint8)


def _thumb(out: np.ndarray, corners: np.ndarray, pw: float, rng: random.Random) -> None:
    """A thumb over the middle of the sheet's left or right edge (away from the text)."""
    i = rng.choice([0, 1])
    top, bottom = (corners[0], corners[3]) if i == 0 else (corners[1], corners[2])
    t = rng.uniform(0.6, 0.85)
    centre = top * (1 - t) + bottom * t
    skin = np.array(rng.choice([(120, 150, 200), (90, 120, 170), (150, 175, 215)]), np.float64)
    axes = (int(0.06 * pw), int(0.1 * pw))
    cv2.ellipse(out, (int(centre[0]), int(centre[1])), axes, rng.uniform(-20, 20), 0, 360, skin.tolist(), -1)


def face_swap(
    target: np.ndarray, donor: np.ndarray, engine: FaceEngine, rng: random.Random | None = None
) -> np.ndarray:
    """The donor's face Poisson-blended (cv2.seamlessClone) onto the target person's
    photo: the seller's face on another body, the kind of swap an app makes. The face
    region is the convex hull of the landmarks widened to the cheeks and brow."""
    rng = rng or random.Random(0)
    ft, fd = engine.detect(target), engine.detect(donor)
    if not ft or not fd:
        raise ValueError("no face in the photo")
    lt, ld = ft[0].landmarks.astype(np.float32), fd[0].landmarks.astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(ld, lt)
    h, w = target.shape[:2]
    warped = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    centre = lt.mean(axis=0)
    pts = centre + (lt - centre) * rng.uniform(1.5, 1.8)
    hull = cv2.convexHull(np.vstack([pts, centre + np.float32([0, -0.9]) * np.linalg.norm(lt[0] - lt[1])]))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull.astype(np.int32), 255)
    x, y, bw, bh = cv2.boundingRect(hull.astype(np.int32))
    if x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= h - 1:
        raise ValueError("the face is too close to the picture's edge to blend")
    return cv2.seamlessClone(warped, target, mask, (x + bw // 2, y + bh // 2), cv2.NORMAL_CLONE)


def two_faces(a: np.ndarray, b: np.ndarray, engine: FaceEngine | None = None) -> np.ndarray:
    """Two people side by side, their faces at about the same size (both close to the camera)."""
    h = 480
    a2 = cv2.resize(a, (int(a.shape[1] * h / a.shape[0]), h))
    b2 = cv2.resize(b, (int(b.shape[1] * h / b.shape[0]), h))
    if engine is not None:
        fa, fb = engine.detect(a2), engine.detect(b2)
        if fa and fb:
            scale = fa[0].box[2] / fb[0].box[2]
            b2 = cv2.resize(b2, None, fx=scale, fy=scale)
            b2 = cv2.resize(b2, (int(b2.shape[1] * h / b2.shape[0]), h)) if b2.shape[0] < h else b2[:h]
    return np.hstack([a2, b2])


def jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def camera(bgr: np.ndarray, rng: random.Random) -> np.ndarray:
    """What a phone sends: JPEG at quality 80-95."""
    return cv2.imdecode(np.frombuffer(jpeg(bgr, rng.randrange(80, 96)), np.uint8), cv2.IMREAD_COLOR)


def recompress(bgr: np.ndarray) -> np.ndarray:
    """A near-copy of an image (resized and recompressed), as a replay attacker sends it."""
    small = cv2.resize(bgr, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)
    return cv2.imdecode(np.frombuffer(jpeg(small, 75), np.uint8), cv2.IMREAD_COLOR)


def pil_image(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
