"""Finding a business licence's fields by their printed labels, in any layout.

A flattened, upright licence is cut into text segments (runs of ink on one line, found by
morphology, no OCR); the first characters of each segment are read (PP-OCR, a few ms a
glance) to find the printed labels (统一社会信用代码, 名称, 类型, 法定代表人 / 负责人 / 经营者,
注册资本, 成立日期 / 注册日期, 营业期限, 住所 / 经营场所, 登记机关 ...), and each field's value
is what follows its label: the rest of the label's own segment (名称：... printed straight
after a colon), the next segments on its row up to the next label, and for the address the
line below that starts where the value did. The credit code may stand under its label (the
2019 layout) or beside it. Nothing here knows where a template puts a field.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from services.vision.ppocr import TextLineRecogniser

# Field -> the labels printed for it (the first one is the common one).
LABELS: dict[str, tuple[str, ...]] = {
    "credit_code": ("统一社会信用代码",),
    "company_name": ("名称",),
    "company_type": ("类型",),
    "legal_representative": ("法定代表人", "负责人", "经营者", "投资人", "执行事务合伙人"),
    "registered_capital": ("注册资本", "出资额"),
    "establishment_date": ("成立日期", "注册日期"),
    "business_term": ("营业期限", "经营期限", "合伙期限"),
    "address": ("住所", "经营场所", "主要经营场所"),
    "business_scope": ("经营范围",),
    "registration_authority": ("登记机关",),
    "composition": ("组成形式",),
}
_ALL = sorted(((lab, name) for name, labs in LABELS.items() for lab in labs), key=lambda t: -len(t[0]))
_PUNCT = re.compile(r"[\s:：;；·.,，、_\-]")
# Rows are glanced at on two threads (onnxruntime runs outside the GIL; the machine has 2 cores).
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sv-licence-labels")
# Fields whose value may wrap onto a second line.
MULTILINE = frozenset({"address", "company_name"})


@dataclass
class Segment:
    """A run of ink on one text line of the canvas: (x, y, w, h) in canvas pixels."""

    x: int
    y: int
    w: int
    h: int
    head: str = ""  # the first characters, as read at a glance
    head_at: tuple[float, ...] = ()  # each head character's x in the canvas
    head_confidence: float = 0.0  # PP-OCR's probability of the first head character

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> int:
        return self.x + self.w


@dataclass
class Found:
    """Where a field's label and value were found (canvas boxes)."""

    name: str
    label: str
    label_box: tuple[int, int, int, int]
    value_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


def ink_mask(card: np.ndarray) -> np.ndarray:
    """Dark print against the local paper colour. The brightest channel is used, so the
    red seal and emblem (bright in red) are not ink while black and blue-black print is."""
    bright = card.max(axis=2) if card.ndim == 3 else card
    paper = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((25, 25), np.uint8))
    diff = cv2.subtract(paper, bright)
    level = max(28.0, 0.4 * float(np.percentile(diff, 99.5)))
    return (diff > level).astype(np.uint8)


def segments(card: np.ndarray) -> list[Segment]:
    """Text segments: ink joined across the gaps between characters of a word or value
    (not across the wider gaps of a spaced label such as 名　　称), frame lines, the QR code,
    the emblem and the title left out by their size."""
    ink = ink_mask(card)
    w = ink.shape[1]
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    keep = np.zeros(n, bool)
    for i in range(1, n):
        cw, ch, area = stats[i, 2], stats[i, 3], stats[i, 4]
        keep[i] = ch <= 60 and cw <= 0.5 * w and area >= 6 and not (cw > 80 and ch < 6)  # not a rule line
    text = keep[labels].astype(np.uint8)
    joined = cv2.dilate(text, np.ones((5, 15), np.uint8))
    joined = cv2.erode(joined, np.ones((5, 1), np.uint8))
    m, _, boxes, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out = []
    for i in range(1, m):
        x, y, bw, bh, area = (int(v) for v in boxes[i])
        x, bw = x + 7, bw - 14  # undo the dilation's reach
        if 12 <= bh <= 60 and bw >= 8 and bw <= 0.9 * w:
            out.append(Segment(x, y, bw, bh))
    return out


