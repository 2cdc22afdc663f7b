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

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import cv2
import numpy as np

from services.core.reasons import Reason
from services.identity.documents import uscc
from services.identity.documents.doc_quality import check_glare, gate
from services.identity.documents.licence_layout import EMBLEM, FIELDS, LIC_H, LIC_W
from services.identity.documents.model import DocField, DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.ocr import Region, Tesseract, TesserocrEngine, _prepare
from services.identity.documents.rectify import box_to_image, find_document, warp

# Below this OCR confidence a suspicious value goes to review (unreadable), not to FAIL.
CONFIDENT = 0.80
# A code character read below this confidence may be an OCR confusion worth repairing.
UNSURE_SYMBOL = 0.90
CODE_WHITELIST = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Characters GB 32100 never uses, and the ones OCR mistakes them for.
_LOOKALIKE = {"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"}
# Classic confusions between characters of the alphabet, tried at unsure positions.
_CONFUSIONS = {
    "0": "D8Q",
    "D": "0",
    "Q": "0",
    "8": "B0",
    "B": "8",
    "1": "7T",
    "7": "1",
    "T": "1",
    "5": "6",
    "6": "58",
    "2": "7",
    "U": "W",
    "W": "U",
    "3": "8",
}
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sv-ocr-licence")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_DATE = re.compile(r"(\d{4})\D{0,2}?(\d{1,2})\D{0,2}?(\d{1,2})")
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
    """Cheap classification without OCR: the document's outline is nearer the licence's
    1.41:1 than the ID card's 1.59:1, or a red emblem sits in the middle of a long edge
    (ID cards carry no red; their front has a portrait instead)."""
    found = find_document(bgr)
    if found is None:
        return False
    q = found.quad
    long_side = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    short_side = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    card, _ = warp(bgr, q, (LIC_W, LIC_H))
    top, bottom = emblem_redness(card)
    if max(top, bottom) > 0.25:
        return True
    return abs(long_side / max(short_side, 1.0) - 1.414) < abs(long_side / max(short_side, 1.0) - 1.585) - 0.05


