"""Reading a Chinese resident ID card (front, and back for the validity period)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import cv2
import numpy as np

from services.core.errors import invalid
from services.core.reasons import Reason
from services.identity.documents import cn_id
from services.identity.documents.cn_layout import BACK, CARD_H, CARD_W, FRONT, PORTRAIT
from services.identity.documents.doc_quality import check_glare, gate
from services.identity.documents.model import DocField, DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.ocr import Reading, Region, Tesseract, TesserocrEngine
from services.identity.documents.rectify import box_to_image, warp
from services.vision.faces import FaceEngine

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


def _upright_front(card: np.ndarray, engine: FaceEngine) -> tuple[np.ndarray, bool]:
    """The card turned so that the portrait is on the right; False when no face is seen."""
    for flip in (False, True):
        candidate = cv2.rotate(card, cv2.ROTATE_180) if flip else card
        faces = engine.detect(candidate)
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
    found = gate(bgr, side)
    return warp(bgr, found.quad, (CARD_W, CARD_H))


def read_cn_id(
    front_bgr: np.ndarray,
    back_bgr: np.ndarray | None,
    today: date,
    engine: FaceEngine,
    ocr: Tesseract | TesserocrEngine,
) -> DocumentResult:
    t0 = time.perf_counter()
    card, inverse = _rectified(front_bgr, "front")
    card, has_face = _upright_front(card, engine)
    if not has_face:
        raise invalid(
            Reason.PORTRAIT_NOT_FOUND,
            "no portrait found on the card: photograph the front (the side with the photo), flat and in full",
            "front",
        )
    check_glare(card, {k: FRONT[k] for k in ("name", "citizen_number", "birth_year")}, "front")
    t1 = time.perf_counter()
    result = DocumentResult(DocumentKind.CN_RESIDENT_ID, {})
    back_card = None
    if back_bgr is not None:
        back_card, back_inverse = _rectified(back_bgr, "back")
        back_card, _ = _upright_back(back_card)
        check_glare(back_card, BACK, "back")
    # The OCR calls are independent: run them side by side (Tesseract is single-threaded here).
    jobs = {
        "chi": (
            [
                Region("name", _crop(card, FRONT["name"])),
                Region("sex", _crop(card, FRONT["sex"]), single_char=True),
                Region("ethnicity", _crop(card, FRONT["ethnicity"])),
                Region("address", _crop(card, FRONT["address"]), lines=3),
            ],
            "chi_sim",
            None,
        ),
        "digits": (
            [
                Region("citizen_number", _crop(card, FRONT["citizen_number"])),
                Region("birth_year", _crop(card, FRONT["birth_year"])),
                Region("birth_month", _crop(card, FRONT["birth_month"])),
                Region("birth_day", _crop(card, FRONT["birth_day"])),
            ],
            "eng",
            "0123456789X",
        ),
    }
    if back_card is not None:
        jobs["back"] = (
            [
                Region("issuing_authority", _crop(back_card, BACK["issuing_authority"])),
                Region("validity_words", _crop(back_card, BACK["validity"])),
            ],
            "chi_sim",
            None,
        )
        jobs["back_digits"] = ([Region("validity", _crop(back_card, BACK["validity"]))], "eng", "0123456789.-")
    futures = {k: _POOL.submit(ocr.read, regions, lang, 6, wl) for k, (regions, lang, wl) in jobs.items()}
    chi, digits = futures["chi"].result(), futures["digits"].result()
    back_reading = {**futures["back"].result(), **futures["back_digits"].result()} if "back" in futures else None
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
        layout = FRONT if side == "front" else BACK
        box = box_to_image(layout[box_name], inv if inv is not None else inverse) if box_name else None
        f = DocField(name, value, conf, status, box, side, reasons or [])
        result.fields[name] = f
        for code, message in f.reasons:
            result.reasons.append((code, message, name))
        return f

    def unreadable(name: str, what: str) -> list[tuple[Reason, str]]:
        return [(Reason.FIELD_UNREADABLE, f"the {what} could not be read; retake the photo in even light")]

    name = _cjk(chi["name"].text)
    add(
        "name",
        name,
        chi["name"].confidence,
        FieldStatus.UNCHECKED if len(name) >= 2 else FieldStatus.UNREADABLE,
        "name",
        reasons=None if len(name) >= 2 else unreadable("name", "name"),
    )
    sex_text = _cjk(chi["sex"].text)
    sex = "男" if "男" in sex_text else "女" if "女" in sex_text else ""
    add(
        "sex",
        sex,
        chi["sex"].confidence,
        FieldStatus.UNCHECKED if sex else FieldStatus.UNREADABLE,
        "sex",
        reasons=None if sex else unreadable("sex", "sex"),
    )
    ethnicity = _cjk(chi["ethnicity"].text)
    add("ethnicity", ethnicity, chi["ethnicity"].confidence, FieldStatus.UNCHECKED, "ethnicity")
    address = _cjk(chi["address"].text) and re.sub(r"\s+", "", chi["address"].text)
    add("address", address, chi["address"].confidence, FieldStatus.UNCHECKED, "address")

    printed_birth: date | None = None
    parts = [re.sub(r"\D", "", digits[k].text) for k in ("birth_year", "birth_month", "birth_day")]
    try:
        printed_birth = date(int(parts[0]), int(parts[1]), int(parts[2])) if all(parts) else None
    except ValueError:
        printed_birth = None
    birth_conf = min(digits[k].confidence for k in ("birth_year", "birth_month", "birth_day"))

    raw_number = re.sub(r"[^0-9X]", "", digits["citizen_number"].text.upper())
    check = cn_id.validate(raw_number, today)
    number_reasons = [(c, m) for c, m in check.reasons]
    if not raw_number:
        number_reasons = unreadable("citizen_number", "citizen number")
    status = (
        FieldStatus.CORRECTED if check.corrected_from else FieldStatus.VALID if check.valid else FieldStatus.INVALID
    )
    if not raw_number:
        status = FieldStatus.UNREADABLE
    add(
        "citizen_number",
        check.number,
        digits["citizen_number"].confidence,
        status,
        "citizen_number",
        reasons=number_reasons,
    )

    birth_reasons: list[tuple[Reason, str]] = []
    if printed_birth is None:
        birth_reasons = unreadable("birth_date", "printed birth date")
    elif check.birth_date and printed_birth != check.birth_date:
        if birth_conf >= CONFIDENT:
            birth_reasons = [
                (Reason.BIRTH_DATE_MISMATCH, "the printed birth date differs from the one in the citizen number")
            ]
        else:  # a shaky reading is not evidence of a forged card: a person looks
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
    if sex and check.sex and {"男": "M", "女": "F"}[sex] != check.sex:
        if chi["sex"].confidence >= CONFIDENT:
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
        _read_back(back_reading, back_inverse, today, result)
    t4 = time.perf_counter()
    result.timings_ms = {
        "find_front": round((t1 - t0) * 1000, 1),
        "ocr_front": round((t2 - t1) * 1000, 1),
        "validate": round((t3 - t2) * 1000, 1),
        "back": round((t4 - t3) * 1000, 1),
    }
    return result


def _read_back(chi: dict[str, Reading], inverse: np.ndarray, today: date, result: DocumentResult) -> None:
    authority = _cjk(chi["issuing_authority"].text)
    result.fields["issuing_authority"] = DocField(
        "issuing_authority",
        authority,
        chi["issuing_authority"].confidence,
        FieldStatus.UNCHECKED,
        box_to_image(BACK["issuing_authority"], inverse),
        "back",
    )
    text = re.sub(r"\s+", "", chi["validity"].text)
    dates = _DATE.findall(text)
    box = box_to_image(BACK["validity"], inverse)
    try:
        valid_from = date(*(int(v) for v in dates[0])) if dates else None
        valid_until = date(*(int(v) for v in dates[1])) if len(dates) > 1 else None
    except ValueError:
        valid_from = valid_until = None
        result.reasons.append((Reason.INVALID_DATE, "the validity period is not a real date", "valid_until"))
    words = chi["validity_words"].text
    long_term = "长期" in words or ("长" in words and valid_until is None)
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
