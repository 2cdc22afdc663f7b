"""Reading a Chinese resident ID card (front, and back for the validity period)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Literal

import cv2
import numpy as np

from services.core.errors import invalid
from services.core.reasons import Reason
from services.identity.documents import cn_id, cn_labels
from services.identity.documents.cn_layout import BACK, CARD_H, CARD_W, FRONT, PORTRAIT
from services.identity.documents.doc_quality import check_glare, gate
from services.identity.documents.model import DocField, DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.ocr import Reading, Region, Tesseract, TesserocrEngine
from services.identity.documents.rectify import box_to_image, warp
from services.vision import ppocr
from services.vision.faces import FaceEngine
from services.vision.ppocr import LineText, TextLineRecogniser

Boxes = dict[str, tuple[int, int, int, int]]

# Below this OCR confidence a disagreement between fields goes to review, not to FAIL.
CONFIDENT = 0.80
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sv-ocr")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_DATE = re.compile(r"(\d{4})\D?(\d{1,2})\D?(\d{1,2})")


def _crop(card: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return card[y : y + h, x : x + w]


def _cjk(text: str) -> str:
    return "".join(_CJK.findall(text))


def _flatten(gray: np.ndarray) -> np.ndarray:
    """Divide out the background (guilloche, light gradient, glare) and stretch contrast."""
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    flat = cv2.divide(gray, background, scale=255)
    return cv2.normalize(flat, np.empty_like(flat), 0, 255, cv2.NORM_MINMAX)


def _ink_mask(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The flattened grey crop and its ink mask (Otsu); None when the crop holds no print
    (Otsu would make ink out of noise)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if gray.size == 0 or float(np.percentile(gray, 99) - np.percentile(gray, 1)) < 20:
        return None
    flat = _flatten(gray)
    _, binary = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return flat, binary < 128


def _ink_rows_cols(crop: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The flattened grey crop and the bounds (y0, y1, x0, x1) of its ink; None when the
    crop holds no print or only a sliver."""
    found = _ink_mask(crop)
    if found is None:
        return None
    flat, ink = found
    rows = np.flatnonzero(ink.mean(axis=1) > 0.01)
    cols = np.flatnonzero(ink.mean(axis=0) > 0.005)
    if rows.size == 0 or cols.size == 0:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if y1 - y0 < 4:
        return None
    return flat, (y0, y1, x0, x1)


def line_image(crop: np.ndarray, glyph: int = 48, vpad: float = 0.3, hpad: float = 0.3) -> np.ndarray | None:
    """A field crop made into what Tesseract's LSTM reads best as one raw line (psm 13):
    cut to the ink, scaled so the glyphs are `glyph` px tall, with a margin of `vpad` /
    `hpad` glyph heights. Measured on rendered cards: a tight margin (glyph about 60% of
    the image height) read names far better than the loose field box, where the glyphs
    were about half the height and Tesseract dropped or misread the first character.
    None when the crop holds no ink."""
    found = _ink_rows_cols(crop)
    if found is None:
        return None
    flat, (y0, y1, x0, x1) = found
    scale = glyph / (y1 - y0)
    line = cv2.resize(
        flat[y0:y1, x0:x1],
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
    )
    v, h = round(vpad * glyph), round(hpad * glyph)
    return cv2.copyMakeBorder(line, v, v, h, h, cv2.BORDER_CONSTANT, value=255)


def ink_crop(crop: np.ndarray, vpad: float, hpad: float) -> np.ndarray | None:
    """The colour crop cut to its ink with a margin of `vpad` / `hpad` ink heights (never
    past the field box): what PP-OCR's recogniser reads best. Unlike `line_image` it keeps
    the photo's own pixels: on blurred, noisy captures the flattened grey line lost strokes
    PP-OCR needed (hard tier: 22/30 names exact flattened, 29/30 in colour). None without ink."""
    found = _ink_rows_cols(crop)
    if found is None:
        return None
    _, (y0, y1, x0, x1) = found
    g = y1 - y0
    h, w = crop.shape[:2]
    top, bottom = max(0, round(y0 - vpad * g)), min(h, round(y1 + vpad * g))
    left, right = max(0, round(x0 - hpad * g)), min(w, round(x1 + hpad * g))
    return crop[top:bottom, left:right]


# (glyph px, vertical margin, horizontal margin) of the raw-line images, measured on
# rendered cards at the three capture tiers; the second set is the re-read.
NAME_LINE = (48, 0.3, 0.3)
NAME_LINE_2 = (64, 0.3, 0.1)
NUMBER_LINE = (40, 0.3, 0.3)
NUMBER_LINE_2 = (48, 0.5, 0.5)
BIRTH_GLYPH = 40
# A name read below this confidence is read a second time, at another scale.
NAME_REREAD_CONF = 0.80
# Below this a name under a reflection is refused as glare (the seller can retake it).
NAME_GLARE_CONF = 0.60
_LABEL_RESIDUE = re.compile(r"^[姓名]+")


