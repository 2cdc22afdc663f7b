"""Where the fields of a Chinese ID card are, found from its printed labels (issue #15).

The canonical layout (cn_layout) says where each field sits on the 856x540 card. Print
runs differ, and a card found a few pixels off shifts every field: so the labels printed on
the card (front: 姓名 性别 民族 出生 住址 公民身份号码; back: 签发机关 有效期限) are looked for
among the card's text lines, read by PP-OCR's line recogniser in one call, and each field
box is moved by the offset between its label as printed and its label in the layout. A
field whose label is not found keeps its layout box (the fallback); a label found where the
layout has it (within SNAP_PX) moves nothing, so cards that read well keep their crops.
When every label's glyph group is where the layout has it, nothing is read at all (the
recogniser would cost some 30-60 ms a side for a line of labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.identity.documents.cn_layout import CARD_H, CARD_W
from services.vision.ppocr import TextLineRecogniser

Box = tuple[int, int, int, int]

# Where each label's text row starts on the canonical card (x, y, w, h: the label's glyph
# group, the row's height), measured on rendered cards.
FRONT_LABELS: dict[str, Box] = {
    "姓名": (55, 47, 51, 30),
    "性别": (55, 111, 54, 30),
    "民族": (257, 111, 52, 30),
    "出生": (56, 179, 53, 24),
    "住址": (55, 238, 54, 31),
    "公民身份号码": (56, 453, 142, 30),
}
BACK_LABELS: dict[str, Box] = {
    "签发机关": (171, 383, 93, 29),
    "有效期限": (171, 450, 93, 27),
}
# Which label each field hangs on.
FRONT_FIELD_LABEL = {
    "name": "姓名",
    "sex": "性别",
    "ethnicity": "民族",
    "birth_year": "出生",
    "birth_month": "出生",
    "birth_day": "出生",
    "address": "住址",
    "citizen_number": "公民身份号码",
}
BACK_FIELD_LABEL = {"issuing_authority": "签发机关", "validity": "有效期限"}
# Offsets up to this many px are the layout's own slack: boxes stay where they are.
SNAP_PX = 4
# A label farther than this from where the layout has it is not believed (a misread word).
MAX_SHIFT_PX = 90
# Text rows: at least this tall (px on the card); glyph groups closer than this share of
# the row height are one group (the gap inside 姓 名, not the gap before the value).
MIN_ROW_PX = 10
GROUP_GAP = 0.8
_ROW_GAP = 24  # px of white between the groups set side by side for the recogniser


@dataclass(frozen=True)
class LabelsFound:
    """Labels found on the card (their ink boxes) and the field boxes moved to follow them."""

    labels: dict[str, Box]
    boxes: dict[str, Box]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _ink(gray: np.ndarray) -> np.ndarray:
    """Print on the card: the background (guilloche, light gradient) divided out, then Otsu."""
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    flat = cv2.divide(gray, background, scale=255)
    _, binary = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.asarray(binary < 128)


def glyph_groups(card: np.ndarray, region: Box) -> list[list[Box]]:
    """Text rows in `region` of the card, each a list of glyph groups (x, y, w, h) left to
    right: runs of print separated by more than GROUP_GAP row heights."""
    x, y, w, h = region
    gray = cv2.cvtColor(card[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
    ink = _ink(gray)
    rows = [(r0, r1) for r0, r1 in _runs(ink.mean(axis=1) > 0.004) if r1 - r0 >= MIN_ROW_PX]
    out = []
    for r0, r1 in rows:
        g = r1 - r0
        groups: list[list[int]] = []
        for c0, c1 in _runs(ink[r0:r1].mean(axis=0) > 0):
            if groups and c0 - groups[-1][1] < GROUP_GAP * g:
                groups[-1][1] = c1
            else:
                groups.append([c0, c1])
        out.append([(x + c0, y + r0, c1 - c0, g) for c0, c1 in groups if c1 - c0 >= 3])
    return out


def find_labels(card: np.ndarray, lines: TextLineRecogniser, region: Box, wanted: dict[str, Box]) -> dict[str, Box]:
    """The `wanted` labels found among the first and third glyph group of each text row
    (a label opens its row; 民族 follows the sex on the 性别 row), all read in one call."""
    candidates = [g for row in glyph_groups(card, region) for i, g in enumerate(row) if i in (0, 2)]
    widest = max((len(label) for label in wanted), default=0)
    candidates = [g for g in candidates if g[2] <= 2.0 * widest * g[3]]  # no long value lines
    if not candidates:
        return {}
    # Every label's glyph group where the layout has it: nothing to read (the usual case,
    # a couple of ms); else the groups are read to tell which label is where.
    in_place = {}
    for label, (ex, ey, ew, _) in wanted.items():
        near = [
            g
            for g in candidates
            if abs(g[0] - ex) <= SNAP_PX and abs(g[1] - ey) <= SNAP_PX and abs(g[2] - ew) <= 0.3 * ew
        ]
        if near:
            in_place[label] = near[0]
    if len(in_place) == len(wanted):
        return in_place
    height = 48
    parts: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    at = _ROW_GAP
    gap = np.full((height, _ROW_GAP, 3), 255, np.uint8)
    parts.append(gap)
    for gx, gy, gw, gh in candidates:
        pad = max(2, gh // 4)
        crop = card[max(0, gy - pad) : gy + gh + pad, max(0, gx - pad) : gx + gw + pad]
        scale = height / crop.shape[0]
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
        parts += [crop, gap]
        spans.append((at, at + crop.shape[1]))
        at += crop.shape[1] + _ROW_GAP
    text, positions = lines.recognise_at(np.hstack(parts), pad=False)
    read = ["" for _ in candidates]
    for ch, px in zip(text.text, positions, strict=False):
        for k, (s0, s1) in enumerate(spans):
            if s0 - _ROW_GAP / 2 <= px <= s1 + _ROW_GAP / 2:
                read[k] += ch
                break
    found: dict[str, Box] = {}
    for label, expected in wanted.items():
        best = None
        for k, words in enumerate(read):
            hits = sum(ch in words for ch in label)
            if hits < (len(label) if len(label) <= 2 else len(label) - 1) or len(words) > len(label) + 2:
                continue
            box = candidates[k]
            d = abs(box[0] - expected[0]) + abs(box[1] - expected[1])
            if d <= 2 * MAX_SHIFT_PX and (best is None or d < best[0]):
                best = (d, box)
        if best is not None:
            found[label] = best[1]
    return found


def _moved(box: Box, dx: int, dy: int) -> Box:
    x, y, w, h = box
    x = min(max(0, x + dx), CARD_W - w)
    y = min(max(0, y + dy), CARD_H - h)
    return (x, y, w, h)


def boxes_from_labels(
    layout: dict[str, Box], field_label: dict[str, str], expected: dict[str, Box], found: dict[str, Box]
) -> dict[str, Box]:
    """Each field box moved by its label's offset (printed minus layout), when that label was
    found and moved by more than SNAP_PX and at most MAX_SHIFT_PX."""
    out = dict(layout)
    for field, label in field_label.items():
        if label not in found or field not in out:
            continue
        (fx, fy, _, _), (ex, ey, _, _) = found[label], expected[label]
        dx, dy = fx - ex, fy - ey
        if max(abs(dx), abs(dy)) <= SNAP_PX or max(abs(dx), abs(dy)) > MAX_SHIFT_PX:
            continue
        out[field] = _moved(out[field], dx, dy)
    return out


def front_fields(
    card: np.ndarray, lines: TextLineRecogniser | None, layout: dict[str, Box], left_of: int
) -> LabelsFound:
    """The front's field boxes from its labels (the text left of the portrait, x < `left_of`)."""
    if lines is None:
        return LabelsFound({}, dict(layout))
    found = find_labels(card, lines, (0, 0, left_of, CARD_H), FRONT_LABELS)
    return LabelsFound(found, boxes_from_labels(layout, FRONT_FIELD_LABEL, FRONT_LABELS, found))


def back_fields(card: np.ndarray, lines: TextLineRecogniser | None, layout: dict[str, Box]) -> LabelsFound:
    """The back's field boxes from its labels (in the lower half, under the title)."""
    if lines is None:
        return LabelsFound({}, dict(layout))
    found = find_labels(card, lines, (0, CARD_H // 2, CARD_W, CARD_H - CARD_H // 2), BACK_LABELS)
    return LabelsFound(found, boxes_from_labels(layout, BACK_FIELD_LABEL, BACK_LABELS, found))
