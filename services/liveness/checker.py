"""Checking a challenge response: one live face that matches the ID portrait, the paper
with the right code (or today's newspaper), the requested pose, a fresh challenge, no
replayed image, and no ID card held up instead of a face."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import cv2
import imagehash
import numpy as np
from PIL import Image

from services.core.edit_distance import edit_distance
from services.core.reasons import Reason
from services.identity.documents import presence
from services.identity.documents.ocr import Region, find_words_in
from services.identity.face_match import Decision, FaceMatcher, FaceTemplate, PairType
from services.liveness import medium, pad, portrait, replay, swap
from services.liveness.challenge import CODE_ALPHABET, Challenge, Mode, Pose, freshness, read_code
from services.vision import ppocr
from services.vision.face_quality import head_pose
from services.vision.faces import DETECT_MAX_SIDE

REPLAY_MAX_DISTANCE = 6  # bits of a 64-bit perceptual hash
PAPER_WORK_SIDE = 800  # paper search runs on a picture this size
PAPER_WIDTH = 640  # flattened sheets are this wide
NESTED_AREA = 0.6  # a bright region inside the found one, under this share of its area, is judged too
NESTED_LINE_AREA = 3.0  # ... when it holds the whole text line and is at least this many times its area
SHEET_PER_LINE = 2.0  # a sheet is at most this many times the box estimated from its code line
DATE_LINE_SHARE = 0.6  # a small date line spans at most this share of the sheet's width
TURN_MIN_YAW = 15.0
TILT_MIN_ROLL = 10.0
_DATE = re.compile(r"(20\d\d)\s*[年\-./／]\s*(\d{1,2})\s*[月\-./／]\s*(\d{1,2})")
# Dates in Chinese numerals, as many mastheads print them: 二〇二六年十二月三日 (the zero
# also as ○ or O), months and days with 十.
_CN_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "O": 0, "o": 0, "零": 0, "0": 0}
_CN_DATE = re.compile(
    r"([〇○Oo零0一二三四五六七八九]{4})\s*年\s*([一二三四五六七八九十]{1,3})\s*月\s*([一二三四五六七八九十]{1,4})\s*[日号]"
)


def _cn_number(text: str) -> int | None:
    """十二 -> 12, 三 -> 3, 二十 -> 20, 三十一 -> 31; None for anything else."""
    if "十" not in text:
        return _CN_DIGIT.get(text) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    t = 1 if not tens else _CN_DIGIT.get(tens)
    o = 0 if not ones else _CN_DIGIT.get(ones)
    return None if t is None or o is None else 10 * t + o


def dates_in(text: str) -> list[date]:
    """Every valid date written in `text`: 2026年12月3日, 2026-12-03, 2026.12.03, 2026/12/3,
    二〇二六年十二月三日."""
    found = [date(int(y), int(m), int(d)) for y, m, d in _DATE.findall(text) if _valid(y, m, d)]
    for y, m, d in _CN_DATE.findall(text):
        year = "".join(str(_CN_DIGIT.get(c, "")) for c in y)
        month, day = _cn_number(m), _cn_number(d)
        if year.startswith("20") and month is not None and day is not None and _valid(year, str(month), str(day)):
            found.append(date(int(year), month, day))
    return found


class ReplayStore(Protocol):
    def seen(self, phash: str, max_distance: int) -> list[str]:
        """Subject ids that submitted a near-identical image before."""
        ...

    def index(self) -> replay.Index:
        """Keypoint fingerprints of earlier submissions (services/liveness/replay.py)."""
        ...


class Ocr(Protocol):
    def read(self, regions: list[Region], lang: str, psm: int = 6, whitelist: str | None = None) -> dict: ...


@dataclass
class Check:
    name: str
    verdict: str  # pass / fail / review
    score: float = 0.0
    detail: str = ""
    reasons: list[tuple[Reason, str]] = field(default_factory=list)


@dataclass
class Outcome:
    verdict: str
    checks: list[Check]
    phashes: list[str]
    face_template: np.ndarray | None = None
    fingerprints: list[replay.Fingerprint] = field(default_factory=list)  # to store, paper left out
    paper_box: tuple[int, int, int, int] | None = None  # where the code or date was read

    @property
    def reasons(self) -> list[tuple[Reason, str]]:
        return [r for c in self.checks for r in c.reasons]


def phash(bgr: np.ndarray) -> str:
    return str(imagehash.phash(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))))


@dataclass
class Paper:
    """A bright, paper-shaped quadrilateral in the photo, flattened."""

    quad: np.ndarray  # (4, 2) float32 image pixels: top-left, top-right, bottom-right, bottom-left
    box: tuple[int, int, int, int]  # axis-aligned bounding box x, y, w, h
    flat: np.ndarray  # the sheet warped to a rectangle, BGR
    score: float


def _order_by_image(pts: np.ndarray) -> np.ndarray:
    """Corners as they appear in the picture (a held sheet is turned well under 45°)."""
    s, d = pts.sum(axis=1), pts[:, 1] - pts[:, 0]
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], np.float32)


def _quad_of(hull: np.ndarray) -> np.ndarray:
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float32)
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)


def _flatten(bgr: np.ndarray, quad: np.ndarray, width: int = PAPER_WIDTH) -> np.ndarray:
    tl, tr, br, bl = quad
    w = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    out_h = max(8, round(width * h / max(w, 1.0)))
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, out_h - 1], [0, out_h - 1]], np.float32)
    return cv2.warpPerspective(bgr, cv2.getPerspectiveTransform(quad, dst), (width, out_h), flags=cv2.INTER_AREA)


def find_papers(
    bgr: np.ndarray, face_box: tuple[float, float, float, float] | None, limit: int = 3, coloured: bool = False
) -> list[Paper]:
    """Bright, unsaturated, paper-shaped quadrilaterals that are not the face, best first.
    `coloured`: sheets of any even colour (a yellow sticky note, brown kraft paper), light
    rather than bright; looked for only when no white sheet carried the code.

    Candidates come from several brightness thresholds (relative to this picture, so a dim
    room still finds its paper) and from closed Canny edges (a sheet in front of a white
    wall shows only by its edge and shadow). Each is kept when it is nearly rectangular,
    has a sheet's aspect ratio (A-series 1.41, letters and cards up to 2), does not cover
    the face, and is brighter than the picture around it.
    """
    h, w = bgr.shape[:2]
    scale = min(1.0, PAPER_WORK_SIDE / max(h, w))
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    sh, sw = small.shape[:2]
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    value, sat = hsv[:, :, 2], hsv[:, :, 1]
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    masks = []
    hi = float(np.percentile(value, 97))
    sat_max, value_min = (200, 0.45) if coloured else (60, 0.7)
    if coloured:
        masks += _colour_masks(small)
    else:
        # The brightest whites too: a small sheet before a lit wall a little darker than
        # itself (the 97th percentile is the wall's when the sheet is under 3 % of the frame).
        top = 0.92 * float(np.percentile(value, 99.5))
        for thr in sorted({max(110.0, hi * frac) for frac in (0.9, 0.8, 0.7)} | ({top} if top > hi else set())):
            m = ((value > thr) & (sat < 60)).astype(np.uint8) * 255
            masks.append(cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8), iterations=2))
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 30, 90)
    # The picture's own edge closes the outline of a sheet held partly out of frame.
    cv2.rectangle(edges, (0, 0), (sw - 1, sh - 1), 255, 1)
    masks.append(cv2.dilate(edges, np.ones((3, 3), np.uint8)))
    face_small = None
    if face_box is not None:
        face_small = tuple(v * scale for v in face_box)
    found: list[tuple[float, np.ndarray]] = []
    for i, mask in enumerate(masks):
        mode = cv2.RETR_LIST if i == len(masks) - 1 else cv2.RETR_EXTERNAL
        contours, _ = cv2.findContours(mask, mode, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in contours:
            hull = cv2.convexHull(cnt)
            area = cv2.contourArea(hull)
            if not 0.006 * sh * sw < area < 0.6 * sh * sw:
                continue
            (_, _), (rw, rh), _ = cv2.minAreaRect(hull)
            if min(rw, rh) < 12:
                continue
            aspect = max(rw, rh) / min(rw, rh)
            rect_fill = area / (rw * rh)
            # From a square sticky note or folded newspaper (1.0) to a long slip (2.2).
            if not aspect < 2.2 or rect_fill < 0.85:
                continue
            quad = _order_by_image(_quad_of(hull))
            # The corners ordered as the picture shows them must still span the hull (a
            # thin slanted sliver can order into two repeated corners: no sheet, and its
            # flattening would be thousands of rows tall).
            if cv2.contourArea(quad) < 0.7 * area:
                continue
            poly = np.zeros((sh, sw), np.uint8)
            cv2.fillConvexPoly(poly, quad.astype(np.int32), 255)
            inside = value[poly > 0]
            if float(np.median(inside)) < max(80.0 if coloured else 100.0, value_min * hi):
                continue
            if float(np.median(sat[poly > 0])) > (sat_max + 10 if coloured else 70):
                continue
            if coloured and _spread_hue(hsv[:, :, 0][poly > 0]) > 8:
                continue  # a sheet is one colour; a patch of the scene rarely is
            if face_small is not None:
                fx, fy, fw, fh = face_small
                x, y, bw, bh = cv2.boundingRect(quad.astype(np.int32))
                ix = max(0, min(x + bw, fx + fw) - max(x, fx))
                iy = max(0, min(y + bh, fy + fh) - max(y, fy))
                if ix * iy > 0.3 * fw * fh:
                    continue
                if area < 0.25 * fw * fh:
                    continue  # too small to carry a readable code at this distance
            ring = cv2.dilate(poly, np.ones((15, 15), np.uint8)) - poly
            contrast = float(np.median(inside)) - float(np.median(value[ring > 0]))
            score = rect_fill * (1.0 + max(0.0, contrast) / 60) * np.sqrt(area / (sh * sw))
            found.append((score, quad))
    found.sort(key=lambda t: -t[0])
    papers: list[Paper] = []
    for score, quad in found:
        full = quad / scale
        x, y, bw, bh = cv2.boundingRect(full.astype(np.int32))
        box = (int(x), int(y), int(bw), int(bh))
        if any(_iou(box, p.box) > 0.6 for p in papers):
            continue
        papers.append(Paper(full, box, _flatten(bgr, full), float(score)))
        if len(papers) >= limit:
            break
    return papers


def _colour_masks(small: np.ndarray, k: int = 6) -> list[np.ndarray]:
    """One mask per dominant colour of the picture that is light and saturated enough to be
    a coloured sheet: a sheet is one even colour, so its pixels form one colour cluster
    even where its brightness matches a shirt or a face beside it. Centres come from a
    coarse copy (k-means in Lab), every pixel goes to its nearest centre."""
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    coarse = cv2.resize(lab, (64, max(1, int(64 * lab.shape[0] / lab.shape[1]))), interpolation=cv2.INTER_AREA)
    samples = coarse.reshape(-1, 3)
    if len(samples) < k:
        return []
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(7)  # the same picture gives the same clusters
    _, _, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    nearest = np.argmin(np.stack([((lab - c) ** 2).sum(axis=2) for c in centres]), axis=0)
    masks = []
    for i, (lightness, a, b) in enumerate(centres):
        chroma = float(np.hypot(a - 128, b - 128))
        if lightness < 110 or chroma < 12:  # dark, or grey/white (the white search covers those)
            continue
        m = (nearest == i).astype(np.uint8) * 255
        masks.append(cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8), iterations=2))
    return masks


def _spread_hue(hue: np.ndarray) -> float:
    """Robust spread of OpenCV hues (0..179, circular) in hue steps."""
    angles = hue.astype(np.float32) * (2 * np.pi / 180)
    centre = float(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()))
    diff = np.angle(np.exp(1j * (angles - centre)))
    return float(1.4826 * np.median(np.abs(diff)) * 180 / (2 * np.pi))


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, a[2] * a[3] + b[2] * b[3] - inter)


def find_paper(
    bgr: np.ndarray, face_box: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The most paper-like region that is not the face: (flattened sheet, box), or None."""
    papers = find_papers(bgr, face_box, limit=1)
    return (papers[0].flat, papers[0].box) if papers else None