def _name_from(text: str) -> str:
    """CJK characters only, without the 姓名 label when the crop caught part of it."""
    name = _cjk(text)
    stripped = _LABEL_RESIDUE.sub("", name)
    return stripped if len(stripped) >= 2 else name


def _plausible_name(name: str) -> bool:
    return 2 <= len(name) <= 6


def _read_name_tesseract(
    card: np.ndarray, first: Reading, ocr: Tesseract | TesserocrEngine, boxes: Boxes = FRONT
) -> tuple[str, float]:
    """The name and its confidence by Tesseract alone (the fallback when the PP-OCR model
    is not installed); a doubtful first reading gets a second pass at another scale and the
    more confident plausible reading wins."""
    name = _name_from(first.text)
    if _plausible_name(name) and first.confidence >= NAME_REREAD_CONF:
        return name, first.confidence
    image = line_image(_crop(card, boxes["name"]), *NAME_LINE_2)
    if image is None:
        return name, first.confidence
    second = ocr.read([Region("name", image, raw_line=True)], "chi_sim", 13, None)["name"]
    other = _name_from(second.text)
    candidates = [(n, c) for n, c in ((name, first.confidence), (other, second.confidence)) if _plausible_name(n)]
    if not candidates:
        return name, first.confidence
    return max(candidates, key=lambda nc: nc[1])


# The name crops PP-OCR reads, as (vertical, horizontal) margins in ink heights. Measured on
# rendered cards: on blurred photos the tight crop once dropped a leading character and the
# wide one a trailing 一; the two crops agreeing was exact on every clean and photo card.
NAME_CROPS = ((0.2, 0.5), (0.3, 1.0))
# Both crops agreeing is trusted when their best weakest-character probability reaches this
# (or Tesseract reads the same); below, they have agreed on a wrong name (潭 for 覃 at 0.38).
PP_AGREED_CONF = 0.60
# One plausible crop reading alone (the other dropped a character) must reach this.
PP_SURE = 0.90
# The crop of other one-line fields (ethnicity, issuing authority) for PP-OCR.
FIELD_CROP = (0.3, 1.0)
# How far past the name box to look when the name's print runs off it (card found off).
NAME_SEARCH = 24
NAME_MIN_GLYPH = 12  # px; the name is printed about 30 px tall on the 856 px wide card
# The sex glyph's crop for PP-OCR (89 of 90 read on rendered fronts at any margin tried).
SEX_CROP = (0.3, 1.0)


@dataclass(frozen=True)
class NameReading:
    """The name as decided from the readings, its confidence, and whether a person must
    check it (the engines disagreed, or agreed only with low confidence)."""

    value: str
    confidence: float
    doubtful: bool


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _name_region(card: np.ndarray, boxes: Boxes = FRONT) -> tuple[np.ndarray, bool]:
    """The part of the card holding the name, and whether the print still runs off it.

    Normally the name field box. When the ink touches the box's top, bottom or left edge
    (the card was found a few pixels off, as on blurred hard-tier photos, where a cut-off
    于 made both PP-OCR crops read 于宇华 as 宇华 with confidence 0.97) the name is looked
    for in a window NAME_SEARCH px larger: the text row with the most ink, and in it the
    widest group of glyphs (the 姓名 label is a separate group, a gap to the left)."""
    crop = _crop(card, boxes["name"])
    found = _ink_rows_cols(crop)
    if found is None:
        return crop, False
    _, (y0, y1, x0, _) = found
    if y0 > 0 and y1 < crop.shape[0] and x0 > 0:
        return crop, False
    x, y, w, h = boxes["name"]
    wy0, wx0 = max(0, y - NAME_SEARCH), max(0, x - NAME_SEARCH)
    window = card[wy0 : min(card.shape[0], y + h + NAME_SEARCH), wx0 : x + w]
    masked = _ink_mask(window)
    if masked is None:
        return crop, True
    ink = masked[1]
    share = ink.mean(axis=1)
    # Rows of print; a solid band (the background past the card's edge) is not text.
    rows = _runs((share > 0.01) & (share < 0.6))
    lines = [i for i, (r0, r1) in enumerate(rows) if r1 - r0 >= NAME_MIN_GLYPH]
    whole = [i for i in lines if rows[i][0] > 0 and rows[i][1] < window.shape[0]]
    if not lines:
        return crop, True
    # The whole row nearest where the name belongs (the sex / ethnicity row below has more ink).
    centre = y + h / 2 - wy0
    k = min(whole or lines, key=lambda i: abs((rows[i][0] + rows[i][1]) / 2 - centre))
    ry0, ry1 = rows[k]
    g = ry1 - ry0
    groups: list[list[int]] = []
    for c0, c1 in _runs(ink[ry0:ry1].mean(axis=0) > 0.005):
        if groups and c0 - groups[-1][1] < 0.5 * g:
            groups[-1][1] = c1  # a gap inside a name
        else:
            groups.append([c0, c1])
    j = max(range(len(groups)), key=lambda i: groups[i][1] - groups[i][0])
    gx0, gx1 = groups[j]
    clipped = ry0 == 0 or ry1 == window.shape[0] or gx0 == 0
    # Margins up to a glyph height, stopping short of the neighbouring rows and groups.
    top = max(rows[k - 1][1] if k > 0 else 0, ry0 - g)
    bottom = min(rows[k + 1][0] if k + 1 < len(rows) else window.shape[0], ry1 + g)
    left = max(groups[j - 1][1] if j > 0 else 0, gx0 - g)
    right = min(groups[j + 1][0] if j + 1 < len(groups) else window.shape[1], gx1 + g)
    return window[top:bottom, left:right], clipped