def rows(segs: list[Segment]) -> list[list[Segment]]:
    """Segments grouped into text rows (vertical centres within half a line height), each
    row left to right, rows top to bottom."""
    out: list[list[Segment]] = []
    for s in sorted(segs, key=lambda s: s.cy):
        for row in out:
            ref = row[0]
            if abs(s.cy - ref.cy) < 0.5 * min(s.h, ref.h):
                row.append(s)
                break
        else:
            out.append([s])
    return [sorted(r, key=lambda s: s.x) for r in out]


def crop(card: np.ndarray, box: tuple[int, int, int, int], pad: int = 4) -> np.ndarray:
    x, y, w, h = box
    return card[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]


def glance(lines: TextLineRecogniser, card: np.ndarray, seg: Segment, chars: float = 2.4) -> None:
    """Read the first `chars` character widths of a segment (its height is one width)."""
    x0 = max(0, seg.x - 3)
    width = min(seg.w + 6, int(chars * seg.h) + 6)
    piece = card[max(0, seg.y - 4) : seg.y + seg.h + 4, x0 : x0 + width]
    text, at = lines.recognise_at(piece, pad=False)
    seg.head = text.text
    seg.head_at = tuple(x0 + a for a in at)
    seg.head_confidence = text.confidences[0] if text.confidences else 0.0


def _clean(text: str) -> str:
    return _PUNCT.sub("", text)


def match_label(text: str) -> tuple[str, str, int] | None:
    """(field, label, characters of `text` the label covers, a colon after it included)
    when `text` starts with a printed label, else None."""
    kept = [(ch, i) for i, ch in enumerate(text) if not _PUNCT.fullmatch(ch)]
    cleaned = "".join(ch for ch, _ in kept)
    for label, name in _ALL:
        # Exact, or for a label of four or more characters most of them in place: at the
        # hard tier's resolution a 10 px label reads 以一社会你 for 统一社会信, 成全日期.
        same = sum(a == b for a, b in zip(cleaned, label, strict=False))
        if cleaned.startswith(label) or (
            len(label) >= 4 and len(cleaned) >= 4 and same >= 0.6 * min(len(cleaned), len(label)) + 0.5 and same >= 3
        ):
            consumed = kept[min(len(label), len(kept)) - 1][1] + 1
            while consumed < len(text) and _PUNCT.fullmatch(text[consumed]):
                consumed += 1
            return name, label, consumed
    return None


# A first character read at least this surely is not a label's misread first character.
_SURE_HEAD = 0.95
# First characters of labels, and the longest label starting with each.
_INITIALS = {lab[0]: max(len(x) for x, _ in _ALL if x[0] == lab[0]) for lab, _ in _ALL}


def _is_label_start(seg: Segment, row: list[Segment], k: int) -> bool:
    head = _clean(seg.head)
    if match_label(seg.head) is not None:
        return True
    return len(head) == 1 and k + 1 < len(row) and any(lab[0] == head and len(lab) == 2 for lab, _ in _ALL)


def _glance_all(lines: TextLineRecogniser, card: np.ndarray, segs: list[Segment]) -> None:
    """A glance at the segments that may hold a label, row by row: the first character
    (about 3 ms), a longer look where that character begins a label. What follows a label
    on its row, and what runs on from a value with less than a character's gap, is value
    and is not glanced at (most segments are values)."""
    list(_POOL.map(lambda row: _glance_row(lines, card, row), rows(segs)))


