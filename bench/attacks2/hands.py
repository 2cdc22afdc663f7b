"""Hand-written code sheets and varied newspaper date lines, drawn apart from tests/attackgen.

tests/attackgen writes "hand-written" codes with a sans-serif font, each letter turned a
little. Real people hold up something else: block capitals drawn stroke by stroke, with a
ballpoint, a felt pen or a marker, slanted, uneven in size and spacing, on whatever paper
was at hand (a white sheet, a yellow sticky note, a lined notebook page, brown kraft).
This module draws letters from stroke skeletons (no font): each writer has a slant, a
letter width, a pen, a wobble and habits (an open or closed 4, a crossed 7, a J with or
without a top bar), and each letter is redrawn with fresh jitter.

Newspapers print the date in many forms (2026年12月3日, 二〇二六年十二月三日, 2026-12-03,
2026.12.03, 12月3日 星期四 under a year line ...), in other type and sizes.

Nothing is tuned on these pictures: they measure how reading holds on writing nobody here
rehearsed. They share no code with tests/attackgen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Stroke = list[tuple[float, float]]

# Skeletons in a unit box: x 0..1 left to right, y 0..1 top to bottom. A stroke marked
# smooth (by its glyph being in SMOOTH) is drawn as a Catmull-Rom curve through its points.
GLYPHS: dict[str, list[list[Stroke]]] = {
    "A": [[[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.62), (0.78, 0.62)]]],
    "C": [[[(0.95, 0.15), (0.6, 0), (0.2, 0.1), (0, 0.5), (0.2, 0.9), (0.6, 1), (0.95, 0.85)]]],
    "E": [
        [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.75, 0.5)]],
        [[(0, 0), (0, 1)], [(0, 0), (1, 0)], [(0, 0.5), (0.7, 0.5)], [(0, 1), (1, 1)]],
    ],
    "F": [[[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.75, 0.5)]]],
    "G": [
        [
            [(0.95, 0.15), (0.6, 0), (0.2, 0.1), (0, 0.5), (0.2, 0.9), (0.6, 1), (0.95, 0.85), (1, 0.6)],
            [(0.55, 0.6), (1, 0.6)],
        ]
    ],
    "H": [[[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]]],
    "J": [
        [[(0.8, 0), (0.8, 0.7), (0.65, 0.95), (0.35, 1), (0.1, 0.8)]],
        [[(0.3, 0), (1, 0)], [(0.72, 0), (0.72, 0.7), (0.6, 0.95), (0.3, 1), (0.05, 0.8)]],
    ],
    "K": [[[(0, 0), (0, 1)], [(0.95, 0), (0, 0.58)], [(0.3, 0.4), (1, 1)]]],
    "M": [[[(0, 1), (0.05, 0), (0.5, 0.65), (0.95, 0), (1, 1)]]],
    "N": [[[(0, 1), (0, 0), (1, 1), (1, 0)]]],
    "P": [[[(0, 1), (0, 0)], [(0, 0), (0.65, 0), (0.95, 0.12), (0.95, 0.38), (0.65, 0.52), (0, 0.52)]]],
    "R": [
        [
            [(0, 1), (0, 0)],
            [(0, 0), (0.65, 0), (0.95, 0.12), (0.95, 0.38), (0.65, 0.52), (0, 0.52)],
            [(0.4, 0.52), (1, 1)],
        ]
    ],
    "T": [[[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]]],
    "W": [[[(0, 0), (0.22, 1), (0.5, 0.3), (0.78, 1), (1, 0)]]],
    "X": [[[(0, 0), (1, 1)], [(1, 0), (0, 1)]]],
    "Y": [[[(0, 0), (0.5, 0.5)], [(1, 0), (0.5, 0.5), (0.5, 1)]], [[(0, 0), (0.5, 0.5)], [(1, 0), (0.15, 1)]]],
    "3": [
        [
            [
                (0.05, 0.12),
                (0.35, 0),
                (0.75, 0.04),
                (0.9, 0.22),
                (0.75, 0.42),
                (0.4, 0.48),
                (0.85, 0.58),
                (0.97, 0.8),
                (0.75, 0.98),
                (0.35, 1),
                (0.03, 0.86),
            ]
        ],
        [[(0.05, 0), (0.95, 0), (0.45, 0.42), (0.85, 0.55), (0.97, 0.8), (0.7, 1), (0.3, 1), (0.03, 0.86)]],
    ],
    "4": [
        [[(0.72, 1), (0.72, 0), (0, 0.7), (1, 0.7)]],
        [[(0.25, 0), (0.05, 0.62), (1, 0.62)], [(0.72, 0.3), (0.72, 1)]],
    ],
    "6": [
        [
            [
                (0.85, 0.05),
                (0.5, 0),
                (0.15, 0.25),
                (0.03, 0.62),
                (0.15, 0.92),
                (0.5, 1),
                (0.85, 0.9),
                (0.95, 0.7),
                (0.8, 0.5),
                (0.5, 0.45),
                (0.12, 0.6),
            ]
        ]
    ],
    "7": [
        [[(0, 0), (1, 0), (0.35, 1)]],
        [[(0, 0.08), (0.1, 0), (1, 0), (0.35, 1)], [(0.3, 0.5), (0.85, 0.5)]],
    ],
    "9": [
        [
            [
                (0.9, 0.35),
                (0.65, 0.52),
                (0.3, 0.5),
                (0.05, 0.3),
                (0.2, 0.05),
                (0.55, 0),
                (0.88, 0.12),
                (0.92, 0.4),
                (0.85, 0.72),
                (0.6, 1),
                (0.2, 0.96),
            ]
        ]
    ],
}
SMOOTH = frozenset("CGJ369")

# Paper at hand: (name, BGR colour, ruled lines colour or None).
PAPERS = (
    ("white", (244, 246, 247), None),
    ("sticky", (120, 232, 250), None),
    ("notebook", (240, 243, 244), (214, 170, 140)),
    ("kraft", (120, 160, 196), None),
    ("grey", (214, 216, 214), None),
)
# Pens: (name, stroke width as a fraction of the letter height, ink BGR choices).
PENS = (
    ("ballpoint", (0.035, 0.05), ((140, 40, 20), (40, 30, 25), (30, 30, 150))),
    ("felt", (0.06, 0.09), ((25, 25, 25), (120, 40, 10), (40, 40, 170))),
    ("marker", (0.1, 0.15), ((20, 20, 20), (90, 30, 10), (30, 30, 160))),
)


@dataclass(frozen=True)
class Writer:
    """How one person writes: habits kept across letters, jitter fresh per letter."""

    slant: float  # shear, + leans right
    width: float  # letter width / height
    pen: str
    stroke: float  # stroke width / letter height
    ink: tuple[int, int, int]
    wobble: float  # point jitter / letter height
    variant: int  # which skeleton of a letter with several (an open 4, a crossed 7, ...)

    @staticmethod
    def random(rng: random.Random) -> Writer:
        pen, (lo, hi), inks = rng.choice(PENS)
        return Writer(
            slant=rng.uniform(-0.12, 0.3),
            width=rng.uniform(0.55, 0.85),
            pen=pen,
            stroke=rng.uniform(lo, hi),
            ink=rng.choice(inks),
            wobble=rng.uniform(0.015, 0.04),
            variant=rng.randrange(2),
        )


def _curve(points: np.ndarray, samples: int = 10) -> np.ndarray:
    """A Catmull-Rom curve through the points (ends repeated)."""
    p = np.vstack([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, samples, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5
                * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
            )
    out.append(p[-2])
    return np.array(out)


def _letter_strokes(ch: str, writer: Writer, height: float, rng: random.Random) -> list[np.ndarray]:
    variants = GLYPHS[ch]
    strokes = variants[writer.variant % len(variants)]
    w = height * writer.width * (0.72 if ch in "J1" else 1.0) * rng.uniform(0.9, 1.1)
    h = height * rng.uniform(0.9, 1.1)
    out = []
    for stroke in strokes:
        pts = np.array(stroke, np.float64)
        pts = pts + np.array([[rng.gauss(0, writer.wobble), rng.gauss(0, writer.wobble)] for _ in pts])
        # Strokes often overshoot or stop short at their ends.
        if len(pts) >= 2:
            d0, d1 = pts[0] - pts[1], pts[-1] - pts[-2]
            pts[0] += d0 * rng.uniform(-0.08, 0.1)
            pts[-1] += d1 * rng.uniform(-0.08, 0.1)
        xy = np.column_stack([pts[:, 0] * w, pts[:, 1] * h])
        xy[:, 0] += (h - xy[:, 1]) * writer.slant
        out.append(_curve(xy) if ch in SMOOTH else xy)
    return out


def code_sheet_hand(code: str, rng: random.Random, width: int = 600) -> tuple[np.ndarray, str]:
    """A sheet with the code written by hand; (BGR image, a short description of it)."""
    writer = Writer.random(rng)
    paper_name, paper, ruled = rng.choice(PAPERS)
    if paper_name == "sticky":
        height = width  # a square note
    else:
        height = int(width * rng.uniform(0.62, 0.75))
    scale = 3  # drawn large, then reduced: smooth edges like ink on paper
    big = np.zeros((height * scale, width * scale, 3), np.uint8)
    big[:] = paper
    tex = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 3, big.shape[:2]).astype(np.float32)
    big = np.clip(big.astype(np.float32) + cv2.GaussianBlur(tex, (0, 0), 3)[:, :, None], 0, 255).astype(np.uint8)
    if ruled is not None:
        gap = int(height * scale * rng.uniform(0.11, 0.14))
        for y in range(gap, height * scale, gap):
            cv2.line(big, (0, y), (width * scale, y), ruled, max(1, scale))
    letter_h = width * scale * rng.uniform(0.11, 0.16)
    pitch = letter_h * (writer.width + rng.uniform(0.2, 0.45))
    total = pitch * len(code)
    if total > 0.86 * width * scale:  # a writer running out of paper writes smaller
        letter_h, pitch = letter_h * 0.86 * width * scale / total, pitch * 0.86 * width * scale / total
        total = pitch * len(code)
    x = (width * scale - total) / 2 + rng.uniform(-0.04, 0.04) * width * scale
    base = height * scale * rng.uniform(0.45, 0.62)
    drift = rng.uniform(-0.06, 0.06)  # the line climbs or sinks across the sheet
    thick = max(scale, round(writer.stroke * letter_h))
    for i, ch in enumerate(code):
        y0 = base - letter_h + drift * (x - width * scale / 2) + rng.gauss(0, 0.04) * letter_h
        for stroke in _letter_strokes(ch, writer, letter_h, rng):
            pts = (stroke + np.array([x, y0])).round().astype(np.int32)
            t = max(scale, int(thick * rng.uniform(0.85, 1.15)))
            cv2.polylines(big, [pts], False, writer.ink, t, cv2.LINE_AA)
        x += pitch * rng.uniform(0.85, 1.15)
        if i == 2 and rng.random() < 0.25:
            x += pitch * 0.4  # some people group the code 3 + 3
    sheet = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    return sheet, f"{writer.pen} on {paper_name}, slant {writer.slant:+.2f}"


CN_DIGITS = "〇一二三四五六七八九"
SERIF_CJK = (
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


def _cn_number(n: int) -> str:
    """12 -> 十二, 3 -> 三, 20 -> 二十, 31 -> 三十一 (months and days as newspapers print them)."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


