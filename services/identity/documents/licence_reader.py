"""Reading a Chinese business licence (营业执照).

Find and flatten the licence onto the canonical canvas (licence_layout), turn it upright
(the red national emblem sits top centre, the red seal bottom right), OCR each field in
its own small region, then validate: the unified social credit code (GB 32100 format and
check character; an OCR confusion is corrected only when Tesseract itself offered the
other character and the check character confirms exactly one candidate), the
establishment date (a real date, not in the future), and that the company name and the
legal representative were read. Licences carry no portrait.
"""

from __future__ import annotations

import itertools
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import cv2
import numpy as np

from services.core.reasons import Reason
from services.identity.documents import cn_id, uscc
from services.identity.documents.doc_quality import check_glare, gate
from services.identity.documents.licence_layout import EMBLEM, FIELDS, LIC_H, LIC_W
from services.identity.documents.model import DocField, DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.ocr import Region, Tesseract, TesserocrEngine, _prepare
from services.identity.documents.rectify import box_to_image, find_document, warp

# Below this OCR confidence a suspicious value goes to review (unreadable), not to FAIL.
CONFIDENT = 0.80
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
    "D": "0",
    "6": "G",
    "G": "6",
    "8": "B3",
    "B": "8",
    "1": "J7",
    "J": "1",
    "4": "A",
    "A": "4",
    "2": "7",
    "3": "8",
}
# What the alphabet-restricted readings make of a printed I, O, S, V or Z.
_PRINTED_AS = {"O": "0QD", "I": "1JTL", "S": "5", "Z": "27", "V": "UYW"}
_AS_DIGIT = {"G": "6", "B": "8", "D": "0", "Q": "0", "T": "7", "J": "1", "L": "1", "A": "4"}
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sv-ocr-licence")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_DATE = re.compile(r"(\d{4})\D(\d{2})\D(\d{2})(?!\d)")
DATE_WHITELIST = "0123456789年月日"
# Where print is always present (the first characters of each key value): a reflection
# that washes these out is worth a retake; blank parts of a field box would say nothing.
_GLARE_BOXES = {
    "credit code": (*FIELDS["credit_code"][:2], 380, FIELDS["credit_code"][3]),
    "company name": (*FIELDS["company_name"][:2], 120, FIELDS["company_name"][3]),
    "legal representative": (*FIELDS["legal_representative"][:2], 62, FIELDS["legal_representative"][3]),
}
_ROTATE_180 = np.array([[-1, 0, LIC_W], [0, -1, LIC_H], [0, 0, 1]], np.float64)


@dataclass
class CodeReading:
    """The credit code as OCR saw it: text, per-character confidence and alternatives."""

    text: str
    confidence: float
    symbols: list[tuple[str, float, str]] = field(default_factory=list)  # (char, conf 0..1, alternatives)


@dataclass
class CodeCheck:
    """Outcome of validating a read credit code."""

    code: str
    status: FieldStatus
    reasons: list[tuple[Reason, str]] = field(default_factory=list)
    corrected_from: str | None = None


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


def emblem_redness(card: np.ndarray) -> tuple[float, float]:
    """Share of strongly red pixels where the emblem is when upright, and when upside down."""
    x, y, w, h = EMBLEM
    return _redness(card, EMBLEM), _redness(card, (LIC_W - x - w, LIC_H - y - h, w, h))


def looks_like_licence(bgr: np.ndarray) -> bool:
    """Cheap classification without OCR: a red emblem in the middle of a long edge of the
    document. ID cards carry no red (their front has a portrait instead); the aspect ratio
    alone would not do, since a passport data page has the licence's 1.42:1 proportions."""
    found = find_document(bgr)
    if found is None:
        return False
    card, _ = warp(bgr, found.quad, (LIC_W, LIC_H))
    return max(emblem_redness(card)) > 0.25


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
    flat = cv2.normalize(cv2.divide(gray, background, scale=255), None, 0, 255, cv2.NORM_MINMAX)
    return cv2.cvtColor(flat, cv2.COLOR_GRAY2BGR)