def _pp_name_readings(
    card: np.ndarray, lines: TextLineRecogniser, boxes: Boxes = FRONT
) -> tuple[list[tuple[str, float]], bool]:
    """PP-OCR's reading of each name crop, (name, weakest character's probability), and
    whether the name's print runs off the region found for it (then it is doubtful)."""
    region, clipped = _name_region(card, boxes)
    out = []
    for vpad, hpad in NAME_CROPS:
        image = ink_crop(region, vpad, hpad)
        if image is not None:
            line = lines.recognise(image)
            out.append((_name_from(line.text), line.confidence))
    return out, clipped


def _pp_field(lines: TextLineRecogniser, crop: np.ndarray) -> Reading:
    """PP-OCR's reading of a one-line field, as a Reading (weakest character's probability).

    Measured on 30 rendered cards per tier (clean / photo / hard), exact: ethnicity 29/28/27
    against Tesseract's 26/26/15, issuing authority 30/28/28 against 28/27/9."""
    image = ink_crop(crop, *FIELD_CROP)
    if image is None:
        return Reading("", 0.0)
    line = lines.recognise(image)
    return Reading(line.text, line.confidence)


# The 56 officially recognised ethnic groups as printed on the card (without 族).
ETHNIC_GROUPS = frozenset(
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 "
    "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 "
    "裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split()
)


def _pick_ethnicity(pp: Reading, tesseract: Reading) -> Reading:
    """PP-OCR's reading when it names one of the 56 groups, else Tesseract's when that
    does (PP-OCR read 壮 as 并 on 3 of 120 rendered fronts), else PP-OCR's as it is."""
    for reading in (pp, tesseract):
        if _cjk(reading.text) in ETHNIC_GROUPS:
            return reading
    return pp


def decide_name(
    pp: list[tuple[str, float]], tesseract: tuple[str, float] | Callable[[], tuple[str, float]]
) -> NameReading:
    """The name from PP-OCR's crop readings and Tesseract's, so that a misread name does
    not pass unnoticed: both crops agreeing confidently, or two engines agreeing, is
    accepted; anything else keeps the best guess but is marked doubtful (a person checks).

    Tesseract is only a vote: on rendered cards it misread the first character of 13% of
    clean names (廖 as 大, 郝 as 孝) where PP-OCR read all of them, so it never outvotes a
    confident PP-OCR reading on its own. Given as a callable, Tesseract is only asked when
    its vote can change the outcome (not when both crops agree confidently: then it could
    only raise the confidence shown)."""
    plausible = [(n, c) for n, c in pp if _plausible_name(n)]
    names = {n for n, _ in plausible}
    if len(names) == 1:
        name = names.pop()
        conf = max(c for _, c in plausible)
        both = len(plausible) == 2 and len(pp) == 2
        sure = conf >= (PP_AGREED_CONF if both else PP_SURE)
        if sure and callable(tesseract):
            return NameReading(name, conf, False)
        tess, tess_conf = tesseract() if callable(tesseract) else tesseract
        if name == tess:
            return NameReading(name, max(conf, tess_conf), False)
        return NameReading(name, conf, not sure)
    tess, tess_conf = tesseract() if callable(tesseract) else tesseract
    for name, conf in plausible:  # the crops disagree: two engines agreeing decide
        if name == tess:
            return NameReading(name, max(conf, tess_conf), False)
    if plausible:
        name, conf = max(plausible, key=lambda nc: nc[1])
        return NameReading(name, conf, True)
    return NameReading(tess, tess_conf, True)  # PP-OCR saw no name: Tesseract alone is not enough


def _name_region_tesseract(card: np.ndarray, boxes: Boxes, name_line: np.ndarray | None) -> Region:
    """The name as Tesseract reads it: the raw-line image, or the field box without ink."""
    return Region("name", name_line if name_line is not None else _crop(card, boxes["name"]), raw_line=True)