def _glance_row(lines: TextLineRecogniser, card: np.ndarray, row: list[Segment]) -> None:
    after_label, in_value, last_right = False, False, None
    for k, seg in enumerate(row):
        gap = seg.x - last_right if last_right is not None else 1e9
        last_right = seg.right
        if in_value and gap < 1.0 * seg.h:
            continue  # the same value running on
        if after_label and gap < 6 * seg.h:
            after_label, in_value = False, True  # the value printed after its label
            continue
        glance(lines, card, seg, 1.3)
        head = _clean(seg.head)
        if seg.w > 1.6 * seg.h and head and head[0] in _INITIALS:
            glance(lines, card, seg, _INITIALS[head[0]] + 1.6)
        elif k == 0 and 3 * seg.h < seg.w < 9.5 * seg.h and seg.head_confidence < _SURE_HEAD:
            # a label whose first character was misread? Not when it was read surely: the
            # longer look cost a fifth of the glancing on clean and photo licences.
            glance(lines, card, seg, 5.6)
        hit = match_label(seg.head)
        if hit is not None:
            merged = hit[2] < len(seg.head) or seg.w > 1.4 * len(hit[1]) * seg.h
            after_label, in_value = not merged, merged
        elif _is_label_start(seg, row, k):
            after_label = in_value = False  # 名 of 名　　称: its second half is glanced too
        else:
            # A spread label's second half (称 after 名) is a label end, not a value.
            prev = _clean(row[k - 1].head) if k else ""
            pair = len(prev) == 1 and bool(head) and match_label(prev + head[:1]) is not None
            after_label, in_value = (True, False) if pair and len(head) == 1 else (False, True)


def find_fields(lines: TextLineRecogniser, card: np.ndarray, segs: list[Segment] | None = None) -> dict[str, Found]:
    """Every labelled field found on the canvas, with the boxes of its value."""
    segs = segments(card) if segs is None else segs
    grouped = rows(segs)
    _glance_all(lines, card, segs)
    found: dict[str, Found] = {}
    label_of: dict[int, str] = {}
    for r_i, row in enumerate(grouped):
        i = 0
        while i < len(row):
            seg = row[i]
            hit = match_label(seg.head)
            span = [seg]
            if hit is None and len(_clean(seg.head)) == 1 and i + 1 < len(row):
                # a spread label: 名 and 称 as two segments, at most four character widths apart
                nxt = row[i + 1]
                if nxt.x - seg.right < 4 * seg.h:
                    hit2 = match_label(_clean(seg.head) + _clean(nxt.head)[:1])
                    if hit2 is not None and len(hit2[1]) == 2:
                        # what of the second segment the label's second character covers
                        after = match_label(hit2[1][0] + nxt.head)
                        hit, span = (hit2[0], hit2[1], (after[2] - 1) if after else 1), [seg, nxt]
            if hit is None or hit[0] in found:
                i += 1
                continue
            name, label, consumed = hit
            last = span[-1]
            lx0, ly0 = span[0].x, min(s.y for s in span)
            label_box = (lx0, ly0, last.right - lx0, max(s.y + s.h for s in span) - ly0)
            f = Found(name, label, label_box)
            for s in span:
                label_of[id(s)] = name
            # the value inside the label's own segment (printed straight after it)
            rest = [a for k, a in enumerate(last.head_at) if k >= consumed]
            if consumed < len(last.head) or (last.w > 1.4 * len(label) * last.h and rest):
                start = int(rest[0] - 0.45 * last.h) if rest else last.x + int(len(label) * last.h)
                if last.right - start > 0.6 * last.h:
                    f.value_boxes.append((start, last.y, last.right - start, last.h))
            j = i + len(span)
            while j < len(row):
                nxt = row[j]
                if match_label(nxt.head) is not None or (
                    len(_clean(nxt.head)) == 1
                    and j + 1 < len(row)
                    and match_label(_clean(nxt.head) + _clean(row[j + 1].head)[:1]) is not None
                ):
                    break
                gap = nxt.x - (f.value_boxes[-1][0] + f.value_boxes[-1][2] if f.value_boxes else last.right)
                if gap > (3 if f.value_boxes else 5) * nxt.h:  # another column, or the QR code
                    break
                f.value_boxes.append((nxt.x, nxt.y, nxt.w, nxt.h))
                j += 1
            if f.value_boxes and name in MULTILINE:
                _continuation(f, grouped, r_i)
            found[name] = f
            i = j
    return found