# Extra readings when the first does not settle the code: each fails on different characters
# (blur, uneven light), so together they outvote a single misreading.
_MORE_VIEWS = (
    lambda crop: (crop, 40, True),
    lambda crop: (_sharpen(_flatten(crop), 1.0, 1.5), 48, False),
    lambda crop: (_sharpen(crop, 1.0, 1.5), 64, False),
)


def read_credit_code(ocr: Tesseract | TesserocrEngine, crop: np.ndarray) -> tuple[CodeCheck, float]:
    """Read and validate the credit code, with more readings only when the first two do not
    agree on a code that checks out; returns the check and the first reading's confidence."""
    full = read_code(ocr, crop, FULL_WHITELIST, 48, False)
    legal = [read_code(ocr, crop, LEGAL_WHITELIST, 64, False)]
    quick = check_code(legal, full, final=False)
    if quick is not None:
        return quick, legal[0].confidence
    for view in _MORE_VIEWS:
        image, height, flatten = view(crop)
        legal.append(read_code(ocr, image, LEGAL_WHITELIST, height, flatten))
    checked = check_code(legal, full, final=True)
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


def _corroborated(code: str) -> bool:
    """Independent structure a misread rarely keeps: a known GB/T 2260 region in characters
    3-8 and a valid organisation-code check character."""
    return code[2:8] in cn_id.regions() and organisation_code_ok(code)


def _only_lookalikes(seen: str, code: str) -> bool:
    return len(seen) == len(code) and all(a == b or _LOOKALIKE.get(a) == b for a, b in zip(seen, code, strict=True))


def _digits_where_required(code: str) -> str:
    """Characters 3-8 are a region code: a letter there is a misread digit."""
    return code[:2] + "".join(_AS_DIGIT.get(c, c) for c in code[2:8]) + code[8:]


def _majority(codes: list[str]) -> str:
    out = []
    for column in zip(*codes, strict=True):
        counts: dict[str, int] = {}
        for c in column:
            counts[c] = counts.get(c, 0) + 1
        out.append(max(counts, key=lambda c: (counts[c], -column.index(c))))
    return "".join(out)