def _tesseract_vote(
    card: np.ndarray, boxes: Boxes, name_line: np.ndarray | None, ocr: Tesseract | TesserocrEngine
) -> Callable[[str], Reading]:
    """Tesseract's reading of the name, sex or ethnicity field, read when first asked for
    (PP-OCR reads these fields; Tesseract's opinion is needed only where PP-OCR's is in
    doubt: about 15 ms of CPU per card saved on the rest)."""
    regions = {
        "name": lambda: _name_region_tesseract(card, boxes, name_line),
        "sex": lambda: _sex_region(card, boxes),
        "ethnicity": lambda: Region("ethnicity", _crop(card, boxes["ethnicity"])),
    }
    read: dict[str, Reading] = {}

    def vote(field: str) -> Reading:
        if field not in read:
            # On the OCR pool: a thread that reads loads its own Tesseract model (tens of MB),
            # and the request threads are many.
            read[field] = _POOL.submit(ocr.read, [regions[field]()], "chi_sim", 6, None).result()[field]
        return read[field]

    return vote


def _tesseract_name(reading: Reading) -> tuple[str, float]:
    return _name_from(reading.text), reading.confidence


def _sex_region(card: np.ndarray, boxes: Boxes = FRONT) -> Region:
    image = line_image(_crop(card, boxes["sex"]), 48, 0.3, 0.3)
    if image is None:
        return Region("sex", _crop(card, boxes["sex"]), single_char=True)
    return Region("sex", image, raw_line=True)


def _sex_from(text: str) -> str:
    found = _cjk(text)
    return "男" if "男" in found else "女" if "女" in found else ""


def _read_sex(
    card: np.ndarray, first: Reading, ocr: Tesseract | TesserocrEngine, pp: LineText | None = None, boxes: Boxes = FRONT
) -> tuple[str, float]:
    """男 or 女 ("" when unread) and the confidence.

    With PP-OCR's reading `pp` of the glyph: it decides when Tesseract agrees or read
    nothing (on rendered cards Tesseract missed 女 on 7 of 90 fronts, PP-OCR on none); when
    the two read different glyphs PP-OCR's is kept with no confidence, so that a mismatch
    with the number goes to a person instead of failing the card. Without it (or when it
    read no sex) a failed raw-line read gets a second pass in single-character mode."""
    sex = _sex_from(first.text)
    pp_sex = _sex_from(pp.text) if pp is not None else ""
    if pp is not None and pp_sex:
        if not sex or sex == pp_sex:
            return pp_sex, max(pp.confidence, first.confidence if sex else 0.0)
        return pp_sex, 0.0
    if sex:
        return sex, first.confidence
    again = ocr.read([Region("sex", _crop(card, boxes["sex"]), single_char=True)], "chi_sim", 10, None)["sex"]
    return _sex_from(again.text), again.confidence


def _digits(text: str) -> str:
    return re.sub(r"[^0-9X]", "", text.upper())


def _read_number(
    card: np.ndarray, first: Reading, today: date, ocr: Tesseract | TesserocrEngine, boxes: Boxes = FRONT
) -> tuple[str, cn_id.IdNumberCheck, float]:
    """The citizen number as read, its check and the reading's confidence.

    When the first reading fails validation the field is read twice more (another scale,
    the plain field box). Another reading replaces the first only when both re-reads
    agree on it and it passes the check character, the region table and the birth date:
    a clearly printed wrong number (a forged check character) is never "corrected",
    because two independent misreads would have to fix it the same way."""
    raw = _digits(first.text)
    check = cn_id.validate(raw, today)
    if check.valid:
        return raw, check, first.confidence
    crop = _crop(card, boxes["citizen_number"])
    image = line_image(crop, *NUMBER_LINE_2)
    regions = [Region("plain", crop)]
    if image is not None:
        regions.append(Region("scaled", image, raw_line=True))
    again = ocr.read(regions, "eng", 7, "0123456789X")
    rereads = {_digits(r.text) for r in again.values()}
    if len(again) == 2 and len(rereads) == 1:
        other = rereads.pop()
        other_check = cn_id.validate(other, today)
        if other != raw and other_check.valid:
            return other, other_check, min(r.confidence for r in again.values())
    return raw, check, first.confidence


def _birth_digits_line(card: np.ndarray, boxes: Boxes = FRONT) -> np.ndarray | None:
    """Year, month and day cut out of their boxes and set side by side on one line, a
    glyph apart: Tesseract drops or misreads lone one- and two-digit crops (a month of
    "1" came back empty) but reads them reliably as part of a longer line."""
    parts = [line_image(_crop(card, boxes[k]), BIRTH_GLYPH, 0.3, 0) for k in ("birth_year", "birth_month", "birth_day")]
    if any(p is None for p in parts):
        return None
    height = max(p.shape[0] for p in parts if p is not None)
    gap = np.full((height, BIRTH_GLYPH), 255, np.uint8)
    row = [gap]
    for p in parts:
        assert p is not None
        row += [cv2.copyMakeBorder(p, 0, height - p.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=255), gap]
    return np.hstack(row)