def _continuation(f: Found, grouped: list[list[Segment]], r_i: int) -> None:
    """The value's second line: the next row's segment starting where the value started,
    with no label just before it on that row."""
    vx, vy, _, vh = f.value_boxes[0]
    for row in grouped[r_i + 1 : r_i + 3]:
        for k, s in enumerate(row):
            if abs(s.x - vx) > 0.8 * vh or not 0 < s.y - vy < 2.2 * vh:
                continue
            before = row[k - 1] if k else None
            if match_label(s.head) is not None:
                return
            if before is not None and s.x - before.right < 6 * vh and match_label(before.head) is not None:
                return
            if before is not None and len(_clean(before.head)) == 1 and s.x - before.right < 6 * vh:
                return  # the second half of a spread label (称, 型, 所)
            f.value_boxes.append((s.x, s.y, s.w, s.h))
            return


def code_segment(found: dict[str, Found], segs: list[Segment]) -> tuple[int, int, int, int] | None:
    """The credit code's line: beside its label or, in the 2019 layout, under it; else None
    (then `code_by_text`)."""
    f = found.get("credit_code")
    if f is not None and f.value_boxes:
        # Beside its label, long enough for 18 characters: the value's pieces on the label's
        # row taken together (glare splits the line where it washes some characters out).
        first = f.value_boxes[0]
        beside = union([b for b in f.value_boxes if abs(b[1] + b[3] / 2 - (first[1] + first[3] / 2)) < 0.5 * first[3]])
        if beside[2] >= 7 * first[3]:
            return beside
    code_like = [s for s in segs if len(re.findall(r"[0-9A-Z]", s.head.upper())) >= 2 and s.w > 6 * s.h]
    if f is not None:
        lx, ly, _, lh = f.label_box
        below = [s for s in code_like if 0 < s.y - ly < 3.5 * lh and abs(s.x - lx) < 3 * lh]
        if below:
            s = min(below, key=lambda s: s.y)
            return s.x, s.y, s.w, s.h
    # Without its label the code is found by reading (code_by_text): a glance at first
    # characters took a date line for it when the code's own segment was never glanced at.
    return None