def check_code(legal: list[CodeReading], full: CodeReading, final: bool = True) -> CodeCheck | None:
    """Validate the credit code (GB 32100) from readings restricted to its alphabet (`legal`)
    and one over all of A-Z (`full`, the evidence for characters a code never has).

    A code is accepted only when its check character matches, and, when it differs from
    what the all-letters reading saw by more than classic look-alikes (O/0, I/1, Z/2, S/5,
    V/U), when it also keeps a known GB/T 2260 region and the organisation code's own check
    character. Candidates, in order: a reading as is; the majority over the readings; the
    combinations of characters the readings disagree on; one classic confusion (7/T, 0/Q/D,
    6/G, 8/B, 1/J ...) that Tesseract itself offered at that character. Exactly one
    candidate must survive. With `final` False only the first is tried, and None means
    "read more".

    Otherwise: I, O, S, V or Z in the all-letters reading make the code MALFORMED (fail);
    a full-length code is CHECKSUM_FAILED (review: some early codes fail it legitimately);
    anything else is unreadable (review).
    """
    seen = full.text

    def trusted(code: str) -> bool:
        return _checksum_ok(code) and (code == seen or _only_lookalikes(seen, code) or _corroborated(code))

    def accepted(code: str) -> CodeCheck:
        if code == seen:
            return CodeCheck(code, FieldStatus.VALID)
        return CodeCheck(code, FieldStatus.CORRECTED, corrected_from=seen)

    first = legal[0].text
    if _checksum_ok(first) and (first == seen or _only_lookalikes(seen, first)):
        return accepted(first)
    if not final:
        return None
    codes = [_digits_where_required(r.text) for r in legal if len(r.text) == 18]
    if len(seen) == 18 and all(_LOOKALIKE.get(c, c) in uscc.ALPHABET for c in seen):
        codes.append(_digits_where_required("".join(_LOOKALIKE.get(c, c) for c in seen)))
    direct = {c for c in codes if trusted(c)}
    if len(direct) == 1:
        return accepted(direct.pop())
    majority = _majority(codes) if codes else ""
    if not direct and majority and trusted(majority):
        return accepted(majority)
    candidates = set(direct)
    if codes and not direct:
        columns = [sorted(set(col)) for col in zip(*codes, strict=True)]
        if int(np.prod([len(c) for c in columns])) <= 256:
            candidates = {"".join(combo) for combo in itertools.product(*columns)}
            candidates = {c for c in candidates if _checksum_ok(c) and _corroborated(c)}
        if not candidates:
            offered = [{alt for r in legal if len(r.symbols) == 18 for alt in r.symbols[i][2]} for i in range(18)]
            # Only in the organisation code (characters 9-17), where its own check character
            # doubles the evidence; a changed region digit often still names a real county.
            for i in range(8, 17):
                for alt in _CONFUSIONS.get(majority[i], ""):
                    if alt in offered[i]:
                        cand = majority[:i] + alt + majority[i + 1 :]
                        if _checksum_ok(cand) and _corroborated(cand):
                            candidates.add(cand)
    if len(candidates) == 1:
        return accepted(candidates.pop())
    if len(candidates) > 1:
        return CodeCheck(
            majority or first,
            FieldStatus.UNREADABLE,
            [(Reason.FIELD_UNREADABLE, "the credit code reads more than one way; retake the photo in even light")],
        )
    illegal = [i for i, c in enumerate(seen) if c not in uscc.ALPHABET] if len(seen) == 18 else []
    if illegal and not all(majority and majority[i] in _PRINTED_AS.get(seen[i], "") for i in illegal):
        # The restricted readings saw something else there (a 9 that the all-letters reading
        # took for S): a blurred character, not evidence of a forged code.
        return CodeCheck(
            majority or seen,
            FieldStatus.UNREADABLE,
            [(Reason.FIELD_UNREADABLE, "the credit code could not be read with confidence; retake the photo")],
        )
    if illegal:
        bad = sorted({seen[i] for i in illegal})
        return CodeCheck(
            seen,
            FieldStatus.INVALID,
            [
                (
                    Reason.CREDIT_CODE_MALFORMED,
                    f"the credit code contains {', '.join(bad)}: GB 32100 codes use 0-9 and A-Z without I, O, S, V, Z",
                )
            ],
        )
    if not majority:
        best = first if first else seen
        return CodeCheck(
            best,
            FieldStatus.UNREADABLE,
            [(Reason.FIELD_UNREADABLE, f"the credit code could not be read ({len(best)} of 18 characters)")],
        )
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
    seen = np.float32([[left, top], [right, top], [right, bottom], [left, bottom]]).reshape(-1, 1, 2)
    in_image = cv2.perspectiveTransform(seen, inverse).reshape(-1, 2)
    fl, ft, fr, fb = FRAME
    want = np.float32([[fl, ft], [fr, ft], [fr, fb], [fl, fb]])
    m = cv2.getPerspectiveTransform(in_image.astype(np.float32), want)
    flat = cv2.warpPerspective(bgr, m, (LIC_W, LIC_H), flags=cv2.INTER_CUBIC)
    return flat, np.linalg.inv(m)


def _upright(card: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top, bottom = emblem_redness(card)
    if bottom > top:
        return cv2.rotate(card, cv2.ROTATE_180), inverse @ _ROTATE_180
    return card, inverse


def read_licence(bgr: np.ndarray, today: date, ocr: Tesseract | TesserocrEngine) -> DocumentResult:
    """Read and validate a business licence photo; quality problems raise INVALID_ARGUMENT."""
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
    jobs = {
        "code": _POOL.submit(read_credit_code, ocr, _crop(card, "credit_code")),
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
    checked, code_conf = jobs["code"].result()
    chi = {**jobs["chi"].result(), **jobs["more"].result(), **jobs["date"].result()}
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