def _birth_from(text: str) -> date | None:
    found = re.search(r"(\d{4})\D+(\d{1,2})\D+(\d{1,2})", text)
    if not found:
        return None
    try:
        return date(*(int(v) for v in found.groups()))
    except ValueError:
        return None


def _read_birth(
    card: np.ndarray, first: Reading, number_birth: date | None, ocr: Tesseract | TesserocrEngine, boxes: Boxes = FRONT
) -> tuple[date | None, float, str]:
    """The printed birth date, its confidence and how it relates to the number's:
    "agrees", "mismatch" (both readings parse to the same other date, one of them
    confidently: a FAIL) or "doubtful" (unreadable or inconsistent readings: a person looks).

    A reading that disagrees with the number gets a second opinion from the whole
    printed row (digits with 年月日) in chi_sim."""
    printed = _birth_from(first.text)
    if number_birth is None:
        return printed, first.confidence, "doubtful" if printed is None else "agrees"
    if printed == number_birth:
        return printed, first.confidence, "agrees"
    x, y, _, h = boxes["birth_year"]
    row_end = boxes["birth_day"][0] + boxes["birth_day"][2] + 40  # past the 日 label
    image = line_image(card[y : y + h, x:row_end], 48, 0.3, 0.3)
    readings = [(printed, first.confidence)]
    if image is not None:
        second = ocr.read([Region("birth", image, raw_line=True)], "chi_sim", 13, None)["birth"]
        readings.append((_birth_from(second.text), second.confidence))
    agreeing = [c for d, c in readings if d == number_birth]
    against = [(d, c) for d, c in readings if d is not None and d != number_birth]
    confident_against = [(d, c) for d, c in against if c >= CONFIDENT]
    if agreeing and not confident_against:
        return number_birth, max(agreeing), "agrees"
    # FAIL only on consistent evidence: every reading parsed to the same other date.
    if confident_against and len(against) == len(readings) >= 2 and len({d for d, _ in against}) == 1:
        d, c = max(against, key=lambda dc: dc[1])
        return d, c, "mismatch"
    shown = printed or next((d for d, _ in against), None)
    return shown, min(c for _, c in readings), "doubtful"


# The portrait fills a third of the card: found as surely on the card at 400 px as at 640
# (97 of 97 fronts of three styles and tiers, seed 77, the same way up) at half the CPU.
PORTRAIT_DETECT_SIDE = 400


def _upright_front(card: np.ndarray, engine: FaceEngine) -> tuple[np.ndarray, bool]:
    """The card turned so that the portrait is on the right; False when no face is seen."""
    for flip in (False, True):
        candidate = cv2.rotate(card, cv2.ROTATE_180) if flip else card
        faces = engine.detect(candidate, max_side=PORTRAIT_DETECT_SIDE)
        if faces and faces[0].box[0] + faces[0].box[2] / 2 > CARD_W / 2:
            return candidate, True
    return card, False