@dataclass
class TextLine:
    """A row of dark glyphs on a bright, unsaturated background, straightened."""

    crop: np.ndarray  # gray, deskewed, the line with a margin around it
    box: tuple[int, int, int, int]  # where the sheet around the line is, image pixels x, y, w, h
    glyphs: int


def find_text_lines(
    bgr: np.ndarray, face_box: tuple[float, float, float, float] | None, limit: int = 4
) -> list[TextLine]:
    """Rows of 4 to 14 dark glyphs of one size on a bright sheet, anywhere in the picture.

    This finds the code even when the sheet's outline is lost (a sheet in front of a
    white shirt or wall): the glyphs are dark against a local background that is light and
    unsaturated, evenly spaced along a line. The sheet's box is estimated from the line
    (large print fills about two thirds of a sheet's width).
    """
    h, w = bgr.shape[:2]
    scale = min(1.0, PAPER_WORK_SIDE / max(h, w))
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    sat = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[:, :, 1]
    hi = float(np.percentile(gray, 97))
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25)))
    bg_sat = cv2.morphologyEx(sat, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25)))
    diff = background.astype(np.int16) - gray.astype(np.int16)
    ink = (diff > np.maximum(35, 0.3 * background)) & (background > max(100.0, 0.6 * hi)) & (bg_sat < 70)
    ink = ink.astype(np.uint8) * 255
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    sh = gray.shape[0]
    glyphs = [
        (float(x), float(y), float(bw), float(bh))
        for x, y, bw, bh, area in stats[1:]
        # Up to 2.6 heights wide: letters a felt pen or marker joined (a hand-written "PN").
        if 6 <= bh <= 0.25 * sh and bw <= 2.6 * bh and area >= 10 and area <= 0.8 * bw * bh
    ]
    if face_box is not None:
        fx, fy, fw, fh = (v * scale for v in face_box)
        glyphs = [g for g in glyphs if not (fx < g[0] + g[2] / 2 < fx + fw and fy < g[1] + g[3] / 2 < fy + fh)]
    rows = [
        r
        for r in portrait.glyph_rows(glyphs, dy=0.45, height=(0.6, 1.6), gap=1.6)
        if 4 <= _letters(r) <= 14 and sum(g[2] > 1.5 * g[3] for g in r) <= len(r) / 2
    ]
    rows.sort(key=lambda r: -(min(_letters(r), 8) * float(np.median([g[3] for g in r]))))
    out: list[TextLine] = []
    for row in rows[:limit]:
        centres = np.array([[g[0] + g[2] / 2, g[1] + g[3] / 2] for g in row], np.float32)
        lh = float(np.median([g[3] for g in row]))
        slope = float(np.polyfit(centres[:, 0], centres[:, 1], 1)[0]) if len(row) >= 2 else 0.0
        angle = float(np.degrees(np.arctan(slope)))
        x0 = min(g[0] for g in row) / scale
        x1 = max(g[0] + g[2] for g in row) / scale
        y0 = min(g[1] for g in row) / scale
        y1 = max(g[1] + g[3] for g in row) / scale
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        pad = 0.6 * lh / scale
        half_w = (x1 - x0) / 2 / np.cos(np.radians(angle)) + pad
        half_h = lh / scale / 2 + pad
        # Straighten only the neighbourhood of the line (whole photos can be 4,000 px wide).
        rx0, ry0 = max(0, int(cx - 1.3 * half_w)), max(0, int(cy - half_h - 0.3 * half_w))
        rx1, ry1 = min(w, int(cx + 1.3 * half_w)), min(h, int(cy + half_h + 0.3 * half_w))
        region = cv2.cvtColor(bgr[ry0:ry1, rx0:rx1], cv2.COLOR_BGR2GRAY)
        lcx, lcy = cx - rx0, cy - ry0
        rot = cv2.getRotationMatrix2D((lcx, lcy), angle, 1.0)
        straight = cv2.warpAffine(
            region, rot, region.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        crop = straight[max(0, int(lcy - half_h)) : int(lcy + half_h), max(0, int(lcx - half_w)) : int(lcx + half_w)]
        if crop.size == 0:
            continue
        bw_ = (x1 - x0) * 1.5
        bh_ = bw_ * 0.7
        box = (int(cx - bw_ / 2), int(cy - bh_ / 2), int(bw_), int(bh_))
        out.append(TextLine(crop, box, len(row)))
    return out


def _letters(row: list[tuple[float, float, float, float]]) -> int:
    """Letters in a row of glyph boxes: a box wider than 1.5 of its heights holds two or
    more letters that touch."""
    return sum(max(1, round(g[2] / (0.8 * g[3]))) if g[2] > 1.5 * g[3] else 1 for g in row)


def _text_lines(gray: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Ink on a flattened sheet (light divided out) and the boxes of its text lines, tallest
    first. Edges (the sheet's border, a thumb) are cut off first."""
    h, w = gray.shape
    my, mx = int(0.06 * h), int(0.06 * w)
    inner = gray[my : h - my, mx : w - mx]
    background = cv2.morphologyEx(inner, cv2.MORPH_CLOSE, np.ones((31, 31), np.uint8))
    flat = cv2.divide(inner, background, scale=255)
    _, ink = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if float(flat.min()) > 200:  # nothing dark: a blank sheet
        ink[:] = 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    ih, iw = ink.shape
    glyphs = [
        (x, y, bw, bh)
        for x, y, bw, bh, area in stats[1:]
        if 0.06 * ih <= bh <= 0.75 * ih and bw <= 0.35 * iw and area >= 12 and bw * bh < 0.2 * ih * iw
    ]
    lines: list[list[tuple[int, int, int, int]]] = []
    for g in sorted(glyphs, key=lambda g: -g[3]):
        cy = g[1] + g[3] / 2
        for line in lines:
            ly = np.median([x[1] + x[3] / 2 for x in line])
            lh = np.median([x[3] for x in line])
            if abs(cy - ly) < 0.5 * lh and 0.4 * lh < g[3] < 2.5 * lh:
                line.append(g)
                break
        else:
            lines.append([g])
    boxes = []
    for line in sorted(lines, key=lambda ln: -sum(g[3] for g in ln)):
        x0 = min(g[0] for g in line)
        y0 = min(g[1] for g in line)
        x1 = max(g[0] + g[2] for g in line)
        y1 = max(g[1] + g[3] for g in line)
        pad = int(0.25 * (y1 - y0)) + 4
        boxes.append((max(0, x0 - pad), max(0, y0 - pad), min(iw, x1 + pad), min(ih, y1 + pad)))
    return flat, boxes


def _binarisations(crop: np.ndarray) -> list[np.ndarray]:
    """The same text line, binarised several ways: light strokes, heavy strokes, uneven light."""
    if crop.size == 0:
        crop = np.full((8, 8), 255, np.uint8)  # nothing to read, but no error
    scale = 64 / max(crop.shape[0], 1)
    size = (max(1, round(crop.shape[1] * scale)), 64)  # never an empty picture, whatever the crop
    big = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
    _, otsu = cv2.threshold(cv2.GaussianBlur(big, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    adaptive = cv2.adaptiveThreshold(big, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 41, 12)
    kernel = np.ones((3, 3), np.uint8)
    return [big, otsu, cv2.erode(otsu, kernel), cv2.dilate(otsu, kernel), adaptive]


def pose_check(
    pose: Pose,
    landmarks: np.ndarray,
    face_box: tuple[float, float, float, float],
    paper_box: tuple[int, int, int, int] | None,
    width: int,
) -> Check:
    """Head pose from landmarks and where the paper is relative to the face.

    Yaw sign: positive when the nose points towards the right of the picture, which is
    the person's left in an unmirrored photo.
    """
    yaw, _, roll = head_pose(landmarks)
    fx, fy, fw, fh = face_box
    px = py = None
    if paper_box is not None:
        px, py = paper_box[0] + paper_box[2] / 2, paper_box[1] + paper_box[3] / 2
    ok = {
        Pose.HEAD_TURNED_LEFT: yaw >= TURN_MIN_YAW,
        Pose.HEAD_TURNED_RIGHT: yaw <= -TURN_MIN_YAW,
        Pose.HEAD_TILTED: abs(roll) >= TILT_MIN_ROLL,
        Pose.PAPER_UNDER_CHIN: py is not None
        and px is not None
        and py > fy + fh * 0.9
        and abs(px - (fx + fw / 2)) < fw,
        Pose.PAPER_LEFT_HALF: px is not None and px < width / 2,
        Pose.PAPER_RIGHT_HALF: px is not None and px > width / 2,
    }[pose]
    detail = f"yaw {yaw:.0f}°, roll {roll:.0f}°, paper centre {'none' if px is None else f'({px:.0f}, {py:.0f})'}"
    if ok:
        return Check("pose", "pass", detail=f"{pose.value}: {detail}")
    return Check(
        "pose",
        "fail",
        detail=f"{pose.value} not taken: {detail}",
        reasons=[(Reason.POSE_NOT_SATISFIED, f"the requested pose ({pose.value.replace('_', ' ')}) was not taken")],
    )


def check_response(
    challenge: Challenge,
    subject_id: str,
    images: list[np.ndarray],
    reference: FaceTemplate,
    matcher: FaceMatcher,
    ocr: Ocr,
    replays: ReplayStore,
    now: datetime,
    *,
    detect_presentation_attacks: bool = True,
) -> Outcome:
    """Check one challenge response. Every check carries its evidence; the verdict is fail
    when any check fails, review when any asks for a person, else pass."""
    checks: list[Check] = []
    fresh = freshness(challenge, subject_id, now)
    checks.append(
        Check("freshness", "fail" if fresh else "pass", detail="" if fresh else "open, unused, in time", reasons=fresh)
    )
    hashes = [phash(img) for img in images]
    image = images[0]
    # The template keeps its source image, so a borderline match gets the second opinion.
    # Faces at the full working size: the paper and attack rules below use the face box.
    quality, template = matcher.inspect_template(image, what="challenge photo", detect_side=DETECT_MAX_SIDE)
    if template is None:
        reason = quality.reasons[0] if quality.reasons else (Reason.NO_FACE, "no face found")
        checks.append(Check("single_face", "fail", detail=reason[1], reasons=[reason]))
    else:
        checks.append(
            Check("single_face", "pass", detail=f"one face, {quality.eye_distance_px:.0f} px between the eyes")
        )
        outcome = matcher.decide(reference, template, PairType.ID_PORTRAIT_VS_PHOTO)
        verdict = {Decision.MATCH: "pass", Decision.NO_MATCH: "fail", Decision.UNCERTAIN: "review"}[outcome.decision]
        checks.append(
            Check(
                "face_match",
                verdict,
                outcome.similarity,
                f"similarity {outcome.similarity:.3f} with the ID portrait (match at >= {outcome.threshold_match:.3f})",
                [r for r in outcome.reasons if r[0] in (Reason.FACE_NO_MATCH, Reason.FACE_MATCH_UNCERTAIN)],
            )
        )
        if quality.face is not None:
            checks.append(document_portrait_check(image, quality.face.box, ocr))
    if quality.face is not None:
        second = held_document_check(image, quality.face.box, matcher)
        if second is not None:
            checks.append(second)
    read_check, box, quad = _read_best_paper(challenge, image, quality.face.box if quality.face else None, ocr)
    if read_check is None or read_check.verdict != "pass":
        # The paper may have merged with a white shirt or wall: look for the code or date
        # anywhere in the picture, and take the paper to be where it was found.
        found = _find_in_scene(challenge, image, ocr)
        if found is not None:
            read_check, box = found
            quad = None
    if box is None or read_check is None:
        checks.append(
            Check(
                "paper",
                "fail",
                detail="no white paper found",
                reasons=[(Reason.PAPER_NOT_FOUND, "hold a white paper with the code in view")],
            )
        )
    else:
        checks.append(Check("paper", "pass", detail=f"paper at {box}"))
        checks.append(read_check)
        region = quad if quad is not None else medium.quad_of_box(box)
        checks.append(paper_medium_check(image, region, _nested_sheet(image, region)))
        if quality.face is not None:
            checks.append(pose_check(challenge.pose, quality.face.landmarks, quality.face.box, box, image.shape[1]))
    replay_check, fingerprints = near_duplicate_check(images, hashes, box, replays)
    checks.insert(1, replay_check)
    if detect_presentation_attacks:
        checks.append(presentation_check(image, quality.face.box if quality.face else None))
        if quality.face is not None:
            checks.append(face_swap_check(image, quality.face.landmarks, box))
    verdicts = {c.verdict for c in checks}
    verdict = "fail" if "fail" in verdicts else "review" if "review" in verdicts else "pass"
    return Outcome(verdict, checks, hashes, template.vector if template else None, fingerprints, box)


def document_portrait_check(image: np.ndarray, face_box: tuple[float, float, float, float], ocr: Ocr) -> Check:
    """The face must belong to a body, not be the portrait printed on an ID card or
    passport page held in the frame (services/identity/documents/presence.py): by its
    surroundings (a card outline around it, printed characters beside it), or by the
    citizen-number line of a Chinese card that fills the frame."""
    evidence = presence.portrait_in_document(image, face_box)
    # A selfie-sized face is no card's portrait filling the frame (presence.SELFIE_FACE_AREA):
    # the OCR of a citizen-number line is spent only on smaller faces.
    if not evidence and not presence.is_selfie(image, face_box) and presence.portrait_of_card(image, face_box, ocr):
        evidence = "the face is the portrait of a card-shaped document with a citizen-number line"
    verdict = "fail"
    if not evidence:
        # No outline (a card before a wall as bright as itself): printed rows beside the
        # face at a portrait's scale. A small face in the frame fails; a large one (a
        # newspaper's headline rows can sit beside a live face) goes to a person.
        text = portrait.text_beside(image, face_box)
        if text.main_face_printed:
            evidence = f"the face has {text.describe()}"
            verdict = "fail" if portrait.is_small_in_frame(image, face_box) else "review"
    if evidence:
        return Check(
            "id_card",
            verdict,
            detail=evidence,
            reasons=[(Reason.ID_CARD_AS_SELFIE, "the face in the photo is a document's portrait, not a live person")],
        )
    return Check("id_card", "pass", detail="no document around the face")


def held_document_check(
    image: np.ndarray, face_box: tuple[float, float, float, float], matcher: FaceMatcher
) -> Check | None:
    """A second, smaller "face" that is a card or passport portrait held up beside the
    live face is an attack (the card may be what the face match used, or what a person
    reviewing would be shown), not a second person."""
    fx, fy, fw, fh = face_box
    for face in matcher.engine.detect(image, DETECT_MAX_SIDE):
        x, y, w, h = face.box
        if abs(x + w / 2 - fx - fw / 2) < 0.5 * fw and abs(y + h / 2 - fy - fh / 2) < 0.5 * fh:
            continue  # the main face itself
        evidence = presence.portrait_in_document(image, face.box)
        if not evidence and portrait.is_small_beside(face.box, face_box):
            text = portrait.text_beside(image, face.box, [face_box])
            if text.printed:
                evidence = f"a face {face.box[2] / fw:.2f} times the live face's width with {text.describe()}"
        if evidence:
            return Check(
                "held_document",
                "fail",
                detail=f"a second face in the picture: {evidence}",
                reasons=[(Reason.DOCUMENT_PORTRAIT_IN_FRAME, "an ID document's portrait is held up in the photo")],
            )
    return None


def near_duplicate_check(
    images: list[np.ndarray], hashes: list[str], paper_box: tuple[int, int, int, int] | None, replays: ReplayStore
) -> tuple[Check, list[replay.Fingerprint]]:
    """An exact or edited copy (cropped, rescaled, rotated, re-encoded, recoloured,
    mirrored) of any earlier submission, of any subject. The held paper is left out of
    the comparison (the same day's newspaper is in many honest photos) and of what is
    stored. Returns the check and the fingerprints to store."""
    replayed = {s for h in hashes for s in replays.seen(h, REPLAY_MAX_DISTANCE)}
    index = replays.index()
    strongest = 0
    fingerprints = []
    for i, img in enumerate(images):
        boxes = [paper_box] if paper_box is not None and i == 0 else []
        stored, queries = replay.stored_and_queries(img, boxes)
        fingerprints.append(stored)
        consistent = index.consistent(*queries)
        strongest = max([strongest, *consistent.values()])
        replayed.update(replay.replayed_from(consistent))
    evidence = f"{strongest} keypoints consistent with the closest earlier photo (replay at >= {replay.MIN_INLIERS})"
    if replayed:
        return (
            Check(
                "replay",
                "fail",
                float(strongest),
                f"an edited or exact copy of {len(replayed)} earlier submission(s): {evidence}",
                [(Reason.REPLAYED_IMAGE, "this photo (or an edited copy of it) was submitted before")],
            ),
            fingerprints,
        )
    return Check("replay", "pass", float(strongest), f"not seen before: {evidence}"), fingerprints


def _nested_sheet(image: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """A smaller bright quadrilateral inside the found region that holds its tallest text
    line: a phone's screen inside a bright wall or window taken for the sheet. None when
    the region is itself the tightest sheet around the text."""
    flat = _flatten(image, quad)
    gray = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY)
    _, lines = _text_lines(gray)
    if not lines:
        return None
    x0, y0, x1, y1 = lines[0]
    fh, fw = gray.shape
    my, mx = int(0.06 * fh), int(0.06 * fw)  # _text_lines works inside these margins
    dst = np.array([[0, 0], [fw - 1, 0], [fw - 1, fh - 1], [0, fh - 1]], np.float32)
    back = cv2.getPerspectiveTransform(dst, quad.astype(np.float32))
    corners = np.array([[[mx + x0, my + y0], [mx + x1, my + y0], [mx + x1, my + y1], [mx + x0, my + y1]]], np.float32)
    line = cv2.perspectiveTransform(corners, back)[0]
    bx, by, bw, bh = cv2.boundingRect(quad.astype(np.int32))
    h, w = image.shape[:2]
    cx0, cy0 = max(0, bx - bw // 20), max(0, by - bh // 20)
    crop = image[cy0 : min(h, by + bh + bh // 20), cx0 : min(w, bx + bw + bw // 20)]
    if crop.shape[0] < 16 or crop.shape[1] < 16:
        return None
    area = cv2.contourArea(quad.astype(np.float32))
    best: np.ndarray | None = None
    for paper in find_papers(crop, None, limit=5):
        inner = paper.quad + np.array([cx0, cy0], np.float32)
        inner_area = cv2.contourArea(inner)
        if not NESTED_LINE_AREA * cv2.contourArea(line) < inner_area < NESTED_AREA * area:
            continue
        if any(cv2.pointPolygonTest(inner, (float(x), float(y)), False) <= 0 for x, y in line):
            continue  # the whole line on it, or it is a part of the sheet, not a screen on it
        if best is None or inner_area < cv2.contourArea(best):
            best = inner
    return best


def paper_medium_check(image: np.ndarray, quad: np.ndarray, nested: np.ndarray | None = None) -> Check:
    """The code (or newspaper) must be on paper, not shown on a phone or tablet screen
    (services/liveness/medium.py: moire, sub-pixel colour fringes, a bezel around it).
    `nested`: a smaller bright region inside `quad` around the text, judged too (the
    more screen-like of the two counts)."""
    result = medium.assess(image, quad)
    if nested is not None:
        inner = medium.assess(image, nested)
        if inner.score > result.score:
            result = inner
    reasons: list[tuple[Reason, str]] = []
    if result.verdict != "pass":
        reasons = [(Reason.CODE_ON_SCREEN, "the code seems to be shown on a screen; write or print it on paper")]
    return Check("paper_medium", result.verdict, result.score, result.detail, reasons)


def presentation_check(image: np.ndarray, face_box: tuple[float, float, float, float] | None) -> Check:
    """A screen or a print photographed instead of a live person (services/liveness/pad.py)."""
    result = pad.assess(image, face_box)
    reasons: list[tuple[Reason, str]] = []
    if result.verdict != "pass":
        reasons = [
            (Reason.SCREEN_REPLAY_SUSPECTED, "the photo looks like a picture of a screen, not a live person")
            if result.kind == "screen"
            else (Reason.PRINTED_PHOTO_SUSPECTED, "the photo looks like a printed picture, not a live person")
        ]
    return Check("presentation_attack", result.verdict, max(result.screen, result.print), result.detail, reasons)


def face_swap_check(image: np.ndarray, landmarks: np.ndarray, paper_box: tuple[int, int, int, int] | None) -> Check:
    """The inner face pasted into another person's photo (services/liveness/swap.py: noise
    mismatch between the face and the skin around it, a blend seam). Review only."""
    result = swap.assess(image, landmarks, paper_box)
    reasons: list[tuple[Reason, str]] = []
    if result.verdict != "pass":
        reasons = [(Reason.FACE_SWAP_SUSPECTED, "the face may have been pasted into another photo; a person will look")]
    return Check("face_swap", result.verdict, result.score, result.detail, reasons)


def _close(a: str, b: str) -> bool:
    """At most one character dropped, added or misread: an OCR slip, not another code."""
    return abs(len(a) - len(b)) <= 1 and edit_distance(a, b) <= 1


def _rank(check: Check) -> int:
    if check.verdict == "pass":
        return 3
    if check.verdict == "fail":
        return 1
    return 2 if check.score > 0 else 0


def _read_best_paper(
    challenge: Challenge, image: np.ndarray, face_box: tuple[float, float, float, float] | None, ocr: Ocr
) -> tuple[Check | None, tuple[int, int, int, int] | None, np.ndarray | None]:
    """Read every paper-like candidate until one carries the expected code or date; else
    the most telling reading (an almost-right code, then a wrong code, then nothing).
    Returns the check, the sheet's box and its outline (None when only a text line
    placed it)."""
    best: tuple[Check, tuple[int, int, int, int], np.ndarray | None] | None = None
    papers = find_papers(image, face_box)
    for paper in papers:
        check = _read_paper(challenge, paper.flat, ocr)
        if best is None or _rank(check) > _rank(best[0]):
            best = (check, paper.box, paper.quad)
        if check.verdict == "pass":
            return best
    # The sheet's outline may be lost against a white shirt or wall: read text lines found
    # on any bright background, and place the sheet at the found paper around the line.
    for line in find_text_lines(image, face_box):
        check = _read_line(challenge, line, ocr)
        cx, cy = line.box[0] + line.box[2] / 2, line.box[1] + line.box[3] / 2
        # The sheet around the line: the smallest found paper that holds it and is not much
        # wider than a sheet carrying this line (a bright wall around a phone is no sheet,
        # and judging the wall would hide the screen from the medium check).
        around = sorted(
            (
                p
                for p in papers
                if p.box[0] < cx < p.box[0] + p.box[2]
                and p.box[1] < cy < p.box[1] + p.box[3]
                and p.box[2] <= SHEET_PER_LINE * line.box[2]
            ),
            key=lambda p: p.box[2] * p.box[3],
        )
        if best is None or _rank(check) > _rank(best[0]):
            best = (check, around[0].box, around[0].quad) if around else (check, line.box, None)
        if check.verdict == "pass":
            return best
    # Not on white paper: a sticky note, kraft or other coloured sheet.
    for paper in find_papers(image, face_box, coloured=True):
        if any(_iou(paper.box, p.box) > 0.6 for p in papers):
            continue
        check = _read_paper(challenge, paper.flat, ocr)
        if best is None or _rank(check) > _rank(best[0]):
            best = (check, paper.box, paper.quad)
        if check.verdict == "pass":
            break
    return best if best else (None, None, None)


def _find_in_scene(challenge: Challenge, image: np.ndarray, ocr: Ocr) -> tuple[Check, tuple[int, int, int, int]] | None:
    lang = "eng" if challenge.mode is Mode.CODE_ON_PAPER else "chi_sim"
    for text, box in find_words_in(ocr, image, lang):  # type: ignore[arg-type]
        if challenge.mode is Mode.CODE_ON_PAPER and read_code(text) == challenge.code:
            return Check("code", "pass", 1.0, f"read {challenge.code} in the picture (expected {challenge.code})"), box
        if challenge.mode is Mode.NEWSPAPER:
            if any(d.isoformat() == challenge.date for d in dates_in(text)):
                return Check("date", "pass", 1.0, f"read {challenge.date} in the picture"), box
    return None


def code_readings(flat: np.ndarray, ocr: Ocr, expected: str | None = None) -> list[str]:
    """Readings of the code on a flattened sheet: its tallest text lines, each binarised
    several ways, read as one line restricted to the code alphabet. Stops at the first
    reading equal to `expected`."""
    gray = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY) if flat.ndim == 3 else flat
    norm, lines = _text_lines(gray)
    return _read_codes([norm[y0:y1, x0:x1] for x0, y0, x1, y1 in lines[:2]] or [norm], ocr, expected)


def _glyph_crops(crop: np.ndarray) -> list[np.ndarray]:
    """The line cut into its glyphs (left to right), each with a white margin; empty when
    glyphs touch or the cut is unclear."""
    _, ink = cv2.threshold(cv2.GaussianBlur(crop, (3, 3), 0), 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h = crop.shape[0]
    parts = [tuple(int(v) for v in st[:4]) for st in stats[1:] if st[3] >= 0.3 * h and st[4] >= 8]
    parts.sort()
    merged: list[list[int]] = []
    for x, y, w, hh in parts:  # pieces that overlap in x are one glyph
        if merged and x < merged[-1][0] + merged[-1][2] - 0.3 * w:
            m = merged[-1]
            x1, y1 = max(m[0] + m[2], x + w), max(m[1] + m[3], y + hh)
            m[0], m[1] = min(m[0], x), min(m[1], y)
            m[2], m[3] = x1 - m[0], y1 - m[1]
        else:
            merged.append([x, y, w, hh])
    heights = [m[3] for m in merged]
    if not merged or max(m[2] for m in merged) > 1.6 * float(np.median(heights)):
        return []
    out = []
    for x, y, w, hh in merged:
        glyph = 255 - ink[y : y + hh, x : x + w]
        pad = max(4, hh // 4)
        out.append(cv2.copyMakeBorder(glyph, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255))
    return out


def _read_codes(crops: list[np.ndarray], ocr: Ocr, expected: str | None) -> list[str]:
    readings: list[str] = []
    # PP-OCR, restricted to the code alphabet, first: it reads hand-written letters that
    # Tesseract drops or misreads (on 60 hand-written sheets of bench/attacks2/hands.py, 52
    # exact against 41), in a few ms a line. Tesseract's readings follow when it missed.
    recogniser = ppocr.shared()
    if recogniser is not None:
        for crop in crops:
            code = read_code(recogniser.recognise_within(crop, CODE_ALPHABET).text)
            if code:
                readings.append(code)
            if expected is not None and code == expected:
                return readings
    for i, crop in enumerate(crops):
        for j, variant in enumerate(_binarisations(crop)):
            text = ocr.read([Region(f"code{i}{j}", variant)], "eng", 7, CODE_ALPHABET)[f"code{i}{j}"].text
            code = read_code(text)
            if code:
                readings.append(code)
            if expected is not None and code == expected:
                return readings
            if j == 1:
                # Glyph by glyph: a whole-line read drops or merges letters it is unsure of.
                glyphs = _glyph_crops(crop)
                if 4 <= len(glyphs) <= 8:
                    regions = [Region(f"g{k}", g, single_char=True) for k, g in enumerate(glyphs)]
                    texts = ocr.read(regions, "eng", 10, CODE_ALPHABET)
                    code = "".join(read_code(texts[r.name].text)[:1] or "?" for r in regions)
                    readings.append(code)
                    if expected is not None and code == expected:
                        return readings
    return readings


def judge_code(readings: list[str], expected: str) -> Check:
    """Exact reading: pass. One character off (dropped, added or misread): UNCERTAIN, a
    person looks. A code-shaped reading that differs more and was read the same way twice:
    fail. Nothing code-shaped: UNCERTAIN (unreadable). Never a fuzzy pass."""
    if expected in readings:
        n = readings.count(expected)
        return Check("code", "pass", 1.0, f"read {expected} (expected {expected}; {n} of {len(readings)} readings)")
    near = [r for r in readings if _close(r, expected)]
    if near:
        return Check(
            "code",
            "review",
            0.5,
            f"read {near[0]} (expected {expected}): one character uncertain",
            reasons=[(Reason.CODE_UNREADABLE, "the code on the paper could not be read with certainty")],
        )
    shaped = [r for r in readings if abs(len(r) - len(expected)) <= 1]
    repeated = [r for r in shaped if sum(edit_distance(r, o) <= 1 for o in shaped) >= 2]
    if repeated:
        return Check(
            "code",
            "fail",
            detail=f"read {repeated[0]} (expected {expected})",
            reasons=[(Reason.CODE_MISMATCH, "the code on the paper is not the one issued")],
        )
    return Check(
        "code",
        "review",
        detail=f"no code could be read ({' '.join(readings[:4]) or 'nothing'})",
        reasons=[(Reason.CODE_UNREADABLE, "the code on the paper could not be read")],
    )


def date_readings(flat: np.ndarray, ocr: Ocr, expected: date | None = None) -> list[date]:
    """Dates printed on a flattened newspaper (see `dates_in` for the forms), line by line:
    the lines with the most ink and the tallest lines (a date line is short, so it may
    carry less ink than a column of body text, but it is usually printed larger)."""
    gray = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY) if flat.ndim == 3 else flat
    norm, lines = _text_lines(gray)
    tallest = sorted(lines, key=lambda b: -(b[3] - b[1]))
    smeared = _smeared_lines(norm)
    # A small date line is short; rows of body text span the column and, smeared, are as
    # tall as it (or taller, merged), so they would crowd it out of the tallest few.
    short = [b for b in smeared if b[2] - b[0] <= DATE_LINE_SHARE * norm.shape[1]]
    picked = list(dict.fromkeys(lines[:4] + tallest[:4] + smeared[:3] + short[:5]))
    crops = [norm[y0:y1, x0:x1] for x0, y0, x1, y1 in picked]
    for box in tallest[:2]:
        crops += _fringe_bands(norm, box)
    return _read_dates(crops, ocr, expected)


def _fringe_bands(norm: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray]:
    """The thin bands above and below the main body of a tall line: a small date printed
    right under (or over) a masthead touches it, so both are one "line" and a one-line
    reader reads the masthead only. The body is where a row carries at least half the
    line's heaviest row's ink; a band counts from 12 % of the line's height (without one
    below, the line's lowest 30 % is read: a date overlapping the masthead's feet)."""
    x0, y0, x1, y1 = box
    crop = norm[y0:y1, x0:x1]
    if crop.shape[0] < 24 or crop.shape[1] < 24:
        return []
    _, ink = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    rows = np.convolve(ink.mean(axis=1), np.ones(3) / 3, "same")
    heavy = np.flatnonzero(rows >= 0.5 * float(rows.max()))
    if len(heavy) == 0:
        return []
    h = crop.shape[0]
    lo, hi = int(heavy[0]), int(heavy[-1]) + 1
    # The bands end at the first blank row (the line box may take in the next text row).
    blank = rows <= 0.02
    top = next((r + 1 for r in range(lo - 1, -1, -1) if blank[r]), 0)
    bottom = next((r for r in range(hi, h) if blank[r]), h)
    out = []
    if lo - top >= 0.12 * h:
        out.append(crop[max(0, top - 2) : min(h, lo + 2)])
    if bottom - hi >= 0.12 * h:
        out.append(crop[max(0, hi - 2) : min(h, bottom + 2)])
    else:
        # The date overlaps the masthead's feet, so its rows are as heavy: the lowest
        # 30 % of the line, read alone.
        out.append(crop[max(0, bottom - int(0.3 * (bottom - top))) : min(h, bottom + 2)])
    return out


def _smeared_lines(norm: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Text lines found by smearing ink sideways, tallest first. `_text_lines` groups glyphs
    of a similar height, so a date in Chinese numerals (一 二 三 are flat strokes) falls
    apart there; smeared, its glyphs join into one line whatever their shapes."""
    h, w = norm.shape
    _, ink = cv2.threshold(norm, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if float(norm.min()) > 200:
        return []
    joined = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, max(9, w // 40)), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for x, y, bw, bh, area in stats[1:]:
        if 0.025 * h <= bh <= 0.3 * h and bw >= 2.5 * bh and area >= 0.12 * bw * bh:
            pad = int(0.25 * bh) + 4
            boxes.append((max(0, x - pad), max(0, y - pad), min(w, x + bw + pad), min(h, y + bh + pad)))
    # Pieces of one line that a wider gap kept apart (十 二 leave wide blanks): joined
    # when they share the row and lie within two line heights of each other.
    boxes.sort(key=lambda b: b[0])
    rows: list[tuple[int, int, int, int]] = []
    for b in boxes:
        for i, r in enumerate(rows):
            overlap = min(r[3], b[3]) - max(r[1], b[1])
            if overlap > 0.6 * min(r[3] - r[1], b[3] - b[1]) and b[0] - r[2] < 2 * (b[3] - b[1]):
                rows[i] = (min(r[0], b[0]), min(r[1], b[1]), max(r[2], b[2]), max(r[3], b[3]))
                break
        else:
            rows.append(b)
    return sorted(rows, key=lambda b: -(b[3] - b[1]))


def _read_dates(crops: list[np.ndarray], ocr: Ocr, expected: date | None) -> list[date]:
    found: list[date] = []
    # PP-OCR's Chinese line recogniser first: it reads small print and Chinese numerals
    # that Tesseract misses (a few ms a line); Tesseract's passes follow when it did not
    # find the expected date.
    recogniser = ppocr.shared()
    if recogniser is not None:
        for crop in crops:
            found += dates_in(recogniser.recognise(crop).text)
        if expected is not None and expected in found:
            return found
    passes: list[tuple[str, str | None, int]] = [
        ("chi_sim", None, 0),
        ("chi_sim", None, 1),
        ("eng", "0123456789-./", 1),
    ]
    for lang, whitelist, variant in passes:
        regions = [Region(f"d{i}", _binarisations(c)[variant]) for i, c in enumerate(crops)]
        texts = ocr.read(regions, lang, 7, whitelist) if regions else {}
        for r in regions:
            found += dates_in(texts[r.name].text)
        if expected is not None and expected in found:
            break
    return found


def _read_paper(challenge: Challenge, flat: np.ndarray, ocr: Ocr) -> Check:
    if challenge.mode is Mode.CODE_ON_PAPER:
        return judge_code(code_readings(flat, ocr, challenge.code), challenge.code)
    expected = date.fromisoformat(challenge.date)
    return judge_date(date_readings(flat, ocr, expected), expected)


def _read_line(challenge: Challenge, line: TextLine, ocr: Ocr) -> Check:
    if challenge.mode is Mode.CODE_ON_PAPER:
        return judge_code(_read_codes([line.crop], ocr, challenge.code), challenge.code)
    expected = date.fromisoformat(challenge.date)
    return judge_date(_read_dates([line.crop], ocr, expected), expected)


def judge_date(found: list[date], expected: date) -> Check:
    """Today's date read (and not outvoted by another date): pass. Another date only: fail."""
    if not found:
        return Check(
            "date",
            "review",
            detail="no date could be read",
            reasons=[(Reason.DATE_UNREADABLE, "the newspaper's date could not be read")],
        )
    others = [d for d in found if d != expected]
    if expected in found and found.count(expected) >= len(others):
        return Check("date", "pass", 1.0, f"read {expected} (expected {expected})")
    if expected in found:
        return Check(
            "date",
            "review",
            0.5,
            f"read {expected} and {others[0]} (expected {expected})",
            reasons=[(Reason.DATE_UNREADABLE, "the newspaper's date could not be read with certainty")],
        )
    return Check(
        "date",
        "fail",
        detail=f"read {others[0]} (expected {expected})",
        reasons=[(Reason.DATE_MISMATCH, "the newspaper is not today's")],
    )


def _valid(y: str, m: str, d: str) -> bool:
    try:
        date(int(y), int(m), int(d))
    except ValueError:
        return False
    return True