def date_forms(day: date, rng: random.Random) -> tuple[str, str]:
    """(a date line in one of the forms papers print, the form's name)."""
    weekday = "一二三四五六日"[day.weekday()]
    week = rng.choice([f"星期{weekday}", f"周{weekday}", ""])
    forms = {
        "arabic": f"{day.year}年{day.month}月{day.day}日",
        "arabic_padded": f"{day.year}年{day.month:02d}月{day.day:02d}日",
        "chinese": "".join(CN_DIGITS[int(c)] for c in str(day.year))
        + f"年{_cn_number(day.month)}月{_cn_number(day.day)}日",
        "iso": day.isoformat(),
        "dotted": f"{day.year}.{day.month:02d}.{day.day:02d}",
        "slashed": f"{day.year}/{day.month}/{day.day}",
    }
    name = rng.choice(sorted(forms))
    return (f"{forms[name]}  {week}".strip(), name)


def newspaper_page(day: date, rng: random.Random, width: int = 640) -> tuple[np.ndarray, str]:
    """A front page in other type: masthead (red, black or blue), a date line in a random
    form and size (small ones included), columns of body text; (BGR image, the form)."""
    height = int(width * rng.uniform(0.7, 1.1))
    img = Image.new("RGB", (width, height), tuple(rng.randrange(226, 244) for _ in range(3)))
    d = ImageDraw.Draw(img)
    title = rng.choice(["新华日报", "北京日报", "解放日报", "大众日报", "羊城晚报", "都市时报"])
    mast_colour = rng.choice([(190, 25, 30), (20, 20, 20), (20, 50, 140)])
    font = ImageFont.truetype(rng.choice(SERIF_CJK), int(width / rng.uniform(6, 8)))
    d.text((int(width * rng.uniform(0.03, 0.08)), 10), title, font=font, fill=mast_colour)
    line, form = date_forms(day, rng)
    size = int(width / rng.uniform(13, 24))  # from a headline size down to small print
    y = int(height * rng.uniform(0.22, 0.32))
    d.text(
        (int(width * rng.uniform(0.04, 0.1)), y),
        line,
        font=ImageFont.truetype(rng.choice(SERIF_CJK), size),
        fill=(25, 25, 25),
    )
    body = ImageFont.truetype(rng.choice(SERIF_CJK), max(9, width // 48))
    filler = "经济发展稳中向好各地积极推进民生工程建设城乡面貌持续改善"
    yy = y + size + 20
    while yy < height - 20:
        start = rng.randrange(len(filler))
        d.text((14, yy), (filler[start:] + filler)[: width // max(10, width // 48) - 2], font=body, fill=(90, 90, 90))
        yy += int(width / 40)
    return np.array(img)[:, :, ::-1].copy(), form


def held_up(
    photo: np.ndarray,
    face_box: tuple[float, float, float, float],
    sheet_bgr: np.ndarray,
    where: str,
    width_faces: float,
    rng: random.Random,
) -> np.ndarray:
    """The seller holds `sheet_bgr` under the chin or beside the face, `width_faces` face
    widths wide (a small sheet, or one held far back, makes small writing), photographed."""
    from bench.attacks2.scenes import _bgr, _phone_jpeg, _pil, _place, _widen

    fx, fy, fw, fh = face_box
    pad = int((0.6 + width_faces) * fw)
    big = _widen(photo, 0, pad, pad, pad)
    scene = _pil(big)
    cx, cy = fx + pad, fy
    w = width_faces * fw
    h = w * sheet_bgr.shape[0] / sheet_bgr.shape[1]
    gap = rng.uniform(0.05, 0.2) * fw
    if where == "under_chin":
        centre = (cx + fw / 2 + rng.uniform(-0.1, 0.1) * fw, cy + fh * 1.05 + h / 2)
    elif where == "left":
        centre = (cx - gap - w / 2, cy + fh * rng.uniform(0.4, 0.8))
    else:
        centre = (cx + fw + gap + w / 2, cy + fh * rng.uniform(0.4, 0.8))
    _place(scene, _pil(sheet_bgr), centre, w, rng)
    return _phone_jpeg(_bgr(scene), rng)
