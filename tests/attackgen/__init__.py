"""Our own challenge-response generator: genuine responses and attacks, from real photos.

A response is a real photo of the person with a rendered white paper (the code in large
print, or a newspaper masthead with a date) composed where the pose asks: under the chin,
or in the left or right half of the picture beside the face.
"""

from __future__ import annotations

from datetime import date

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.vision.faces import FaceEngine

LATIN_FONT = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def paper_with_code(code: str, width: int = 360) -> np.ndarray:
    height = int(width * 0.55)
    img = Image.new("RGB", (width, height), (246, 246, 242))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(LATIN_FONT, int(width / 6.2))
    tw = d.textlength(code, font=font)
    d.text(((width - tw) / 2, height * 0.25), code, font=font, fill=(15, 15, 15))
    return np.array(img)[:, :, ::-1].copy()


def newspaper(day: date, width: int = 420) -> np.ndarray:
    height = int(width * 0.75)
    img = Image.new("RGB", (width, height), (238, 236, 228))
    d = ImageDraw.Draw(img)
    d.text((20, 14), "人民日报", font=ImageFont.truetype(CJK_FONT, int(width / 7)), fill=(170, 20, 20))
    d.text(
        (20, int(height * 0.36)),
        f"{day.year}年{day.month}月{day.day}日",
        font=ImageFont.truetype(CJK_FONT, int(width / 11)),
        fill=(20, 20, 20),
    )
    for i in range(4):
        y = int(height * (0.58 + 0.09 * i))
        d.line((20, y, width - 20, y), fill=(120, 120, 120), width=3)
    return np.array(img)[:, :, ::-1].copy()


def compose(photo: np.ndarray, engine: FaceEngine, paper: np.ndarray, where: str) -> np.ndarray:
    """Put the paper under the chin, or in the left/right half beside the face."""
    img = photo.copy()
    h, w = img.shape[:2]
    faces = engine.detect(img)
    if not faces:
        raise ValueError("no face in the photo")
    fx, fy, fw, fh = faces[0].box
    pw = int(min(w * 0.45, fw * 1.6))
    ph = int(pw * paper.shape[0] / paper.shape[1])
    sheet = cv2.resize(paper, (pw, ph), interpolation=cv2.INTER_AREA)
    if where == "under_chin":
        x, y = int(fx + fw / 2 - pw / 2), int(fy + fh * 1.05)
        if y + ph > h:  # a closer crop: extend the picture downwards (the body continues)
            img = cv2.copyMakeBorder(img, 0, y + ph - h + 8, 0, 0, cv2.BORDER_REPLICATE)
            h = img.shape[0]
    elif where == "left":
        x, y = int(max(4, min(fx - pw - 10, w / 2 - pw - 4))), int(fy + fh / 2 - ph / 2)
    else:
        x, y = int(min(w - pw - 4, max(fx + fw + 10, w / 2 + 4))), int(fy + fh / 2 - ph / 2)
    x, y = max(0, min(x, w - pw)), max(0, min(y, h - ph))
    img[y : y + ph, x : x + pw] = sheet
    return img


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


def recompress(bgr: np.ndarray) -> np.ndarray:
    """A near-copy of an image (resized and recompressed), as a replay attacker sends it."""
    small = cv2.resize(bgr, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)
    return cv2.imdecode(np.frombuffer(jpeg(small, 75), np.uint8), cv2.IMREAD_COLOR)


def pil_image(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
