"""Finding an ICAO document's visual-zone fields by their printed labels.

Print runs differ in where the fields are, in fonts and in label wording, but every ICAO
9303 visual zone labels its fields ("Surname / Nom", "Date of birth", "4. Date of expiry"...)
in English, French or Spanish besides the national language. So: find the text lines of the
page above the MRZ and right of the portrait (binarised print, grouped into lines), read the
small lines (labels) with Tesseract, name each by the vocabulary below, and take as the
field's value the line just below its label, left-aligned with it (or, failing that, the
line right of it on the same row). No coordinate of any layout is assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from services.core.edit_distance import edit_distance
from services.identity.documents.ocr import Region, Tesseract, TesserocrEngine

# Field -> label wordings (ICAO 9303 Part 4/5 captions in English, French and Spanish, and a
# few common national ones). Matched letters-only, upper case, tolerating OCR slips.
VOCABULARY: dict[str, tuple[str, ...]] = {
    "surname": ("SURNAME", "NOM", "APELLIDOS", "FAMILY NAME", "NAME", "NACHNAME", "COGNOME"),
    "given_names": ("GIVEN NAMES", "GIVEN NAME", "PRENOMS", "NOMBRES", "FORENAMES", "VORNAMEN", "NOMI"),
    "document_number": (
        "PASSPORT NO",
        "PASSPORT NUMBER",
        "NO DU PASSEPORT",
        "PASAPORTE NO",
        "DOCUMENT NO",
        "DOCUMENT NUMBER",
        "NO DU DOCUMENT",
        "CARD NO",
        "CARD NUMBER",
    ),
    "nationality": ("NATIONALITY", "NATIONALITE", "NACIONALIDAD", "STAATSANGEHORIGKEIT"),
    "birth_date": ("DATE OF BIRTH", "DATE DE NAISSANCE", "FECHA DE NACIMIENTO", "BIRTH", "GEBURTSDATUM"),
    "expiry_date": (
        "DATE OF EXPIRY",
        "DATE D EXPIRATION",
        "FECHA DE CADUCIDAD",
        "EXPIRY",
        "EXPIRES",
        "VALID UNTIL",
        "GULTIG BIS",
    ),
    # Not read, but named so that their lines are not taken for another field's label.
    "issue_date": ("DATE OF ISSUE", "DATE DE DELIVRANCE", "FECHA DE EXPEDICION", "ISSUED"),
    "place_of_birth": ("PLACE OF BIRTH", "LIEU DE NAISSANCE", "LUGAR DE NACIMIENTO"),
    "authority": ("AUTHORITY", "AUTORITE", "AUTORIDAD"),
    "sex": ("SEX", "SEXE", "SEXO"),
    "document_code": ("TYPE", "TIPO"),
    "issuing_state": ("CODE", "CODE OF ISSUING STATE", "CODIGO"),
}


@dataclass(frozen=True)
class Line:
    """A text line on the page: x, y, w, h in page pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