def _upright_back(card: np.ndarray) -> tuple[np.ndarray, bool]:
    """The back turned so that the big title sits in the upper half."""
    gray = cv2.cvtColor(card, cv2.COLOR_BGR2GRAY)
    ink = gray < (gray.mean() - 40)
    top, bottom = ink[: CARD_H // 2].mean(), ink[CARD_H // 2 :].mean()
    return (card, True) if top >= bottom else (cv2.rotate(card, cv2.ROTATE_180), True)


def _rectified(bgr: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    found = gate(bgr, side, CARD_W / CARD_H)
    return warp(bgr, found.quad, (CARD_W, CARD_H), share=True)  # the gate's own


def read_cn_id(
    front_bgr: np.ndarray,
    back_bgr: np.ndarray | None,
    today: date,
    engine: FaceEngine,
    ocr: Tesseract | TesserocrEngine,
    text_lines: TextLineRecogniser | Literal["shared"] | None = "shared",
) -> DocumentResult:
    """Read and check a Chinese resident ID card. `text_lines` is the PP-OCR line
    recogniser for the name: by default the process's shared one, which is None when the
    model is not installed; with None the name is read by Tesseract alone."""
    t0 = time.perf_counter()
    lines = ppocr.shared() if text_lines == "shared" else text_lines
    card, inverse = _rectified(front_bgr, "front")
    card, has_face = _upright_front(card, engine)
    if not has_face:
        raise invalid(
            Reason.PORTRAIT_NOT_FOUND,
            "no portrait found on the card: photograph the front (the side with the photo), flat and in full",
            "front",
        )
    t1 = time.perf_counter()
    result = DocumentResult(DocumentKind.CN_RESIDENT_ID, {})
    # Field boxes that follow the printed labels (the layout's where none are found).
    boxes = cn_labels.front_fields(card, lines, FRONT, PORTRAIT[0]).boxes
    back_card = None
    back_boxes = BACK
    if back_bgr is not None:
        back_card, back_inverse = _rectified(back_bgr, "back")
        back_card, _ = _upright_back(back_card)
        back_boxes = cn_labels.back_fields(back_card, lines, BACK).boxes
    # The OCR calls are independent: run them side by side (Tesseract is single-threaded here).
    name_line = line_image(_crop(card, boxes["name"]), *NAME_LINE)
    number_line = line_image(_crop(card, boxes["citizen_number"]), *NUMBER_LINE)
    birth_line = _birth_digits_line(card, boxes)
    # Tesseract reads what only it reads (address, citizen number, birth date, validity
    # dates). Where PP-OCR reads a field (name, sex, ethnicity), Tesseract's reading is a
    # second opinion that is only asked for when PP-OCR's reading is in doubt (see
    # `_tesseract_vote`); without PP-OCR it reads them all.
    chi_regions = [Region("address", _crop(card, boxes["address"]), lines=3)]
    if lines is None:
        chi_regions += [_name_region_tesseract(card, boxes, name_line), _sex_region(card, boxes)]
        chi_regions.append(Region("ethnicity", _crop(card, boxes["ethnicity"])))
    jobs = {
        "chi": (chi_regions, "chi_sim", None),
        "digits": (
            [
                Region(
                    "citizen_number",
                    number_line if number_line is not None else _crop(card, boxes["citizen_number"]),
                    raw_line=number_line is not None,
                ),
                Region(
                    "birth",
                    birth_line if birth_line is not None else _crop(card, boxes["birth_year"]),
                    raw_line=birth_line is not None,
                ),
            ],
            "eng",
            "0123456789X ",
        ),
    }
    if back_card is not None:
        if lines is None:
            jobs["back"] = (
                [Region("issuing_authority", _crop(back_card, back_boxes["issuing_authority"]))],
                "chi_sim",
                None,
            )
        jobs["back_digits"] = ([Region("validity", _crop(back_card, back_boxes["validity"]))], "eng", "0123456789.-")
    futures = {k: _POOL.submit(ocr.read, regions, lang, 6, wl) for k, (regions, lang, wl) in jobs.items()}
    # PP-OCR reads while Tesseract works.
    pp_names, name_clipped = _pp_name_readings(card, lines, boxes) if lines is not None else ([], False)
    sex_crop = ink_crop(_crop(card, boxes["sex"]), *SEX_CROP)
    # One glyph: read as it is, not padded to a line's width (on 97 fronts of three styles
    # and tiers, seed 77: the same glyph every time, confidences within 0.01, half the CPU).
    pp_sex = lines.recognise(sex_crop, pad=False) if lines is not None and sex_crop is not None else None
    if lines is not None:  # PP-OCR read these two better than Tesseract on every tier
        chi_pp = {"ethnicity": _pp_field(lines, _crop(card, boxes["ethnicity"]))}
        if back_card is not None:
            chi_pp["issuing_authority"] = _pp_field(lines, _crop(back_card, back_boxes["issuing_authority"]))
    chi, digits = futures["chi"].result(), futures["digits"].result()
    back_reading = (
        {**(futures["back"].result() if "back" in futures else {}), **futures["back_digits"].result()}
        if "back_digits" in futures
        else None
    )
    tesseract_vote = _tesseract_vote(card, boxes, name_line, ocr)
    if lines is not None:
        ethnicity_pp = chi_pp["ethnicity"]
        chi["ethnicity"] = (
            ethnicity_pp
            if _cjk(ethnicity_pp.text) in ETHNIC_GROUPS
            else _pick_ethnicity(ethnicity_pp, tesseract_vote("ethnicity"))
        )
        if back_reading is not None:
            back_reading["issuing_authority"] = chi_pp["issuing_authority"]
    t2 = time.perf_counter()

    def add(
        name: str,
        value: str,
        conf: float,
        status: FieldStatus,
        box_name: str | None,
        side: str = "front",
        reasons: list[tuple[Reason, str]] | None = None,
        inv: np.ndarray | None = None,
    ) -> DocField:
        layout = boxes if side == "front" else back_boxes
        box = box_to_image(layout[box_name], inv if inv is not None else inverse) if box_name else None
        f = DocField(name, value, conf, status, box, side, reasons or [])
        result.fields[name] = f
        for code, message in f.reasons:
            result.reasons.append((code, message, name))
        return f

    def unreadable(name: str, what: str) -> list[tuple[Reason, str]]:
        return [(Reason.FIELD_UNREADABLE, f"the {what} could not be read; retake the photo in even light")]

    if lines is None:
        name, name_conf = _read_name_tesseract(card, chi["name"], ocr, boxes)
        name_doubtful = False
    else:
        decided = decide_name(pp_names, lambda: _tesseract_name(tesseract_vote("name")))
        # A name whose print runs off the region read may have lost a character.
        name, name_conf, name_doubtful = decided.value, decided.confidence, decided.doubtful or name_clipped
    name_reasons: list[tuple[Reason, str]] | None = None
    if len(name) < 2:
        name_reasons = unreadable("name", "name")
    elif name_doubtful:  # a misread name must not pass: a person compares it with the photo
        name_reasons = [(Reason.FIELD_UNREADABLE, "the name could not be read with confidence; a person will check it")]
    add(
        "name",
        name,
        name_conf,
        FieldStatus.UNREADABLE if name_reasons else FieldStatus.UNCHECKED,
        "name",
        reasons=name_reasons,
    )
    # The number first: its sex digit tells whether the printed sex needs a second opinion.
    raw_number, check, number_conf = _read_number(card, digits["citizen_number"], today, ocr, boxes)
    pp_sex_read = _sex_from(pp_sex.text) if pp_sex is not None else ""
    if lines is not None and pp_sex is not None and pp_sex_read and {"男": "M", "女": "F"}[pp_sex_read] == check.sex:
        # PP-OCR's glyph agrees with the number's sex digit: a second opinion could only
        # lower the confidence shown, never the verdict (a mismatch alone is decided on both).
        sex, sex_conf = pp_sex_read, pp_sex.confidence
    else:
        sex, sex_conf = _read_sex(card, chi["sex"] if lines is None else tesseract_vote("sex"), ocr, pp_sex, boxes)
    add(
        "sex",
        sex,
        sex_conf,
        FieldStatus.UNCHECKED if sex else FieldStatus.UNREADABLE,
        "sex",
        reasons=None if sex else unreadable("sex", "sex"),
    )
    ethnicity = _cjk(chi["ethnicity"].text)
    add("ethnicity", ethnicity, chi["ethnicity"].confidence, FieldStatus.UNCHECKED, "ethnicity")
    address = _cjk(chi["address"].text) and re.sub(r"\s+", "", chi["address"].text)
    add("address", address, chi["address"].confidence, FieldStatus.UNCHECKED, "address")

    number_reasons = [(c, m) for c, m in check.reasons]
    if not raw_number:
        number_reasons = unreadable("citizen_number", "citizen number")
    status = (
        FieldStatus.CORRECTED if check.corrected_from else FieldStatus.VALID if check.valid else FieldStatus.INVALID
    )
    if not raw_number:
        status = FieldStatus.UNREADABLE
    add("citizen_number", check.number, number_conf, status, "citizen_number", reasons=number_reasons)

    printed_birth, birth_conf, outcome = _read_birth(card, digits["birth"], check.birth_date, ocr, boxes)
    birth_reasons: list[tuple[Reason, str]] = []
    if outcome == "mismatch":
        birth_reasons = [
            (Reason.BIRTH_DATE_MISMATCH, "the printed birth date differs from the one in the citizen number")
        ]
    elif outcome == "doubtful":  # a shaky reading is not evidence of a forged card: a person looks
        birth_reasons = unreadable("birth_date", "printed birth date")
    add(
        "birth_date",
        printed_birth.isoformat() if printed_birth else "",
        birth_conf,
        FieldStatus.UNREADABLE
        if printed_birth is None
        else FieldStatus.INVALID
        if birth_reasons
        else FieldStatus.VALID,
        "birth_year",
        reasons=birth_reasons,
    )
    # A reflection only matters where it kept a field from being read: refuse the photo
    # then (the seller can fix it), not when the field read and validated anyway.
    failed = [
        k
        for k, bad in (
            ("citizen_number", not check.valid),
            ("name", len(name) < 2 or name_doubtful or name_conf < NAME_GLARE_CONF),
            ("birth_year", outcome != "agrees"),
        )
        if bad
    ]
    if failed:
        check_glare(card, {k: boxes[k] for k in failed}, "front")
    if sex and check.sex and {"男": "M", "女": "F"}[sex] != check.sex:
        if sex_conf >= CONFIDENT:
            result.fields["sex"].status = FieldStatus.INVALID
            result.reasons.append(
                (Reason.SEX_MISMATCH, "the printed sex differs from the citizen number's sex digit", "sex")
            )
        else:
            result.fields["sex"].status = FieldStatus.UNREADABLE
            result.reasons.append((Reason.FIELD_UNREADABLE, "the printed sex could not be read with confidence", "sex"))

    # The portrait, for face matching.
    x, y, w, h = PORTRAIT
    result.portrait_bgr = card[y : y + h, x : x + w].copy()
    result.portrait_box = box_to_image(PORTRAIT, inverse)
    t3 = time.perf_counter()

    if back_card is None or back_reading is None:
        result.reasons.append(
            (Reason.DOCUMENT_BACK_MISSING, "send the back of the card too: it carries the validity period", "back")
        )
    else:
        _read_back(back_reading, back_inverse, today, result, back_boxes, _validity_words(back_card, back_boxes, ocr))
        if back_card is not None and result.fields["valid_until"].status is FieldStatus.UNREADABLE:
            check_glare(back_card, back_boxes, "back")  # refuse a reflection only where it cost the reading
    t4 = time.perf_counter()
    result.timings_ms = {
        "find_front": round((t1 - t0) * 1000, 1),
        "ocr_front": round((t2 - t1) * 1000, 1),
        "validate": round((t3 - t2) * 1000, 1),
        "back": round((t4 - t3) * 1000, 1),
    }
    return result


def _validity_words(back_card: np.ndarray, boxes: Boxes, ocr: Tesseract | TesserocrEngine) -> Callable[[], str]:
    """The validity field read in Chinese, when asked for (only a long-term card needs it),
    on the OCR pool (see `_tesseract_vote`)."""
    region = Region("validity_words", _crop(back_card, boxes["validity"]))
    return lambda: _POOL.submit(ocr.read, [region], "chi_sim", 6, None).result()["validity_words"].text


def _read_back(
    chi: dict[str, Reading],
    inverse: np.ndarray,
    today: date,
    result: DocumentResult,
    boxes: Boxes,
    validity_words: Callable[[], str],
) -> None:
    authority = _cjk(chi["issuing_authority"].text)
    result.fields["issuing_authority"] = DocField(
        "issuing_authority",
        authority,
        chi["issuing_authority"].confidence,
        FieldStatus.UNCHECKED,
        box_to_image(boxes["issuing_authority"], inverse),
        "back",
    )
    text = re.sub(r"\s+", "", chi["validity"].text)
    dates = _DATE.findall(text)
    box = box_to_image(boxes["validity"], inverse)
    try:
        valid_from = date(*(int(v) for v in dates[0])) if dates else None
        valid_until = date(*(int(v) for v in dates[1])) if len(dates) > 1 else None
    except ValueError:
        valid_from = valid_until = None
        result.reasons.append((Reason.INVALID_DATE, "the validity period is not a real date", "valid_until"))
    # A start date without an end: "长期" (long-term) is printed in words, read only then.
    long_term = valid_from is not None and valid_until is None and "长" in validity_words()
    if valid_from is None or (valid_until is None and not long_term):
        result.fields["valid_until"] = DocField(
            "valid_until", text, chi["validity"].confidence, FieldStatus.UNREADABLE, box, "back"
        )
        result.reasons.append((Reason.FIELD_UNREADABLE, "the validity period could not be read", "valid_until"))
        return
    result.fields["valid_from"] = DocField(
        "valid_from", valid_from.isoformat(), chi["validity"].confidence, FieldStatus.VALID, box, "back"
    )
    until_value = "长期" if valid_until is None else valid_until.isoformat()
    status = FieldStatus.VALID
    if valid_until is not None and valid_until < today:
        status = FieldStatus.INVALID
        result.reasons.append((Reason.DOCUMENT_EXPIRED, f"the card expired on {valid_until}", "valid_until"))
    if valid_from > today:
        status = FieldStatus.INVALID
        result.reasons.append(
            (Reason.DOCUMENT_NOT_YET_VALID, f"the card is valid only from {valid_from}", "valid_from")
        )
    result.fields["valid_until"] = DocField("valid_until", until_value, chi["validity"].confidence, status, box, "back")


def read_cn_back(
    back_bgr: np.ndarray,
    today: date,
    ocr: Tesseract | TesserocrEngine,
    text_lines: TextLineRecogniser | Literal["shared"] | None = "shared",
) -> DocumentResult:
    """Read and check the back of a Chinese resident ID card on its own (the front is on
    file): issuing authority and validity period (长期 included), expiry checked."""
    t0 = time.perf_counter()
    lines = ppocr.shared() if text_lines == "shared" else text_lines
    back_card, back_inverse = _rectified(back_bgr, "back")
    back_card, _ = _upright_back(back_card)
    boxes = cn_labels.back_fields(back_card, lines, BACK).boxes
    digits = _POOL.submit(ocr.read, [Region("validity", _crop(back_card, boxes["validity"]))], "eng", 6, "0123456789.-")
    if lines is None:
        region = Region("issuing_authority", _crop(back_card, boxes["issuing_authority"]))
        reading = ocr.read([region], "chi_sim", 6, None)
    else:
        reading = {"issuing_authority": _pp_field(lines, _crop(back_card, boxes["issuing_authority"]))}
    reading.update(digits.result())
    result = DocumentResult(DocumentKind.CN_RESIDENT_ID, {})
    _read_back(reading, back_inverse, today, result, boxes, _validity_words(back_card, boxes, ocr))
    if result.fields["valid_until"].status is FieldStatus.UNREADABLE:
        check_glare(back_card, boxes, "back")
    result.timings_ms = {"back": round((time.perf_counter() - t0) * 1000, 1)}
    return result
