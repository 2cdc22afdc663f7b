"""Reading a Chinese business licence (营业执照).

Find and flatten the licence onto the canonical canvas (licence_layout), turn it upright
(the red national emblem sits top centre, the red seal bottom right), align it on its
printed frame, OCR each field in its own small region, then validate: the unified social
credit code (GB 32100 alphabet and check character, read several ways; a correction is
made only when the check characters confirm it, see `check_code`), the establishment date
(two agreeing readings of a real date, not in the future), and that the company name and
the legal representative were read. Licences carry no portrait. docs/business-licence.md
has the design and the measurements.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import cv2
import numpy as np

from services.core.reasons import Reason
from services.identity.documents import cn_id, licence_labels, uscc
from services.identity.documents.doc_quality import check_glare, gate
from services.identity.documents.licence_layout import EMBLEM, FIELDS, LIC_H, LIC_W
from services.identity.documents.model import DocField, DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.ocr import Reading, Region, Tesseract, TesserocrEngine, _prepare
from services.identity.documents.rectify import box_to_image, find_document, warp
from services.vision import ppocr
from services.vision.ppocr import TextLineRecogniser

FULL_WHITELIST = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LEGAL_WHITELIST = uscc.ALPHABET
# Characters GB 32100 never uses, and the ones OCR mistakes them for.
_LOOKALIKE = {"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"}
# Confusions of this alphabet's glyphs seen in Tesseract's readings of licence prints.
_CONFUSIONS = {
    "7": "T1",
    "T": "7",
    "0": "QD",
    "Q": "0",
    "D": "0C",
    "6": "GE",
    "G": "6",
    "8": "B3",
    "B": "8",
    "E": "68",
    "C": "D",
    "K": "X",
    "X": "K",
    "1": "J7",
    "J": "1",
    "4": "A",
    "A": "4",
    "2": "7",
    "3": "8",
}
# What the alphabet-restricted readings make of a printed I, O, S, V or Z (measured); a
# letter seen twice by the all-letters readings and read like this is taken as printed.
_PRINTED_AS = {"O": "0", "I": "1", "Z": "27", "S": "5", "V": "UY"}
_AS_DIGIT = {"G": "6", "E": "6", "B": "8", "D": "0", "Q": "0", "T": "7", "J": "1", "L": "1", "A": "4"}
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sv-ocr-licence")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_DATE = re.compile(r"(\d{4})\D(\d{2})\D(\d{2})(?!\d)")
DATE_WHITELIST = "0123456789年月日"
# Glare is refused only where it costs the one field a licence is useless without: the
# credit code (its first 380 px always carry print). A washed-out name is read as
# unreadable and goes to review instead.
_GLARE_BOXES = {"credit code": (*FIELDS["credit_code"][:2], 380, FIELDS["credit_code"][3])}
_ROTATE_180 = np.array([[-1, 0, LIC_W], [0, -1, LIC_H], [0, 0, 1]], np.float64)


@dataclass
class CodeReading:
    """The credit code as OCR saw it: text, per-character confidence and alternatives."""

    text: str
    confidence: float
    symbols: list[tuple[str, float, str]] = field(default_factory=list)  # (char, conf 0..1, alternatives)
    source: str = "tesseract"  # or "ppocr": an independent model that reads every letter


@dataclass
class CodeCheck:
    """Outcome of validating a read credit code."""

    code: str
    status: FieldStatus
    reasons: list[tuple[Reason, str]] = field(default_factory=list)
    corrected_from: str | None = None


def _code_band(card: np.ndarray) -> np.ndarray:
    """The credit code's box with 40 px above and below: where to look for the line when a
    flattening slightly off in perspective put it beside its box."""
    x, y, w, h = FIELDS["credit_code"]
    return card[y - 40 : y + h + 40, x : x + w]


def _code_crop(card: np.ndarray, reach: int = 40) -> np.ndarray:
    """The credit code's box, carried on to the right while the line's ink runs past it (up
    to `reach` px, to the first gap of 6 blank columns: the gap before the title is wider
    than any between the code's characters). A flattening slightly off put the last
    character half outside the box, and half an M read as I and 1."""
    x, y, w, h = FIELDS["credit_code"]
    rows = card[y : y + h, x : x + w + reach]
    gray = cv2.cvtColor(rows, cv2.COLOR_BGR2GRAY).astype(np.float32)
    inked_rows = (gray < np.percentile(gray, 90) - 40).mean(axis=1) > 0.03
    if inked_rows.sum() < 8:
        return rows[:, :w]
    ink = (gray[inked_rows] < np.percentile(gray, 90) - 40).any(axis=0)
    if not ink[w - 3 : w].any():  # the line ends inside the box, as it should
        return rows[:, :w]
    gap = np.flatnonzero(np.convolve(~ink[w:], np.ones(6), mode="valid") == 6)
    return rows[:, : w + (int(gap[0]) + 3 if gap.size else reach)]


def _crop(card: np.ndarray, name: str, pad: int = 0) -> np.ndarray:
    x, y, w, h = FIELDS[name]
    return card[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]


def _cjk(text: str) -> str:
    return "".join(_CJK.findall(text))


def _redness(card: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x, y, w, h = box
    region = card[y : y + h, x : x + w].astype(np.int16)
    b, g, r = region[:, :, 0], region[:, :, 1], region[:, :, 2]
    return float(((r - np.maximum(g, b)) > 60).mean())


_EMBLEM_BOXES = (EMBLEM, (LIC_W - EMBLEM[0] - EMBLEM[2], LIC_H - EMBLEM[1] - EMBLEM[3], EMBLEM[2], EMBLEM[3]))


def emblem_redness(card: np.ndarray) -> tuple[float, float]:
    """Share of strongly red pixels where the emblem is when upright, and when upside down."""
    return _redness(card, _EMBLEM_BOXES[0]), _redness(card, _EMBLEM_BOXES[1])


def looks_like_licence(bgr: np.ndarray) -> bool:
    """Cheap classification without OCR: a red emblem in the middle of an edge of the
    document (the top one upright; landscape and portrait copies). ID cards carry no red
    (their front has a portrait instead); the aspect ratio alone would not do, since a
    passport data page has the licence's 1.42:1 proportions."""
    h, w = bgr.shape[:2]
    scale = min(1.0, 480 / max(h, w))  # a glance is enough: a quarter of the pixels the reader uses
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    # The outline at the size the reader uses: within a reading (rectify.shared_finding) the
    # MRZ classifier and the quality gate look for the same one, so it is found once (a
    # search of its own on the glance cost 8-12 ms a photo, and a small licence on a desk of
    # similar tone was lost at 480 px and looked for again at full size).
    found = find_document(bgr)
    if found is None:
        return False
    card, _ = warp(small, found.quad * np.float32(scale), (LIC_W // 4, LIC_H // 4))
    return max(edge_emblems(card).values()) > 0.2


def _glyph_mask(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """The largest blob of ink in a symbol's box (Otsu), or None when there is none."""
    x0, y0, x1, y1 = box
    glyph = gray[max(0, y0 - 2) : y1 + 3, max(0, x0 - 2) : x1 + 3]
    if glyph.size == 0 or min(glyph.shape) < 8:
        return None
    _, ink = cv2.threshold(glyph, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink)
    if n < 2:
        return None
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[main, :4])
    return labels[y : y + h, x : x + w] == main


def _holes(gray: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Enclosed counters of a glyph bigger than a speck (8 has two, 9 one, S none)."""
    mask = _glyph_mask(gray, box)
    if mask is None:
        return 0
    background = np.pad((~mask).astype(np.uint8), 1, constant_values=1)
    n, _, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    return sum(1 for i in range(2, n) if stats[i, cv2.CC_STAT_AREA] >= max(4, mask.size // 60))


def check_glyph_shape(crop: np.ndarray) -> str | None:
    """What the shape of the line's last glyph (the check character, easy to cut out: nothing
    stands to its right) says where Tesseract confuses this font's glyphs: "Q" (a tail below
    the baseline) or "0" (none), "B" (a straight left stem) or "8" (a waisted left side).
    Measured on 350 photo/hard crops: Q's bottom 0.15-0.26 line heights below the others'
    (0, 8, B, D: -0.05-0.04); the left edge's waist 0.00-0.04 of the width for B, 0.09-0.21
    for 8. None when the glyph is not cleanly apart (blur merges it with its neighbour)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    scale = 64 / max(gray.shape[0], 1)
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink)
    glyphs = sorted((i for i in range(1, n) if stats[i, 3] > 0.3 * 64 and stats[i, 4] > 20), key=lambda i: stats[i, 0])
    if len(glyphs) < 10:
        return None
    last, before = glyphs[-1], glyphs[-8:-1]
    top = float(np.median([stats[i, 1] for i in before]))
    base = float(np.median([stats[i, 1] + stats[i, 3] for i in before]))
    line = max(base - top, 1.0)
    x, y, w, h = (int(v) for v in stats[last, :4])
    if not 0.45 < w / line < 1.0 or h / line < 0.85:
        return None
    below = (y + h - base) / line
    if below >= 0.12 and h / line >= 1.1:
        return "Q"
    mask = labels[y : y + h, x : x + w] == last
    left = np.array([np.argmax(row) for row in mask[int(h * 0.15) : int(h * 0.85)] if row.any()], np.float64)
    if left.size < 8 or below > 0.05:
        return None
    q = left.size // 4
    waist = (
        np.median(left[left.size * 2 // 5 : left.size * 3 // 5]) - min(np.median(left[:q]), np.median(left[-q:]))
    ) / w
    if waist <= 0.05 and left.std() / w <= 0.025:
        return "B"
    if waist >= 0.09:
        return "8"
    return "0"


def _seven_or_tee(gray: np.ndarray, box: tuple[int, int, int, int]) -> str | None:
    """7 or T by shape: T's stem runs straight down the middle of its bar, 7's stroke leans
    left as it descends. Compares where the ink sits at 30-50% and at 75-100% of the glyph's
    height, as a share of its width (measured: 7 about 0.15-0.18, T about 0 after blur)."""
    mask = _glyph_mask(gray, box)
    if mask is None or mask.shape[0] < 8 or mask.shape[1] < 4:
        return None
    h, w = mask.shape

    def centre(r0: float, r1: float) -> float | None:
        cols = np.nonzero(mask[int(h * r0) : max(int(h * r0) + 1, int(h * r1))])[1]
        return float(cols.mean()) if cols.size else None

    mid, low = centre(0.3, 0.5), centre(0.75, 1.0)
    if mid is None or low is None:
        return None
    lean = (mid - low) / w
    return "7" if lean > 0.09 else "T" if lean < 0.04 else None


def read_code(
    ocr: Tesseract | TesserocrEngine,
    crop: np.ndarray,
    whitelist: str = LEGAL_WHITELIST,
    height: int = 64,
    flatten: bool = False,
) -> CodeReading:
    """One line of code characters, read with `whitelist`, the crop scaled to `height` px
    (and its light evened out when `flatten`), with per-character confidence and the other
    characters Tesseract considered (in-process engine only; the program gives the mean)."""
    if not isinstance(ocr, TesserocrEngine):
        r = ocr.read([Region("credit_code", crop)], "eng", 7, whitelist)["credit_code"]
        text = re.sub(r"[^0-9A-Z]", "", r.text.upper())
        return CodeReading(text, r.confidence, [(c, r.confidence, "") for c in text])
    from PIL import Image

    tess = ocr._tesserocr
    api = ocr._api("eng")  # the engine's per-thread API object, as its own reads use
    api.SetVariable("tessedit_char_whitelist", whitelist)
    api.SetVariable("lstm_choice_mode", "2")
    api.SetPageSegMode(tess.PSM.SINGLE_LINE)
    gray = _prepare(crop, 1) if flatten else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    scale = height / max(gray.shape[0], 1)
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    padded = cv2.copyMakeBorder(gray, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
    api.SetImage(Image.fromarray(padded))
    api.Recognize()
    symbols: list[tuple[str, float, str]] = []
    it = api.GetIterator()
    level = tess.RIL.SYMBOL
    while it is not None:
        try:
            ch = (it.GetUTF8Text(level) or "").strip().upper()
            conf = it.Confidence(level) / 100
            alts = "".join((c.GetUTF8Text() or "").strip().upper() for c in it.GetChoiceIterator())
        except RuntimeError:  # nothing recognised
            break
        if ch:
            box = it.BoundingBox(level)
            if ch in "7T" and box:  # Tesseract's eng model takes this font's 7 for T: look at the glyph
                ch = _seven_or_tee(padded, box) or ch
            elif ch == "S" and box and _holes(padded, box) > 0:  # an S encloses nothing; 8, 9, 6 do
                ch = next((a for a in alts if a in "8965"), "8")
            symbols.append((ch, conf, alts.replace(ch, "")))
        if not it.Next(level):
            break
    api.SetVariable("lstm_choice_mode", "0")
    text = "".join(s for s, _, _ in symbols)
    mean = float(np.mean([c for _, c, _ in symbols])) if symbols else 0.0
    return CodeReading(text, mean, symbols)


def _sharpen(gray: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    return cv2.addWeighted(gray, 1 + amount, cv2.GaussianBlur(gray, (0, 0), sigma), -amount, 0)


def _flatten(crop: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    divided = cv2.divide(gray, background, scale=255)
    flat = cv2.normalize(divided, np.empty_like(divided), 0, 255, cv2.NORM_MINMAX)
    return cv2.cvtColor(flat, cv2.COLOR_GRAY2BGR)


# Extra readings when the first does not settle the code: each fails on different characters
# (blur, uneven light), so together they outvote a single misreading.
_MORE_VIEWS = (
    lambda crop: (crop, 40, True),
    lambda crop: (_sharpen(_flatten(crop), 1.0, 1.5), 48, False),
    lambda crop: (_sharpen(crop, 1.0, 1.5), 64, False),
    lambda crop: (_sharpen(crop, 2.0, 2.0), 56, False),  # strong unsharp mask: the blurred hard tier
)


def _text_rows(crop: np.ndarray, margin: int) -> np.ndarray:
    """The crop cut to the rows that carry ink, plus `margin` px: the line then fills the
    height the reading scales to (measured on blurred photos: 52 -> 54 of 60 codes)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    inked = (gray < np.percentile(gray, 90) - 40).mean(axis=1) > 0.03
    rows = np.flatnonzero(inked)
    if rows.size < 8:
        return crop
    return crop[max(0, rows[0] - margin) : rows[-1] + margin + 1]


def _agreed_illegal(first: CodeReading, second: CodeReading) -> CodeReading:
    """The first all-letters reading, keeping a character GB 32100 never uses only where
    the second reading (same length) saw one too; elsewhere the second's character."""
    if len(second.text) != len(first.text):
        return first
    text = "".join(
        a if a in uscc.ALPHABET or b not in uscc.ALPHABET else b for a, b in zip(first.text, second.text, strict=True)
    )
    return CodeReading(text, first.confidence, first.symbols)


def _text_lines(band: np.ndarray, margin: int = 4) -> list[np.ndarray]:
    """The lines of text in `band` (runs of inked rows at least 12 px high), top to bottom."""
    gray = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY).astype(np.float32)
    inked = np.concatenate([[False], (gray < np.percentile(gray, 90) - 40).mean(axis=1) > 0.03, [False]])
    edges = np.flatnonzero(np.diff(inked.astype(np.int8)))
    return [band[max(0, a - margin) : b + margin] for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 12]


def read_credit_code(
    ocr: Tesseract | TesserocrEngine,
    crop: np.ndarray,
    lines: TextLineRecogniser | None = None,
    band: np.ndarray | None = None,
) -> tuple[CodeCheck, float]:
    """Read and validate the credit code, with more readings only when the first ones do not
    agree on a code that checks out; returns the check and the first reading's confidence.
    With `lines` (the PP-OCR text-line recogniser), its reading is the second opinion.
    `band`: the code's box with room above and below; when nothing in `crop` reads as most
    of a code (the flattening put the line off its box), each text line of the band is
    tried and the one read longest is read in full."""
    crop = _text_rows(crop, 4)
    full = read_code(ocr, crop, FULL_WHITELIST, 48, False)
    legal = [read_code(ocr, crop, LEGAL_WHITELIST, 64, False)]
    if lines is not None:
        pp = lines.recognise(crop)
        legal.append(CodeReading(re.sub(r"\s+", "", pp.text).upper(), pp.confidence, source="ppocr"))
    quick = check_code(legal, full, final=False)
    if quick is not None:
        return quick, legal[0].confidence
    if band is not None and max(len(re.sub("[^0-9A-Z]", "", r.text)) for r in [full, *legal]) < 16:
        tries = [
            (len(read_code(ocr, line, LEGAL_WHITELIST, 64, False).text), i) for i, line in enumerate(_text_lines(band))
        ]
        longest = max(tries, default=(0, 0))
        if longest[0] >= 16:
            return read_credit_code(ocr, _text_lines(band)[longest[1]], lines)
    for view in _MORE_VIEWS:
        image, height, flatten = view(crop)
        legal.append(read_code(ocr, image, LEGAL_WHITELIST, height, flatten))
    if any(c not in uscc.ALPHABET for c in full.text):
        # A second all-letters reading: a printed I/O/S/V/Z reads as itself both times; a
        # blurred 8 or D that the first took for S or O usually does not.
        second = read_code(ocr, _sharpen(crop, 1.0, 1.5), FULL_WHITELIST, 64, False)
        full = _agreed_illegal(full, second)
    checked = check_code(legal, full, final=True, check_shape=check_glyph_shape(crop))
    assert checked is not None
    return checked, min(legal[0].confidence, full.confidence)


def organisation_code_ok(code: str) -> bool:
    """Characters 9-17 of a credit code are a GB 11714 organisation code with its own check
    character (weights 3 7 9 10 5 8 4 2; 11 - sum mod 11; 10 -> X, 11 -> 0)."""
    body, check = code[8:16], code[16]
    if not all(c.isdigit() or "A" <= c <= "Z" for c in body):
        return False
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, weights, strict=True))
    c = 11 - total % 11
    return check == ("X" if c == 10 else "0" if c == 11 else str(c))


def _checksum_ok(code: str) -> bool:
    return len(code) == 18 and all(c in uscc.ALPHABET for c in code) and uscc.check_char(code[:17]) == code[17]


def _value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - 55


@functools.cache
def _regions() -> frozenset[str]:
    return frozenset(cn_id.regions())  # read once: the table takes ~50 ms to load


def _plausible(code: str) -> bool:
    """Structure a correction must have beyond the GB 32100 check (which a mod-31 check
    passes by chance for 1 in 31 wrong codes): a GB/T 2260 region code and an organisation
    code whose own GB 11714 check character matches (1 in 11 by chance)."""
    return len(code) == 18 and code[2:8] in _regions() and organisation_code_ok(code)


def _corroborated(code: str, reference: str) -> bool:
    """A code that differs from what the readings agreed on (`reference`) is trusted only
    when the organisation code's own check character (GB 11714, characters 9-17) confirms
    every difference: each must lie in characters 9-16 and change the character's value by
    other than a multiple of 11 (7 and T, worth 7 and 29, look the same to that check).
    A region code that still exists is no evidence: most single-digit changes keep one."""
    diffs = [i for i, (a, b) in enumerate(zip(code, reference, strict=True)) if a != b]
    if not diffs or len(diffs) > 2:
        return not diffs
    if any(not 8 <= i <= 15 or (_value(code[i]) - _value(reference[i])) % 11 == 0 for i in diffs):
        return False
    return _plausible(code)


def _only_lookalikes(seen: str, code: str) -> bool:
    return len(seen) == len(code) and all(a == b or _LOOKALIKE.get(a) == b for a, b in zip(seen, code, strict=True))


def _digits_where_required(code: str) -> str:
    """Characters 3-8 are a region code and character 17 the organisation code's check
    (0-9 or X): a letter there is a misread digit."""
    if len(code) != 18:
        return code
    region = "".join(_AS_DIGIT.get(c, c) for c in code[2:8])
    return code[:2] + region + code[8:16] + _AS_DIGIT.get(code[16], code[16]) + code[17]


def _majority(codes: list[str]) -> str:
    out = []
    for column in zip(*codes, strict=True):
        counts: dict[str, int] = {}
        for c in column:
            counts[c] = counts.get(c, 0) + 1
        out.append(max(counts, key=lambda c: (counts[c], -column.index(c))))
    return "".join(out)


def _substitutions(code: str, legal: list[CodeReading]) -> set[str]:
    """Codes one classic confusion away from `code` inside the organisation code, where
    Tesseract itself offered the other character, that pass the GB 32100 check."""
    offered = [{alt for r in legal if len(r.symbols) == 18 for alt in r.symbols[i][2]} for i in range(18)]
    out = set()
    for i in range(8, 16):
        for alt in _CONFUSIONS.get(code[i], ""):
            cand = code[:i] + alt + code[i + 1 :]
            if alt in offered[i] and _checksum_ok(cand):
                out.add(cand)
    return out


def _ppocr(legal: list[CodeReading]) -> str:
    """PP-OCR's reading among the restricted ones ("" without the recogniser)."""
    return next((r.text for r in legal if r.source == "ppocr"), "")


def _contradicted(code: str, legal: list[CodeReading], seen: str, majority: str, check_shape: str | None) -> bool:
    """Evidence against a code that checks out: PP-OCR read a letter GB 32100 never uses
    where the code has something other than that letter's classic look-alike (a printed Z
    that Tesseract took for 7, a V for W, restoring the code the forger altered); the check
    character's shape says the other of a confusable pair (a tailed Q where the code has 0);
    or the code departs from the majority where PP-OCR and the all-letters reading, two
    independent readers, both read the majority's character."""
    pp = _ppocr(legal)
    if len(pp) == 18 and any(_LOOKALIKE[p] != c for p, c in zip(pp, code, strict=True) if p in _LOOKALIKE):
        return True
    if check_shape and (code[17], check_shape) in _SHAPE_PAIRS:
        return True
    if len(pp) == len(seen) == len(majority) == 18:
        return any(c != m and pp[i] == m and seen[i] == m for i, (c, m) in enumerate(zip(code, majority, strict=True)))
    return False


def _filled_by_ppocr(legal: list[CodeReading], majority: str) -> str | None:
    """PP-OCR's reading, when it differs from the majority only where a code must have a
    digit (region code, organisation-code check) and every full-length Tesseract reading
    saw a letter there (a 9 read as Q or G): those readings are impossible, so they are no
    evidence against PP-OCR's digit. None otherwise."""
    pp = _ppocr(legal)
    pp = _digits_where_required(pp) if len(pp) == 18 else ""
    raw = [r.text for r in legal if r.source != "ppocr" and len(r.text) == 18]
    if not pp or not raw or pp == majority:
        return None
    for i, (p, m) in enumerate(zip(pp, majority, strict=True)):
        digits = "0123456789X" if i == 16 else "0123456789"
        if p != m and (not (2 <= i < 8 or i == 16) or p not in digits or any(t[i] in digits for t in raw)):
            return None
    return pp


def _ppocr_against_confusions(legal: list[CodeReading], majority: str) -> str | None:
    """PP-OCR's reading (classic look-alikes mapped), when it differs from the Tesseract
    majority in one or two characters, each a confusion of this font's glyphs that
    Tesseract makes (_CONFUSIONS: 7/T, 8/B/E, 6/G ...): at the hard tier all Tesseract views
    share such a misreading where PP-OCR, another model, reads the print right. None
    otherwise."""
    pp = _ppocr(legal)
    pp = _digits_where_required("".join(_LOOKALIKE.get(c, c) for c in pp)) if len(pp) == 18 else ""
    if not pp or pp == majority:
        return None
    diffs = [i for i, (p, m) in enumerate(zip(pp, majority, strict=True)) if p != m]
    if len(diffs) > 2 or any(pp[i] not in _CONFUSIONS.get(majority[i], "") for i in diffs):
        return None
    return pp


def _letters_vouched_against(seen: str, legal: list[CodeReading], codes: list[str], majority: str) -> dict[int, str]:
    """Positions where the all-letters reading saw a letter GB 32100 never uses, but PP-OCR
    (a second model that reads every letter, I, O, S, V and Z included) read a legal
    character that is not what that letter becomes when read without it (_PRINTED_AS), and
    it is the restricted readings' majority or at least one of them read it too, more often
    than any such look-alike: a Q
    or a 9 taken for O, a blurred 8 for S, a T for I. Two models agree on a character that
    looks unlike the letter, so the letter is Tesseract's misreading, not a print; maps
    each such position to the agreed character. `codes`: the full-length readings, PP-OCR's
    among them."""
    pp = _ppocr(legal)
    if len(seen) != 18 or len(pp) != 18:
        return {}
    out = {}
    for i, c in enumerate(seen):
        if c in uscc.ALPHABET or pp[i] not in uscc.ALPHABET or pp[i] in _PRINTED_AS[c]:
            continue
        column = [code[i] for code in codes]
        votes = column.count(pp[i])
        if (votes >= 2 or pp[i] == majority[i]) and votes > max(column.count(a) for a in _PRINTED_AS[c]):
            out[i] = pp[i]
    return out


_SHAPE_PAIRS = {("0", "Q"), ("Q", "0"), ("8", "B"), ("B", "8")}


def check_code(
    legal: list[CodeReading], full: CodeReading, final: bool = True, check_shape: str | None = None
) -> CodeCheck | None:
    """Validate the credit code (GB 32100) from readings restricted to its alphabet (`legal`)
    and one over all of A-Z (`full`: the evidence for characters a code never has).

    - The first restricted reading checks out (with digits where a code has them) and the
      all-letters reading saw the same, or the same but for classic look-alikes (O/0, I/1,
      Z/2, S/5, V/U), or PP-OCR read the same, or another view did and the code has a real
      code's structure (`_plausible`): VALID / CORRECTED. With `final` False that is all
      that is tried; None means "read more".
    - A letter GB 32100 never uses that the all-letters reading saw where PP-OCR and the
      restricted readings' majority agree on another legal character, one such a letter is
      not read as (a 9 or Q for O, a T for I), is Tesseract's misreading, not a print
      (`_letters_vouched_against`); that character stands in for it.
    - The all-letters reading saw I, O, S, V or Z (twice, see read_credit_code): accepted
      only with exactly those replaced by their classic look-alikes (plus at most one
      confusion the organisation code confirms, not at those letters), checking out and
      plausible: CORRECTED. If
      something else checks out, the print is ambiguous (a V, or a W read as V?): unreadable,
      review. If nothing does and the restricted readings saw the look-alike: MALFORMED.
    - Otherwise the candidates are the readings, their majority, the combinations of the
      characters they disagree on, one classic confusion (6/G, 0/Q/D, 8/B, E/6 ...) that
      Tesseract itself offered inside the organisation code, and the majority with its check
      character replaced by what that glyph's shape says (`check_shape`: Q/0, B/8). A
      candidate must check out, have a real code's structure (`_plausible`: a mod-31 check
      alone passes 1 in 31 wrong codes) and be read by two readings, or be the majority or
      the shaped one, or have every difference from the majority confirmed by the
      organisation code's own check (`_corroborated`). Exactly one must survive: VALID /
      CORRECTED. None: CHECKSUM_FAILED (review: some early codes fail it legitimately).
      Several, or no full-length reading: unreadable.
    """
    seen = full.text

    def accepted(code: str) -> CodeCheck:
        if code == seen:
            return CodeCheck(code, FieldStatus.VALID)
        return CodeCheck(code, FieldStatus.CORRECTED, corrected_from=seen)

    def unreadable(value: str, why: str) -> CodeCheck:
        return CodeCheck(value, FieldStatus.UNREADABLE, [(Reason.FIELD_UNREADABLE, why)])

    first = legal[0].text
    # Another reading agreeing on a code that checks out is enough, unless the all-letters
    # reading saw a letter GB 32100 never uses (handled below), if the code has a real code's
    # structure too: Tesseract's readings share their errors (6 read as G by all of them
    # turned a wrong check character into one that checks out; 8 and 6 read as B and E by
    # two views passed the check by chance), and the organisation code's check catches most.
    others = [r for r in legal[1:] if r.text == first] if all(c in uscc.ALPHABET for c in seen) else []
    agreeing = bool(others)
    codes = [_digits_where_required(r.text) for r in legal if len(r.text) == 18]
    if (
        _checksum_ok(first)
        and _plausible(first)
        and (first == seen or _only_lookalikes(seen, first) or agreeing)
        and not _contradicted(first, legal, seen, _majority(codes) if final else first, check_shape)
    ):
        return accepted(first)
    if not final:
        return None
    if not codes:
        best = first or seen
        return unreadable(best, f"the credit code could not be read ({len(best)} of 18 characters); retake the photo")
    majority = _majority(codes)
    columns = [sorted(set(col)) for col in zip(*codes, strict=True)]
    pool = set(codes) | {majority}
    if int(np.prod([len(c) for c in columns])) <= 256:
        pool |= {"".join(combo) for combo in itertools.product(*columns)}
    letters = _letters_vouched_against(seen, legal, codes, majority)
    read = "".join(letters.get(i, c) for i, c in enumerate(seen))  # the all-letters reading, so vouched
    illegal = [i for i, c in enumerate(read) if c not in uscc.ALPHABET] if len(read) == 18 else []
    if illegal:
        mapped = "".join(_LOOKALIKE.get(c, c) for c in read)
        # Only what the readings agree on, with the look-alikes put in: combinations of
        # stray characters would give a malformed code too many chances to check out. The
        # all-letters reading with its look-alikes mapped is one reading among the others.
        agreed_codes = [majority, *(c for c in set(codes) if codes.count(c) >= 2 or c == mapped)]
        forced = {"".join(mapped[i] if i in illegal else ch for i, ch in enumerate(p)) for p in agreed_codes}
        confirmed = {
            c for c in forced if _checksum_ok(c) and _plausible(c) and not _contradicted(c, legal, seen, c, check_shape)
        }
        if not confirmed and len(codes) >= 3:  # plus one confusion the organisation code confirms
            # ... elsewhere: never a second hop at the letter itself (an O put to 0, then 0
            # to Q, accepted a printed O in a clean scan: seed 6, one in 31 such hops checks out).
            base = "".join(mapped[i] if i in illegal else ch for i, ch in enumerate(majority))
            confirmed = {
                c
                for c in _substitutions(base, legal)
                if all(c[i] == base[i] for i in illegal)
                and _corroborated(c, base)
                and not _contradicted(c, legal, seen, base, check_shape)
            }
        if len(confirmed) == 1:  # classic look-alikes where I, O, S, V, Z were seen, confirmed
            return accepted(confirmed.pop())
        if confirmed or any(_checksum_ok(c) for c in pool):
            return unreadable(majority, "the credit code reads more than one way; retake the photo in even light")
        pp = _ppocr(legal)
        # ... or PP-OCR, another model that reads every letter, saw the very same letters in
        # the same places (the look-alikes having been ruled out above: they do not check out).
        both_saw = len(pp) == 18 and all(pp[i] == read[i] for i in illegal)
        if len(codes) >= 2 and (both_saw or all(majority[i] in _PRINTED_AS[read[i]] for i in illegal)):
            # Read as I/O/S/V/Z by the all-letters readings and as what such a letter becomes
            # by the others, and the look-alike does not check out: the letter is printed. Not
            # on one full-length reading alone (a last glyph cut in half, read as I and 1,
            # failed a valid licence).
            bad = sorted({read[i] for i in illegal})
            return CodeCheck(
                seen,
                FieldStatus.INVALID,
                [
                    (
                        Reason.CREDIT_CODE_MALFORMED,
                        f"the credit code contains {', '.join(bad)}: GB 32100 codes use 0-9 and A-Z "
                        "without I, O, S, V, Z",
                    )
                ],
            )
        # The restricted readings saw something else there (a 9 the all-letters reading
        # took for S): a blurred character, not evidence of a forged code.
        return unreadable(majority, "the credit code could not be read with confidence; retake the photo")
    candidates = {c for c in pool if _checksum_ok(c)} | _substitutions(majority, legal)
    # The check character's own shape (check_glyph_shape) against the readings: a Q's tail or
    # a B's straight stem that every reading took for 0 or 8, where the check confirms it.
    shaped = majority[:17] + check_shape if check_shape and (majority[17], check_shape) in _SHAPE_PAIRS else None
    if shaped and _checksum_ok(shaped):
        candidates.add(shaped)
    filled = _filled_by_ppocr(legal, majority) or _ppocr_against_confusions(legal, majority)
    if filled and _checksum_ok(filled):
        candidates.add(filled)
    # Two readings that agree (two restricted ones, or one and the all-letters one, with the
    # letters PP-OCR vouched against put right) and check out; the majority; or a confusion
    # the organisation code alone confirms.
    agreed = {c for c in codes if codes.count(c) + (c == read) >= 2}
    # Every candidate must also have the structure of a real code: Tesseract views share
    # their errors (8 read as B, 6 as E) and 1 in 31 such wrong codes passes the GB 32100
    # check (seen: two views agreeing on a code with two misread characters).
    candidates = {
        c
        for c in candidates
        if (c in (seen, majority, shaped, filled) or c in agreed or _corroborated(c, majority))
        and _plausible(c)
        and not _contradicted(c, legal, seen, c if c == shaped else majority, check_shape)
    }
    if len(candidates) == 1:
        return accepted(candidates.pop())
    if candidates:
        return unreadable(majority, "the credit code reads more than one way; retake the photo in even light")
    return CodeCheck(
        majority,
        FieldStatus.INVALID,
        [
            (
                Reason.CREDIT_CODE_CHECKSUM_FAILED,
                "the credit code's check character does not match (GB 32100); some early codes do: "
                "a reviewer checks it",
            )
        ],
    )


def parse_date(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a printed YYYY年MM月DD日 (months and days are zero-padded on
    licences), or None when the reading has another shape. Not checked for being a date."""
    m = _DATE.search(re.sub(r"\s+", "", text))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def check_date(readings: list[str], today: date) -> tuple[str, FieldStatus, list[tuple[Reason, str]]]:
    """The establishment date from two readings of it: they must agree (a single misread
    digit could turn an impossible date into a plausible one); then it must be a real
    calendar date, not in the future and not before 1949-10-01."""
    parsed = [parse_date(t) for t in readings]
    shown = re.sub(r"\s+", "", readings[0])
    if parsed[0] is None or any(p != parsed[0] for p in parsed):
        return (
            shown,
            FieldStatus.UNREADABLE,
            [(Reason.FIELD_UNREADABLE, "the establishment date could not be read; retake the photo in even light")],
        )
    y, m, d = parsed[0]
    try:
        when = date(y, m, d)
    except ValueError:
        return (
            f"{y:04d}-{m:02d}-{d:02d}",
            FieldStatus.INVALID,
            [(Reason.INVALID_DATE, f"the establishment date {y}年{m:02d}月{d:02d}日 is not a real date")],
        )
    if when > today:
        why = f"{when} is in the future"
    elif when < date(1949, 10, 1):
        why = f"{when} is before any licence was issued"
    else:
        return when.isoformat(), FieldStatus.VALID, []
    return (
        when.isoformat(),
        FieldStatus.INVALID,
        [(Reason.INVALID_DATE, f"the establishment date is impossible: {why}")],
    )


# Centre lines of the licence's printed outer frame on the canvas (left, top, right, bottom).
FRAME = (17.5, 17.5, LIC_W - 18.5, LIC_H - 18.5)
_BAND = 64


def _frame_lines(card: np.ndarray) -> tuple[float, float, float, float] | None:
    """Where the printed outer frame runs near each edge of a flattened licence, or None."""
    gray = cv2.cvtColor(card, cv2.COLOR_BGR2GRAY).astype(np.float32)
    ink = 255 - gray
    h, w = gray.shape
    cols = ink[h // 6 : 5 * h // 6].mean(axis=0)
    rows = ink[:, w // 6 : 5 * w // 6].mean(axis=1)
    found = []
    for profile, lo, hi in ((cols, 0, _BAND), (rows, 0, _BAND), (cols, w - _BAND, w), (rows, h - _BAND, h)):
        band = np.convolve(profile[lo:hi], np.ones(5) / 5, mode="same")
        i = int(np.argmax(band))
        if band[i] < np.median(band) + 25:  # no frame line stands out on this side
            return None
        found.append(float(lo + i))
    return found[0], found[1], found[2], found[3]


def _register(bgr: np.ndarray, card: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-warp so that the printed frame lands where the layout expects it: on a light
    background the outline found may be the frame rather than the paper's edge."""
    lines = _frame_lines(card)
    if lines is None:
        return card, inverse
    left, top, right, bottom = lines
    if max(abs(a - b) for a, b in zip(lines, FRAME, strict=True)) < 2.5:
        return card, inverse
    seen = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32).reshape(-1, 1, 2)
    in_image = cv2.perspectiveTransform(seen, inverse).reshape(-1, 2)
    fl, ft, fr, fb = FRAME
    want = np.array([[fl, ft], [fr, ft], [fr, fb], [fl, fb]], np.float32)
    m = cv2.getPerspectiveTransform(in_image.astype(np.float32), want)
    flat = cv2.warpPerspective(bgr, m, (LIC_W, LIC_H), flags=cv2.INTER_CUBIC)
    return flat, np.linalg.inv(m)


def _upright(card: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top, bottom = emblem_redness(card)
    if bottom > top:
        return cv2.rotate(card, cv2.ROTATE_180), inverse @ _ROTATE_180
    return card, inverse


def _ink_columns(crop: np.ndarray, margin: int) -> np.ndarray:
    """The crop cut to the columns that carry ink, plus `margin` px (the background pattern
    beside a short value reads as a stray character)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    cols = np.flatnonzero((gray < np.percentile(gray, 90) - 60).mean(axis=0) > 0.02)
    if cols.size < 4:
        return crop
    return crop[:, max(0, cols[0] - margin) : cols[-1] + margin + 1]


def _read_lines(lines: TextLineRecogniser, crops: dict[str, np.ndarray]) -> dict[str, Reading]:
    """PP-OCR readings of single-line crops, as Readings (confidence: the weakest character)."""
    out = {}
    for name, crop in crops.items():
        text = lines.recognise(_ink_columns(_text_rows(crop, 4), 10))
        out[name] = Reading(text.text, text.confidence)
    return out


def read_licence(
    bgr: np.ndarray,
    today: date,
    ocr: Tesseract | TesserocrEngine,
    text_lines: TextLineRecogniser | str | None = "shared",
) -> DocumentResult:
    """Read and validate a business licence photo in any layout; quality problems raise
    INVALID_ARGUMENT. Fields are found by their printed labels (licence_labels) with the
    PP-OCR line recogniser; `text_lines`: that recogniser ("shared": the process's one, if
    installed; None: Tesseract alone, which reads the 2019 horizontal layout's fixed boxes)."""
    lines = ppocr.shared() if text_lines == "shared" else text_lines
    assert lines is None or isinstance(lines, TextLineRecogniser)
    if lines is None:
        return _read_fixed_layout(bgr, today, ocr, None)
    return _read_by_labels(bgr, today, ocr, lines)


def _read_fixed_layout(
    bgr: np.ndarray, today: date, ocr: Tesseract | TesserocrEngine, lines: TextLineRecogniser | None
) -> DocumentResult:
    """The 2019 horizontal layout read from its fixed boxes (licence_layout.FIELDS): the
    path without PP-OCR, which the label finder needs."""
    t0 = time.perf_counter()
    found = gate(bgr, "front")
    card, inverse = warp(bgr, found.quad, (LIC_W, LIC_H))
    card, inverse = _upright(card, inverse)
    for _ in range(2):  # a frame cut by the first outline reads off-centre: a second pass settles it
        card, inverse = _register(bgr, card, inverse)
    check_glare(card, _GLARE_BOXES, "front")
    t1 = time.perf_counter()
    date_crop = _crop(card, "establishment_date")
    chi_lines = ("company_name", "legal_representative", "company_type", "registered_capital")
    jobs: dict[str, Future[Any]] = {
        "code": _POOL.submit(read_credit_code, ocr, _code_crop(card), lines, _code_band(card)),
        "chi": _POOL.submit(ocr.read, [Region(k, _crop(card, k)) for k in chi_lines], "chi_sim", 7, None),
        "more": _POOL.submit(
            ocr.read,
            [
                Region("address", _crop(card, "address"), lines=2),
                Region("registration_authority", _crop(card, "registration_authority")),
            ],
            "chi_sim",
            6,
            None,
        ),
        "date": _POOL.submit(
            ocr.read,
            [
                Region("establishment_date", date_crop),
                Region("establishment_date_2", _sharpen(_flatten(date_crop), 1.0, 1.5)),
            ],
            "chi_sim",
            7,
            DATE_WHITELIST,
        ),
    }
    if lines is not None:
        names = {k: _crop(card, k) for k in ("company_name", "legal_representative")}
        jobs["names"] = _POOL.submit(_read_lines, lines, names)
    checked, code_conf = jobs["code"].result()
    chi = {**jobs["chi"].result(), **jobs["more"].result(), **jobs["date"].result()}
    if "names" in jobs:  # PP-OCR reads Chinese names far better than Tesseract's chi_sim
        for key, reading in jobs["names"].result().items():
            if len(_cjk(reading.text)) >= 2:
                chi[key] = reading
    t2 = time.perf_counter()

    result = DocumentResult(DocumentKind.CN_BUSINESS_LICENCE, {})

    def add(
        name: str, value: str, conf: float, status: FieldStatus, reasons: list[tuple[Reason, str]] | None = None
    ) -> None:
        f = DocField(name, value, conf, status, box_to_image(FIELDS[name], inverse), "front", reasons or [])
        result.fields[name] = f
        for code, message in f.reasons:
            result.reasons.append((code, message, name))

    def unreadable(what: str) -> list[tuple[Reason, str]]:
        return [(Reason.FIELD_UNREADABLE, f"the {what} could not be read; retake the photo in even light")]

    add("credit_code", checked.code, code_conf, checked.status, checked.reasons)

    name = _cjk(chi["company_name"].text)
    ok = len(name) >= 4
    add(
        "company_name",
        name,
        chi["company_name"].confidence,
        FieldStatus.UNCHECKED if ok else FieldStatus.UNREADABLE,
        None if ok else unreadable("company name"),
    )
    rep = _cjk(chi["legal_representative"].text)
    ok = 2 <= len(rep) <= 6
    add(
        "legal_representative",
        rep,
        chi["legal_representative"].confidence,
        FieldStatus.UNCHECKED if ok else FieldStatus.UNREADABLE,
        None if ok else unreadable("legal representative"),
    )
    kind = chi["company_type"].text.replace("(", "（").replace(")", "）")
    add("company_type", kind, chi["company_type"].confidence, FieldStatus.UNCHECKED)
    add(
        "registered_capital",
        chi["registered_capital"].text,
        chi["registered_capital"].confidence,
        FieldStatus.UNCHECKED,
    )
    address = re.sub(r"\s+", "", chi["address"].text)
    add("address", address, chi["address"].confidence, FieldStatus.UNCHECKED)
    authority = _cjk(chi["registration_authority"].text)
    add("registration_authority", authority, chi["registration_authority"].confidence, FieldStatus.UNCHECKED)

    value, status, reasons = check_date([chi["establishment_date"].text, chi["establishment_date_2"].text], today)
    conf = min(chi["establishment_date"].confidence, chi["establishment_date_2"].confidence)
    add("establishment_date", value, conf, status, reasons)
    t3 = time.perf_counter()
    result.timings_ms = {
        "find": round((t1 - t0) * 1000, 1),
        "ocr": round((t2 - t1) * 1000, 1),
        "validate": round((t3 - t2) * 1000, 1),
    }
    return result


# --- any layout, by the printed labels ------------------------------------------------------


# Canvas -> canvas before the turn, for a turn that brings the emblem to the top.
def _turn(card: np.ndarray, inverse: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    h, w = card.shape[:2]
    if where == "bottom":
        m = np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1]], np.float64)
        return cv2.rotate(card, cv2.ROTATE_180), inverse @ m
    if where == "left":  # the document's top lies along the left edge: turn clockwise
        m = np.array([[0, 1, 0], [-1, 0, h - 1], [0, 0, 1]], np.float64)
        return cv2.rotate(card, cv2.ROTATE_90_CLOCKWISE), inverse @ m
    if where == "right":
        m = np.array([[0, -1, w - 1], [1, 0, 0], [0, 0, 1]], np.float64)
        return cv2.rotate(card, cv2.ROTATE_90_COUNTERCLOCKWISE), inverse @ m
    return card, inverse


def edge_emblems(card: np.ndarray) -> dict[str, float]:
    """Share of strongly red pixels in the middle of each edge, where a licence's national
    emblem is printed (top centre in every layout, landscape or portrait; the seal, also red,
    sits near a corner)."""
    h, w = card.shape[:2]
    s = max(h, w) / LIC_W
    a, b = int(16 * s), int(150 * s)  # from the edge inwards
    half = int(80 * s)
    return {
        "top": _redness(card, (w // 2 - half, a, 2 * half, b - a)),
        "bottom": _redness(card, (w // 2 - half, h - b, 2 * half, b - a)),
        "left": _redness(card, (a, h // 2 - half, b - a, 2 * half)),
        "right": _redness(card, (w - b, h // 2 - half, b - a, 2 * half)),
    }


def _upright_any(card: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    red = edge_emblems(card)
    return _turn(card, inverse, max(red, key=lambda k: red[k]))


# PP-OCR's weakest character in the legal representative's name. Measured on 8 licences per
# layout and tier (tuning seeds "floor-"): correct names 0.984+ on clean scans, 0.933+ on all
# but 1 of 32 photos; wrong ones 0.23-0.77, and a half-rubbed-out glyph read as another 0.90.
_MIN_NAME_CONFIDENCE = 0.93


def _read_values(lines: TextLineRecogniser, card: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> Reading:
    texts: list[str] = []
    confs: list[float] = []
    for box in boxes:
        r = lines.recognise(licence_labels.crop(card, box))
        texts.append(r.text)
        confs.extend(r.confidences)
    return Reading("".join(texts).strip(), min(confs) if confs else 0.0)


def _read_by_labels(
    bgr: np.ndarray, today: date, ocr: Tesseract | TesserocrEngine, lines: TextLineRecogniser
) -> DocumentResult:
    t0 = time.perf_counter()
    found = gate(bgr, "front")
    card, inverse = warp(bgr, found.quad, (LIC_W, LIC_H))
    for _ in range(2):  # squared up on the printed frame, as far as one stands out (every layout has one)
        card, inverse = _register(bgr, card, inverse)
    card, inverse = _upright_any(card, inverse)
    segs = licence_labels.segments(card)
    t1 = time.perf_counter()
    fields = licence_labels.find_fields(lines, card, segs)
    code_box = licence_labels.code_segment(fields, segs) or licence_labels.code_by_text(lines, card, segs)
    if code_box is not None:
        code_box = licence_labels.code_line(card, code_box, segs)
    t2 = time.perf_counter()
    jobs: dict[str, Future[Any]] = {}
    if code_box is not None:
        check_glare(card, {"credit code": code_box}, "front")
        x, y, w, h = code_box
        code_crop = licence_labels.line_crop(card, code_box)
        band = card[max(0, y - 40) : y + h + 40, max(0, x - 6) : x + w + 6]
        jobs["code"] = _POOL.submit(read_credit_code, ocr, code_crop, lines, band)
    wanted = (
        "company_name",
        "legal_representative",
        "company_type",
        "registered_capital",
        "address",
        "registration_authority",
        "business_term",
        "establishment_date",
    )
    for name in wanted:
        if name in fields and fields[name].value_boxes:
            jobs[name] = _POOL.submit(_read_values, lines, card, fields[name].value_boxes)
    date_found = fields.get("establishment_date")
    if date_found is not None and date_found.value_boxes:
        date_crop = licence_labels.crop(card, licence_labels.union(date_found.value_boxes), 4)
        jobs["date_tess"] = _POOL.submit(
            ocr.read, [Region("establishment_date", date_crop)], "chi_sim", 7, DATE_WHITELIST
        )
    read = {k: j.result() for k, j in jobs.items()}
    t3 = time.perf_counter()

    result = DocumentResult(DocumentKind.CN_BUSINESS_LICENCE, {})

    def box_of(name: str) -> tuple[int, int, int, int]:
        f = fields.get(name)
        if name == "credit_code" and code_box is not None:
            return code_box
        if f is None:
            return (0, 0, 0, 0)
        return licence_labels.union(f.value_boxes) if f.value_boxes else f.label_box

    def add(
        name: str, value: str, conf: float, status: FieldStatus, reasons: list[tuple[Reason, str]] | None = None
    ) -> None:
        f = DocField(name, value, conf, status, box_to_image(box_of(name), inverse), "front", reasons or [])
        result.fields[name] = f
        for code, message in f.reasons:
            result.reasons.append((code, message, name))

    def unreadable(what: str, why: str = "could not be read") -> list[tuple[Reason, str]]:
        return [(Reason.FIELD_UNREADABLE, f"the {what} {why}; retake the photo in even light")]

    def text(name: str) -> Reading:
        return read.get(name) or Reading("", 0.0)

    if "code" in read:
        checked, code_conf = read["code"]
        add("credit_code", checked.code, code_conf, checked.status, checked.reasons)
    else:
        add("credit_code", "", 0.0, FieldStatus.UNREADABLE, unreadable("credit code", "was not found"))

    name = re.sub(r"\s+", "", text("company_name").text).replace("(", "（").replace(")", "）")
    ok = len(_cjk(name)) >= 4
    add(
        "company_name",
        name,
        text("company_name").confidence,
        FieldStatus.UNCHECKED if ok else FieldStatus.UNREADABLE,
        None if ok else unreadable("company name"),
    )
    rep_reading = text("legal_representative")
    rep = _cjk(rep_reading.text)
    label = fields["legal_representative"].label if "legal_representative" in fields else "法定代表人"
    if not 2 <= len(rep) <= 6:
        add("legal_representative", rep, rep_reading.confidence, FieldStatus.UNREADABLE, unreadable(label))
    elif rep_reading.confidence < _MIN_NAME_CONFIDENCE:  # a doubtful glyph: a person compares the name
        add(
            "legal_representative",
            rep,
            rep_reading.confidence,
            FieldStatus.UNREADABLE,
            unreadable(label, f"was read with low confidence ({rep_reading.confidence:.2f})"),
        )
    else:
        add("legal_representative", rep, rep_reading.confidence, FieldStatus.UNCHECKED)
    kind = re.sub(r"\s+", "", text("company_type").text).replace("(", "（").replace(")", "）")
    add("company_type", kind, text("company_type").confidence, FieldStatus.UNCHECKED)
    add(
        "registered_capital",
        re.sub(r"\s+", "", text("registered_capital").text),
        text("registered_capital").confidence,
        FieldStatus.UNCHECKED,
    )
    add("address", re.sub(r"\s+", "", text("address").text), text("address").confidence, FieldStatus.UNCHECKED)
    add(
        "registration_authority",
        _cjk(text("registration_authority").text),
        text("registration_authority").confidence,
        FieldStatus.UNCHECKED,
    )
    add(
        "business_term",
        re.sub(r"\s+", "", text("business_term").text),
        text("business_term").confidence,
        FieldStatus.UNCHECKED,
    )
    tess_date = read.get("date_tess", {}).get("establishment_date", Reading("", 0.0))
    value, status, reasons = check_date([text("establishment_date").text, tess_date.text], today)
    add("establishment_date", value, min(text("establishment_date").confidence, tess_date.confidence), status, reasons)
    t4 = time.perf_counter()
    result.timings_ms = {
        "find": round((t1 - t0) * 1000, 1),
        "labels": round((t2 - t1) * 1000, 1),
        "ocr": round((t3 - t2) * 1000, 1),
        "validate": round((t4 - t3) * 1000, 1),
    }
    return result