def text_lines(gray: np.ndarray, region: tuple[int, int, int, int]) -> list[Line]:
    """Lines of dark print inside `region` (x, y, w, h) of a flattened page, in page pixels."""
    x0, y0, w, h = region
    crop = gray[y0 : y0 + h, x0 : x0 + w]
    if crop.size == 0:
        return []
    background = cv2.morphologyEx(crop, cv2.MORPH_CLOSE, np.ones((21, 21), np.uint8))
    flat = cv2.divide(crop, background, scale=255)
    ink = (flat < 165).astype(np.uint8)
    # Glyphs of a word and words of a line join; lines stay apart (labels sit close above values).
    joined = cv2.dilate(ink, np.ones((1, 15), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    lines = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if 9 <= bh <= 60 and bw >= 12 and area >= 0.12 * bw * bh:
            lines.append(Line(int(x + x0), int(y + y0), int(bw), int(bh)))
    return _merged(sorted(lines, key=lambda line: (line.x, line.y)))


def _merged(lines: list[Line]) -> list[Line]:
    """Pieces of one line that the dilation left apart (a word gap in a wide font) joined."""
    out: list[Line] = []
    for line in lines:  # by left edge
        for i, o in enumerate(out):
            overlap = min(o.y + o.h, line.y + line.h) - max(o.y, line.y)
            gap = line.x - (o.x + o.w)
            if (
                overlap >= 0.6 * min(o.h, line.h)
                and gap <= 0.9 * max(o.h, line.h)
                and abs(o.h - line.h) <= 0.3 * max(o.h, line.h)
            ):
                x0, y0 = min(o.x, line.x), min(o.y, line.y)
                x1, y1 = max(o.x + o.w, line.x + line.w), max(o.y + o.h, line.y + line.h)
                out[i] = Line(x0, y0, x1 - x0, y1 - y0)
                break
        else:
            out.append(line)
    return sorted(out, key=lambda line: (line.y, line.x))


def _letters(text: str) -> str:
    text = text.upper().replace("É", "E").replace("È", "E").replace("Ü", "U").replace("Ó", "O")
    return " ".join(re.sub(r"[^A-Z]+", " ", text).split())


def label_field(text: str) -> tuple[str | None, float]:
    """The field a label names, and how well (0..1); None when it names none."""
    norm = _letters(text)
    if len(norm) < 2:
        return None, 0.0
    best: tuple[str | None, float] = (None, 0.0)
    words = norm.split()
    for field, wordings in VOCABULARY.items():
        for wording in wordings:
            n = len(wording.split())
            for i in range(len(words) - n + 1):
                piece = " ".join(words[i : i + n])
                # OCR reads "rn" as "m" in small print: compare both spelt with "m".
                d = edit_distance(piece.replace("RN", "M"), wording.replace("RN", "M"))
                allowed = 0 if len(wording) <= 4 else 1 if len(wording) <= 8 else 2
                if d <= allowed:
                    # Longer wordings are more specific ("GIVEN NAMES" over "NAME").
                    score = len(wording) - d
                    if score > best[1]:
                        best = (field, float(score))
    return best


def find_fields(
    page_bgr: np.ndarray,
    region: tuple[int, int, int, int],
    wanted: tuple[str, ...],
    ocr: Tesseract | TesserocrEngine,
    exclude: tuple[tuple[float, float, float, float], ...] = (),
) -> dict[str, tuple[int, int, int, int]]:
    """The value boxes (page pixels) of the `wanted` fields whose labels were found in `region`,
    ignoring lines centred inside an `exclude` box (the portrait)."""
    gray = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2GRAY) if page_bgr.ndim == 3 else page_bgr
    lines = [
        line
        for line in text_lines(gray, region)
        if not any(
            ex <= line.x + line.w / 2 <= ex + ew and ey <= line.y + line.h / 2 <= ey + eh for ex, ey, ew, eh in exclude
        )
    ]
    if len(lines) < 2:
        return {}
    heights = np.array([line.h for line in lines], np.float32)
    small = float(np.percentile(heights, 25))
    tall = float(np.percentile(heights, 90))
    # Labels are the smaller print when there are two sizes; with one size any line may be one.
    cut = (small + tall) / 2 if tall > 1.25 * small else tall + 1
    # A label has a value below it or right of it; the title and the values themselves do not.
    candidates = [
        line
        for line in lines
        if line.h <= cut and line.w >= 2 * line.h and _value_of(line, [o for o in lines if o.h > line.h * 1.05])
    ]
    regions = [Region(str(i), _label_crop(gray, line)) for i, line in enumerate(candidates)]
    texts = ocr.read(regions, "eng", 7) if regions else {}
    named: dict[str, tuple[Line, float]] = {}
    for i, line in enumerate(candidates):
        field, score = label_field(texts[str(i)].text)
        if field is not None and (field not in named or score > named[field][1]):
            named[field] = (line, score)
    labels = {line for line, _ in named.values()}
    out: dict[str, tuple[int, int, int, int]] = {}
    for field in wanted:
        if field not in named:
            continue
        value = _value_of(named[field][0], [line for line in lines if line not in labels])
        if value is not None:
            out[field] = _grown(value, gray.shape)
    return out


def _value_of(label: Line, lines: list[Line]) -> Line | None:
    """The line below a label (left edges within a line height), else the one right of it."""
    below = [
        line
        for line in lines
        if label.y + label.h - 3 <= line.y <= label.y + label.h + 2.2 * label.h + 8
        and abs(line.x - label.x) <= 1.5 * label.h + 6
    ]
    if below:
        return min(below, key=lambda line: line.y)
    right = [
        line
        for line in lines
        if abs((line.y + line.h / 2) - (label.y + label.h / 2)) <= 0.6 * max(line.h, label.h)
        and 0 <= line.x - (label.x + label.w) <= 4 * label.h
    ]
    return min(right, key=lambda line: line.x) if right else None


def _label_crop(gray: np.ndarray, line: Line) -> np.ndarray:
    """A label's line with white above and below: the OCR scales a line crop to a fixed height,
    and small print needs no more than about 20 px of it (a tight crop would cost 2-4x)."""
    h, w = gray.shape[:2]
    p = 3
    crop = gray[max(0, line.y - p) : min(h, line.y + line.h + p), max(0, line.x - p) : min(w, line.x + line.w + p)]
    extra = max(0, int(1.3 * line.h))
    return cv2.copyMakeBorder(crop, extra, extra, 0, 0, cv2.BORDER_CONSTANT, value=255)


def _grown(line: Line, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The value's box with room for the print the binarisation thinned away."""
    h, w = shape[:2]
    px, py = 8, max(4, line.h // 4)
    x0, y0 = max(0, line.x - px), max(0, line.y - py)
    x1, y1 = min(w, line.x + line.w + 2 * px), min(h, line.y + line.h + py)
    return (x0, y0, x1 - x0, y1 - y0)