def read_code(ocr: Tesseract | TesserocrEngine, crop: np.ndarray) -> CodeReading:
    """One line of code characters, with Tesseract's per-character confidence and the other
    characters it considered (in-process engine only; the program gives the line's mean)."""
    if not isinstance(ocr, TesserocrEngine):
        r = ocr.read([Region("credit_code", crop)], "eng", 7, CODE_WHITELIST)["credit_code"]
        text = re.sub(r"[^0-9A-Z]", "", r.text.upper())
        return CodeReading(text, r.confidence, [(c, r.confidence, "") for c in text])
    from PIL import Image

    tess = ocr._tesserocr
    api = ocr._api("eng")  # per-thread API object, as the engine's own reads use
    api.SetVariable("tessedit_char_whitelist", CODE_WHITELIST)
    api.SetVariable("lstm_choice_mode", "2")
    api.SetPageSegMode(tess.PSM.SINGLE_LINE)
    padded = cv2.copyMakeBorder(_prepare(crop, 1), 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
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


def check_code(reading: CodeReading) -> CodeCheck:
    """Validate a read credit code (GB 32100).

    - 18 characters from the alphabet with the right check character: VALID.
    - Characters GB 32100 never uses (I, O, S, V, Z): mapped to their look-alike only when
      the check character then confirms the code (CORRECTED); otherwise MALFORMED (fail).
    - Wrong check character: a single OCR confusion at a character Tesseract was unsure of
      (and offered the alternative for) is corrected when exactly one candidate passes;
      otherwise CHECKSUM_FAILED, which goes to review (some early codes fail legitimately).
    - Not 18 characters: unreadable (review); a retake usually fixes it.
    """
    raw = reading.text
    if len(raw) != 18:
        return CodeCheck(
            raw,
            FieldStatus.UNREADABLE,
            [(Reason.FIELD_UNREADABLE, f"the credit code could not be read ({len(raw)} of 18 characters)")],
        )
    if any(c not in uscc.ALPHABET for c in raw):
        mapped = "".join(_LOOKALIKE.get(c, c) for c in raw)
        if all(c in uscc.ALPHABET for c in mapped) and uscc.check_char(mapped[:17]) == mapped[17]:
            return CodeCheck(mapped, FieldStatus.CORRECTED, corrected_from=raw)
        bad = sorted({c for c in raw if c not in uscc.ALPHABET})
        return CodeCheck(
            raw,
            FieldStatus.INVALID,
            [
                (
                    Reason.CREDIT_CODE_MALFORMED,
                    f"the credit code contains {', '.join(bad)}: GB 32100 codes use 0-9 and A-Z without I, O, S, V, Z",
                )
            ],
        )
    if uscc.check_char(raw[:17]) == raw[17]:
        return CodeCheck(raw, FieldStatus.VALID)
    candidates = set()
    symbols = reading.symbols if len(reading.symbols) == 18 else [(c, 0.0, "") for c in raw]
    for i, (ch, conf, alts) in enumerate(symbols):
        if conf >= UNSURE_SYMBOL:
            continue
        # Only a confusion Tesseract itself considered at this character counts as evidence.
        options = [a for a in _CONFUSIONS.get(ch, "") if a in alts] if alts else list(_CONFUSIONS.get(ch, ""))
        for alt in options:
            cand = raw[:i] + alt + raw[i + 1 :]
            if uscc.check_char(cand[:17]) == cand[17]:
                candidates.add(cand)
    if len(candidates) == 1:
        return CodeCheck(candidates.pop(), FieldStatus.CORRECTED, corrected_from=raw)
    return CodeCheck(
        raw,
        FieldStatus.INVALID,
        [
            (
                Reason.CREDIT_CODE_CHECKSUM_FAILED,
                "the credit code's check character does not match (GB 32100); some early codes do: "
                "a reviewer checks it",
            )
        ],
    )


def parse_date(text: str) -> tuple[date | None, bool]:
    """(date, found): a YYYY年MM月DD日 date; found=True with None when digits were there but
    they are not a real date."""
    m = _DATE.search(re.sub(r"\s+", "", text))
    if not m:
        return None, False
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), True
    except ValueError:
        return None, True


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
    chi_lines = ("company_name", "legal_representative", "company_type", "registered_capital")
    jobs = {
        "code": _POOL.submit(read_code, ocr, _crop(card, "credit_code")),
        "chi": _POOL.submit(ocr.read, [Region(k, _crop(card, k)) for k in chi_lines], "chi_sim", 7, None),
        "more": _POOL.submit(
            ocr.read,
            [
                Region("establishment_date", _crop(card, "establishment_date")),
                Region("address", _crop(card, "address"), lines=2),
                Region("registration_authority", _crop(card, "registration_authority")),
            ],
            "chi_sim",
            6,
            None,
        ),
    }
    code_reading = jobs["code"].result()
    chi = {**jobs["chi"].result(), **jobs["more"].result()}
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

    checked = check_code(code_reading)
    conf = code_reading.confidence
    if (
        checked.status is FieldStatus.INVALID
        and conf < CONFIDENT
        and checked.reasons[0][0] is (Reason.CREDIT_CODE_MALFORMED)
    ):
        # A shaky reading with odd letters is not evidence of a forged licence: a person looks.
        checked = CodeCheck(checked.code, FieldStatus.UNREADABLE, unreadable("credit code"))
    add("credit_code", checked.code, conf, checked.status, checked.reasons)

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

    reading = chi["establishment_date"]
    established, digits_found = parse_date(reading.text)
    if established is not None and date(1949, 10, 1) <= established <= today:
        add("establishment_date", established.isoformat(), reading.confidence, FieldStatus.VALID)
    elif digits_found and reading.confidence >= CONFIDENT:
        why = f"{established} is in the future" if established else "it is not a real date"
        if established is not None and established < date(1949, 10, 1):
            why = f"{established} is before any licence was issued"
        add(
            "establishment_date",
            established.isoformat() if established else re.sub(r"\s+", "", reading.text),
            reading.confidence,
            FieldStatus.INVALID,
            [(Reason.INVALID_DATE, f"the establishment date is impossible: {why}")],
        )
    else:
        add(
            "establishment_date",
            re.sub(r"\s+", "", reading.text),
            reading.confidence,
            FieldStatus.UNREADABLE,
            unreadable("establishment date"),
        )
    t3 = time.perf_counter()
    result.timings_ms = {
        "find": round((t1 - t0) * 1000, 1),
        "ocr": round((t2 - t1) * 1000, 1),
        "validate": round((t3 - t2) * 1000, 1),
    }
    return result