def union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def line_crop(card: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """One text line as the credit-code reader was tuned on: 8 px to its left, about twice
    its height tall around its centre (the reader cuts it to the inked rows itself), and a
    half a character width more to the right (not more: the check character must stay
    apart for its shape check): a faint last glyph (a blurred J) may have left too
    little ink to join the segment."""
    x, y, w, h = box
    cy, half = y + h // 2, max(h, 28)
    return card[max(0, cy - half) : cy + half, max(0, x - 8) : x + w + int(0.95 * h)]


def code_by_text(lines: TextLineRecogniser, card: np.ndarray, segs: list[Segment]) -> tuple[int, int, int, int] | None:
    """When no label led to the code (small labels blurred past reading): the line in the
    upper half of the licence that reads as the longest run of code characters, at least 12,
    cut from where that run starts. Long lines only, read in full: a last resort."""
    h = card.shape[0]
    best: tuple[int, tuple[int, int, int, int]] | None = None
    for seg in chains([s for s in segs if s.y <= h // 2], 2.0):
        if seg.w < 7 * seg.h:
            continue
        text, at = lines.recognise_at(crop(card, (seg.x, seg.y, seg.w, seg.h)))
        x0 = max(0, seg.x - 4)
        for m in re.finditer(r"[0-9A-Z]{8,}", text.text.upper()):
            # A run longer than a code began in the label before it (its blurred glyphs read
            # as E83 before 915...): the code is its last 18 characters.
            first = m.start() + max(0, len(m.group()) - 18)
            start = int(x0 + at[first] - 0.45 * seg.h) if first < len(at) else seg.x
            start = max(seg.x, start)
            box = (start, seg.y, seg.right - start, seg.h)
            n = min(18, len(m.group()))
            if n < 12:
                # Part of a code whose other characters glare washed out below the segment
                # finder's threshold (0605 between 9122 and MANFCYNE1N): read again with
                # the faint ink on either side, and kept if that makes most of a code.
                left = faint_reach(card, box, -1, int(12 * seg.h))
                right = faint_reach(card, box, 1, int(12 * seg.h))
                if left + right < seg.h:
                    continue
                box = (start - left, seg.y, seg.right - start + left + right, seg.h)
                more, _ = lines.recognise_at(crop(card, box))
                n = max((len(r) for r in re.findall(r"[0-9A-Z]+", more.text.upper())), default=0)
                if n < 12:
                    continue
            if best is None or n > best[0]:
                best = (n, box)
    return best[1] if best else None


def chains(segs: list[Segment], gap: float = 1.5) -> list[Segment]:
    """Segments of a row joined where less than `gap` line heights apart: one line that glare
    or a faint stretch of print cut into pieces (a code read as 91341323 and HCE034B)."""
    out = []
    for row in rows(segs):
        run = [row[0]]
        for s in row[1:]:
            if s.x - run[-1].right < gap * min(s.h, run[-1].h):
                run.append(s)
                continue
            out.append(_joined(run))
            run = [s]
        out.append(_joined(run))
    return out


def _joined(run: list[Segment]) -> Segment:
    x, y, w, h = union([(s.x, s.y, s.w, s.h) for s in run])
    return Segment(x, y, w, h, run[0].head, run[0].head_at)


def code_line(card: np.ndarray, box: tuple[int, int, int, int], segs: list[Segment]) -> tuple[int, int, int, int]:
    """The credit code's line from the box that led to it: carried on over the pieces of
    the same row that follow within two line heights, then over faint ink (a glare spot
    washes out the code's last characters below the segment finder's threshold) while the
    line is shorter than 18 characters can be. The code's length and check character guard
    what is read; a few columns too many read as a stray character, never as a code."""
    x, y, w, h = box
    cy = y + h / 2
    for s in sorted((s for s in segs if abs(s.cy - cy) < 0.5 * min(s.h, h) and s.x > x), key=lambda s: s.x):
        if s.x - (x + w) >= 2 * h or s.right - x > 16 * h:
            break
        w = s.right - x
    if w >= 13 * h:  # 18 characters printed at about 0.75 of the line's height each
        return x, y, w, h
    reach = faint_reach(card, (x, y, w, h), 1, int(14 * h) - w)
    # Less than half a character is the blurred edge of the last one (line_crop leaves slack).
    return x, y, w + (reach if reach > 0.5 * h else 0), h


def faint_reach(card: np.ndarray, box: tuple[int, int, int, int], direction: int, limit: int) -> int:
    """How far (px, up to `limit`) ink too faint for the segment finder runs on from `box`'s
    right edge (`direction` 1) or left edge (-1) on its rows, with gaps under 0.6 line
    heights, and stopping at ink above or below the line: a taller print (the title beside
    the 2019 layout's code) or a frame line reaches into those margins, a code's characters
    do not."""
    x, y, w, h = box
    m = int(0.6 * h)
    x0, x1 = (x + w, min(card.shape[1], x + w + limit)) if direction > 0 else (max(0, x - limit), x)
    band = card[max(0, y - m) : y + h + m, x0:x1]
    if band.size == 0 or band.shape[0] < h + m:
        return 0
    bright = (band.max(axis=2) if band.ndim == 3 else band).astype(np.float32)
    dark = np.percentile(bright, 90) - bright > 12
    top = y - max(0, y - m)
    inked = dark[top : top + h].mean(axis=0) > 0.08
    halo = int(0.3 * h)  # blur spreads a glyph's faint edge this far past its segment's box
    outside = np.concatenate([dark[: max(1, top - halo)], dark[top + h + halo :]]).mean(axis=0) > 0.3
    if direction < 0:
        inked, outside = inked[::-1], outside[::-1]
    blank = 0
    reach = 0
    for i, col in enumerate(inked):
        if outside[i]:
            break
        if col:
            reach, blank = i + 1, 0
        else:
            blank += 1
            if blank > 0.6 * h:  # the gap after the code: wider than any between its characters
                break
    return reach
