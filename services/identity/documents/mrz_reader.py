"""Reading ICAO 9303 documents: TD3 passport data pages and TD1 identity cards.

Steps: find the document and warp it flat (rectify.py, with the quality gate); find the
machine-readable zone at the bottom (which also tells which way is up and whether this is
a 2 x 44 passport zone or a 3 x 30 card zone); read it cell by cell against OCR-B
(ocrb.py); parse and validate check digits, composite and dates (mrz.py, whose repair
fixes confusions only when the check digits confirm them); read the key visual-zone
fields with Tesseract and compare them with the MRZ; crop the portrait once the face
engine has seen a face in it.

Doubt goes to a person, never to a silent pass or an unfounded FAIL: a check digit that
fails on a weakly-read cell, or a visual field that Tesseract read with low confidence, is
FIELD_UNREADABLE (review); a confident disagreement is a hard failure.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np

from services.core.edit_distance import edit_distance
from services.core.errors import DomainError, invalid
from services.core.reasons import Reason
from services.identity.documents import mrz, mrz_find, ocrb, viz_labels
from services.identity.documents.doc_quality import gate
from services.identity.documents.model import DocField, DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.mrz_layout import (
    MRZ_BAND,
    TD1_H,
    TD1_PORTRAIT,
    TD1_VIZ,
    TD1_W,
    TD3_H,
    TD3_PORTRAIT,
    TD3_VIZ,
    TD3_W,
)
from services.identity.documents.ocr import Reading, Region, Tesseract, TesserocrEngine
from services.identity.documents.rectify import Found, box_to_image, find_document, warp
from services.vision.faces import DetectedFace, FaceEngine

CONFIDENT = 0.80  # Tesseract confidence above which a visual-zone disagreement is evidence
WEAK_CELL = 0.55  # an MRZ cell matched below this is doubtful
# An unguarded cell (check digit, composite-only data) matched below this on a close call may
# explain a failed check (review); crisp print (clean scans score 0.9+) is taken as read.
WEAK_UNGUARDED = 0.8
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sv-mrz")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CANON = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"})
_VIZ_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
SIZES = {"TD3": (TD3_W, TD3_H), "TD1": (TD1_W, TD1_H)}
# The visual-zone fields read and compared with the MRZ (nationality: reported, compared when
# the printed word is one the reader knows for the code).
VIZ_FIELDS = ("surname", "given_names", "document_number", "birth_date", "expiry_date", "nationality")
_IDENTITY_FIELDS = ("surname", "document_number", "birth_date")  # must be read for a PASS
# How visual zones print a nationality, by ICAO code (English and the national language).
NATIONALITY_WORDS = {
    "GBR": ("BRITISH CITIZEN", "BRITISH"),
    "FRA": ("FRANCAISE", "FRENCH"),
    "D": ("DEUTSCH", "GERMAN"),
    "NLD": ("NEDERLANDSE", "DUTCH"),
    "ITA": ("ITALIANA", "ITALIAN"),
    "ESP": ("ESPANOLA", "SPANISH"),
    "SGP": ("SINGAPORE CITIZEN", "SINGAPOREAN"),
    "CAN": ("CANADIAN", "CANADIENNE", "CANADIEN"),
    "USA": ("UNITED STATES OF AMERICA", "AMERICAN"),
    "CHN": ("CHINESE", "中国"),
    "UTO": ("UTOPIAN",),  # ICAO's specimen state
    "JPN": ("JAPAN", "JAPANESE"),
    "KOR": ("REPUBLIC OF KOREA", "KOREAN"),
    "IND": ("INDIAN",),
    "AUS": ("AUSTRALIAN",),
}
KIND_OF = {"TD3": DocumentKind.PASSPORT_TD3, "TD1": DocumentKind.ID_CARD_TD1}
FMT_OF = {DocumentKind.PASSPORT_TD3: "TD3", DocumentKind.ID_CARD_TD1: "TD1"}


@dataclass
class ZoneRead:
    """An MRZ found on a rectified page."""

    fmt: str  # TD3 / TD1
    page: np.ndarray  # the rectified page, upright
    inverse: np.ndarray  # homography page -> submitted image
    lines: list[ocrb.LineRead]
    band_y: int  # where the band starts on the page
    # The outline had to be extended to reach the zone (a light page on white): the page
    # geometry above the MRZ is a guess, so its visual-zone boxes may cut the print.
    outline_extended: bool = False

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]


def _warped(
    bgr: np.ndarray, quad: np.ndarray, fmt: str, flip: bool, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    if flip:  # the same quad read from the opposite corner: the page turned by 180 degrees
        quad = np.roll(quad, 2, axis=0)
    w, h = SIZES[fmt]
    return warp(bgr, quad, (round(w * scale), round(h * scale)))


def _band(bgr: np.ndarray, quad: np.ndarray, fmt: str, flip: bool, scale: float = 1.0) -> tuple[np.ndarray, int]:
    """Only the bottom of the flattened page, where the MRZ is, and the page row it starts at.

    A little above the nominal band (a rectified outline is never exact). Warping a quarter
    of the page, and with linear interpolation, is what makes trying both ways up cheap.
    """
    if flip:
        quad = np.roll(quad, 2, axis=0)
    w, h = (round(v * scale) for v in SIZES[fmt])
    _, y, _, bh = MRZ_BAND[fmt]
    y0 = round((y - bh // 5) * scale)
    dst = np.array([[0, -y0], [w, -y0], [w, h - y0], [0, h - y0]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(bgr, m, (w, h - y0), flags=cv2.INTER_CUBIC), y0


def _rows(gray: np.ndarray, fmt: str) -> list[ocrb.Row]:
    n = ocrb.LINE_LENGTHS[fmt]
    return ocrb.find_rows(gray, min_chars=int(0.55 * n), min_span=0.7)


def _quads(quad: np.ndarray, fmt: str) -> list[np.ndarray]:
    """The outline as found and, when it is too flat for the format, extended on either side.

    A light card scanned on white shows its edge only where the print is, which can leave the
    plain MRZ band outside the outline; extending the short sides to the format's aspect
    ratio, one way and then the other, brings it back.
    """
    q = quad.astype(np.float64)
    w, h = SIZES[fmt]
    e01, e12 = np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1])
    long_side, short_side = max(e01, e12), min(e01, e12)
    want = long_side * h / w
    if short_side >= 0.87 * want:
        return [quad]
    # Corners a and b form one long side, c and d the other (a-d and b-c the short sides).
    a, b, c, d = (0, 1, 2, 3) if e01 >= e12 else (1, 2, 3, 0)
    out = [quad]
    for grow in ((c, d), (a, b)):  # push one long side outwards, keeping the other
        g = q.copy()
        for i in grow:
            j = {a: d, b: c, c: b, d: a}[i]
            v = q[i] - q[j]
            g[i] = q[j] + v / np.linalg.norm(v) * want
        out.append(g.astype(np.float32))
    return out


def locate_zone(bgr: np.ndarray, quad: np.ndarray, fmts: tuple[str, ...]) -> ZoneRead | None:
    """The MRZ of the document outlined by `quad`, trying both ways up; None when there is none."""
    for fmt in fmts:
        for qi, q in enumerate(_quads(quad, fmt)):
            for flip in (False, True):
                band, y0 = _band(bgr, q, fmt, flip)
                gray = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY)
                rows = _rows(gray, fmt)
                want = len(ocrb.spec(fmt))
                if len(rows) < want or (fmt == "TD3" and len(rows) >= 3 and "TD1" in fmts):
                    continue
                rows = rows[-want:]
                specs = ocrb.spec(fmt)
                # One print, one size: the scale is searched on the line with the most glyphs
                # (fillers measure the cap height poorly) and serves the others.
                first = max(range(want), key=lambda i: len(rows[i].boxes))
                head = ocrb.read_line(gray, rows[first], specs[first])
                lines = [
                    head if i == first else ocrb.read_line(gray, rows[i], specs[i], head.cap_px) for i in range(want)
                ]
                for line in lines:  # cell boxes from band to page pixels
                    for cell in line.cells:
                        x, y, cw, ch = cell.box
                        cell.box = (x, y + y0, cw, ch)
                page, inverse = _warped(bgr, q, fmt, flip)
                _filler_tail(lines[0 if fmt == "TD3" else 2], 5 if fmt == "TD3" else 0)
                return ZoneRead(fmt, page, inverse, lines, MRZ_BAND[fmt][1], qi > 0)
    return None


def _filler_tail(line: ocrb.LineRead, start: int) -> None:
    """Past the names, the name field is filler to the end of the line.

    Name parts are separated by one `<` and the two identifiers by two, so the first run
    of three `<` after a letter starts the trailing filler. The name field has no check
    digit: a cell there read as a letter whose runner-up is `<` (a filler caught as C, X
    or K) is the filler. A confident letter with another runner-up is left as read, and
    the visual-zone comparison of the names judges it.
    """
    text = line.text
    seen_letter = False
    for i in range(start, len(text) - 2):
        seen_letter |= text[i] != "<"
        if seen_letter and text[i : i + 3] == "<<<":
            for cell in line.cells[i + 3 :]:
                if cell.char != "<" and cell.second == "<":
                    cell.char, cell.second = cell.second, cell.char
                    cell.score, cell.second_score = cell.second_score, cell.score
            return


def looks_like_mrz_document(bgr: np.ndarray) -> DocumentKind | None:
    """Cheap classification: TD1 when the bottom of the outlined document holds three MRZ
    rows, else TD3 when it holds two. TD1 is tried first: a card's back seen through the
    passport page's geometry also shows two rows (three of 30 clean TD1 backs were taken for
    passports when TD3 came first), while a passport page shows two, never three."""
    found = find_document(bgr)
    if found is None:
        return None
    for fmt in ("TD1", "TD3"):
        for q in _quads(found.quad, fmt):
            for flip in (False, True):
                band, _ = _band(bgr, q, fmt, flip, 0.5)  # half size: enough to see rows
                rows = _rows(cv2.cvtColor(band, cv2.COLOR_BGR2GRAY), fmt)
                if fmt == "TD3" and len(rows) >= 2 and len(rows) != 3:
                    return DocumentKind.PASSPORT_TD3
                if fmt == "TD1" and len(rows) >= 3:
                    return DocumentKind.ID_CARD_TD1
    return None


def _fmts(kind: DocumentKind | None) -> tuple[str, ...]:
    if kind is DocumentKind.PASSPORT_TD3:
        return ("TD3",)
    if kind is DocumentKind.ID_CARD_TD1:
        return ("TD1",)
    return ("TD3", "TD1")


def _not_found(side: str, fmt: str) -> Exception:
    where = (
        "along the bottom of the passport's photo page"
        if fmt == "TD3"
        else "on the card (usually on the back: send it as `back`)"
    )
    return invalid(
        Reason.MRZ_NOT_FOUND,
        f"no machine-readable zone (the lines of letters, digits and <<< {where}) found in the {side} "
        "photo: photograph the whole page flat, without glare on those lines",
        side,
    )


def read_mrz_document(
    front_bgr: np.ndarray,
    back_bgr: np.ndarray | None,
    kind: DocumentKind | None,
    today: date,
    engine: FaceEngine,
    ocr: Tesseract | TesserocrEngine,
) -> DocumentResult:
    """Read and validate a TD3 passport page or a TD1 card (front with portrait, back with MRZ)."""
    t0 = time.perf_counter()
    fmts = _fmts(kind)
    candidates = [("back", back_bgr), ("front", front_bgr)] if back_bgr is not None else [("front", front_bgr)]
    zone, zone_side, portrait_side = None, "front", None
    # A card's front (portrait, visual zone) is found and turned upright while the back's MRZ
    # is read: both are mostly OpenCV and numpy, which run outside the GIL.
    front_future = (
        _POOL.submit(_upright_by_face, front_bgr, "front", engine) if back_bgr is not None and "TD1" in fmts else None
    )
    gate_error: DomainError | None = None
    for side, image in candidates:
        try:
            found = _gate(image, side, fmts)
        except DomainError as err:
            if err.reason not in _OUTLINE_ERRORS:
                raise
            gate_error, zone = gate_error or err, None
        else:
            zone = locate_zone(image, found.quad, fmts)
        if zone is None:  # no outline, or none around the zone: the zone's rows give the page
            zone = _zone_from_rows(image, fmts, today)
        if zone is not None:
            zone_side = side
            break
    if zone is None:
        if gate_error is not None:
            raise gate_error
        raise _not_found("back" if back_bgr is not None else "front", fmts[0])
    fmt = zone.fmt
    result = DocumentResult(KIND_OF[fmt], {})
    t1 = time.perf_counter()

    # The side with the portrait and the visual zone: the page itself for a passport, the
    # other side for a card (or the same image, if a card carries everything on one side).
    if fmt == "TD3":
        face_page, face_inverse, portrait_side = zone.page, zone.inverse, zone_side
    else:
        other = [
            (s, img) for s, img in (("front", front_bgr), ("back", back_bgr)) if s != zone_side and img is not None
        ]
        if other:
            portrait_side, other_img = other[0]
            if portrait_side == "front" and front_future is not None:
                face_page, face_inverse = front_future.result()
            else:
                face_page, face_inverse = _upright_by_face(other_img, portrait_side, engine)
        else:
            face_page, face_inverse, portrait_side = zone.page, zone.inverse, zone_side
    viz_layout: dict[str, tuple[int, int, int, int] | None] = dict(TD3_VIZ if fmt == "TD3" else TD1_VIZ)
    regions = [Region(n, _crop(face_page, viz_layout[n])) for n in VIZ_FIELDS]  # type: ignore[arg-type]
    viz_future = _POOL.submit(ocr.read, regions, "eng", 7, _VIZ_CHARS)
    portrait_box = TD3_PORTRAIT if fmt == "TD3" else TD1_PORTRAIT
    portrait = _crop(face_page, portrait_box)
    faces = engine.detect(portrait)

    parsed = mrz.parse(zone.texts, today)
    parsed, explained = _second_chance(zone, parsed, today)
    viz = viz_future.result()
    t2 = time.perf_counter()

    _mrz_fields(result, zone, parsed, zone_side, explained)
    # The reference boxes hold this print run's fields when most of them agree with the MRZ;
    # otherwise what they show may be another field's print (or half of it): no evidence.
    layout_known = _agreements(viz, result, parsed) >= 3
    if not layout_known:
        # Not this suite's reference print run (or not readable there): find the fields by
        # their printed labels, right of the portrait and above the MRZ (a card's front: all).
        bottom = zone.band_y if face_page is zone.page else face_page.shape[0]
        region = (0, 0, face_page.shape[1], bottom)
        labelled = viz_labels.find_fields(face_page, region, VIZ_FIELDS, ocr, _portrait_area(faces, portrait_box))
        if sum(n in labelled for n in VIZ_FIELDS[:5]) >= 2:
            readings = ocr.read([Region(n, _crop(face_page, b)) for n, b in labelled.items()], "eng", 7, _VIZ_CHARS)
            viz_layout = {n: labelled.get(n) for n in VIZ_FIELDS}
            viz = {n: readings.get(n, Reading("", 0.0)) for n in VIZ_FIELDS}
            layout_known = True
    t_viz = time.perf_counter()

    def reread(name: str) -> tuple[str, float]:
        box = viz_layout[name]
        if box is None:
            return "", 0.0
        crop = _sharpened(_crop(face_page, box))
        second = ocr.read([Region(name, crop)], "eng", 7, _VIZ_CHARS)[name]
        return second.text, second.confidence

    # Visual-zone boxes on a page whose outline was guessed may cut the print: what is read
    # there can raise doubt (review) but never prove a mismatch.
    guessed = zone.outline_extended and face_page is zone.page
    _compare_visual(
        result,
        parsed,
        viz,
        viz_layout,
        face_inverse,
        portrait_side or "front",
        reread,
        trusted=not guessed and layout_known,
        mrz_sound=parsed.valid and not explained,
    )
    if faces:
        result.portrait_bgr = portrait.copy()
        result.portrait_box = box_to_image(portrait_box, face_inverse)
    else:
        result.reasons.append(
            (
                Reason.PORTRAIT_NOT_FOUND,
                "no face found in the document's portrait: photograph the page with the photo, flat and in full"
                if fmt == "TD3"
                else "no face found on the card: send the side with the photo as `front` and the MRZ side as `back`",
                "portrait",
            )
        )
    t3 = time.perf_counter()
    result.timings_ms = {
        "find_mrz": round((t1 - t0) * 1000, 1),
        "read": round((t2 - t1) * 1000, 1),
        "visual_zone": round((t_viz - t2) * 1000, 1),
        "validate": round((t3 - t_viz) * 1000, 1),
    }
    return result


# Refusals about the outline, not the picture's quality: the MRZ's own rows may still be found.
_OUTLINE_ERRORS = frozenset({Reason.NO_DOCUMENT_FOUND, Reason.DOCUMENT_CUT_OFF, Reason.IMAGE_TOO_SMALL})


def _zone_from_rows(image: np.ndarray, fmts: tuple[str, ...], today: date) -> ZoneRead | None:
    """The zone read through a page outline implied by MRZ-like rows (mrz_find.py): of the
    candidates, the one whose reading satisfies the most check digits, at least two (rows of
    a printed page under the document satisfy one at most, by chance)."""
    best, best_score = None, 1
    h, w = image.shape[:2]
    for fmt, quad in itertools.islice(mrz_find.candidate_quads(image, fmts), 12):
        span = np.ptp(quad, axis=0)
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        if (lo < -0.03 * span).any() or (hi > np.array([w, h]) + 0.03 * span).any():
            continue  # part of the page is outside the picture: the gate's refusal stands
        zone = locate_zone(image, quad, (fmt,))
        if zone is None:
            continue
        checks = mrz.parse(zone.texts, today).checks
        score = sum(checks.values())
        if score > best_score:
            best, best_score = zone, score
        if checks and all(checks.values()):
            break
    return best


def _gate(image: np.ndarray, side: str, fmts: tuple[str, ...]) -> Found:
    """The quality gate, told the proportions of the formats looked for: a page or card that
    fills a screenshot or scan edge to edge keeps them, and is whole, not cut off."""
    error: DomainError | None = None
    for fmt in fmts:
        w, h = SIZES[fmt]
        try:
            return gate(image, side, w / h, shape_search=False)
        except DomainError as err:
            if err.reason is not Reason.DOCUMENT_CUT_OFF:
                raise
            error = err
    assert error is not None
    raise error


def _portrait_area(
    faces: list[DetectedFace], portrait_box: tuple[int, int, int, int]
) -> tuple[tuple[float, float, float, float], ...]:
    """Where the portrait photo is on the page: around the face found in it (a portrait is about
    twice the face's width and 2.8 times its height, shoulders below), else the reference box."""
    if not faces:
        return (tuple(float(v) for v in portrait_box),)  # type: ignore[return-value]
    fx, fy, fw, fh = faces[0].box[:4]
    cx, cy = portrait_box[0] + fx + fw / 2, portrait_box[1] + fy + fh / 2
    return ((cx - 1.1 * fw, cy - 1.25 * fh, 2.2 * fw, 2.9 * fh),)


def _upright_by_face(bgr: np.ndarray, side: str, engine: FaceEngine) -> tuple[np.ndarray, np.ndarray]:
    """A TD1 front, flattened and turned so that the portrait is on the left.

    Which way up is decided on a half-size warp (the portrait is large enough there); only
    the chosen way is warped at full size.
    """
    found = _gate(bgr, side, ("TD1",))
    chosen = False
    for flip in (False, True):
        small, _ = _warped(bgr, found.quad, "TD1", flip, 0.5)
        faces = engine.detect(small)
        if faces and faces[0].box[0] + faces[0].box[2] / 2 < TD1_W / 4:
            chosen = flip
            break
    return _warped(bgr, found.quad, "TD1", chosen)


def _crop(page: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return page[y : y + h, x : x + w]


def _failed(parsed: mrz.MrzResult) -> set[str]:
    return {where.removeprefix("mrz.") for c, _, where in parsed.reasons if c is Reason.MRZ_CHECK_DIGIT_FAILED}


def _second_chance(zone: ZoneRead, parsed: mrz.MrzResult, today: date) -> tuple[mrz.MrzResult, set[str]]:
    """When check digits fail, try the runner-up glyph in the doubtful cells (at most two swaps).

    The cells tried are the closest calls inside the fields whose check digit failed (the
    whole zone when only the composite did). A swap set is accepted only when exactly one
    makes every check digit and the composite agree: a forged check digit is read
    confidently and stays wrong. Also returns the fields whose failure some swap among
    those close calls would explain: on a blurred photo that is doubt, not proof.
    """
    failed = _failed(parsed)
    if not failed:
        return parsed, set()
    spans = _SPANS[zone.fmt]
    fields = [f for f in failed if f in spans and f != "composite"]
    where = (
        {(spans[f][0], i) for f in fields for i in range(spans[f][1], spans[f][2])}
        if fields
        else {(li, ci) for li, line in enumerate(zone.lines) for ci in range(len(line.cells))}
    )
    guarded = _GUARDED[zone.fmt]
    # An unguarded cell (a check digit, composite-only optional data) may be repaired only when
    # it is unlike its peers; when it was merely read weakly (a blurred photo) its close call
    # can still explain a failure (doubt: review), never repair it.
    cells = sorted(
        (cell.score - cell.second_score, li, ci)
        for li, line in enumerate(zone.lines)
        for ci, cell in enumerate(line.cells)
        if (li, ci) in where
        and cell.second
        and cell.score - cell.second_score < 0.08
        and ((li, ci) in guarded or _unlike_its_peers(zone, li, ci) or cell.score < WEAK_UNGUARDED)
    )
    weakest = cells[:6]
    repairable = [(li, ci) in guarded or _unlike_its_peers(zone, li, ci) for _, li, ci in weakest]
    solutions = []
    explained: set[str] = set()
    for mask in range(1, 1 << len(weakest)):
        if bin(mask).count("1") > 2:
            continue
        texts = [list(t) for t in zone.texts]
        for k, (_, li, ci) in enumerate(weakest):
            if mask >> k & 1:
                texts[li][ci] = zone.lines[li].cells[ci].second
        candidate = mrz.parse(["".join(t) for t in texts], today)
        still = _failed(candidate)
        explained |= failed - still
        if not still:
            solutions.append((mask, candidate))
    if len(solutions) != 1:
        return parsed, explained
    mask, candidate = solutions[0]
    if any(mask >> k & 1 and not repairable[k] for k in range(len(weakest))):
        return parsed, explained
    for k, (_, li, ci) in enumerate(weakest):
        if mask >> k & 1:
            cell = zone.lines[li].cells[ci]
            cell.char, cell.second = cell.second, cell.char
            cell.score, cell.second_score = cell.second_score, cell.score
    return candidate, set()


# The data cells (line, position) that their own field's check digit guards, besides the
# composite. A swap there must satisfy two check digits; elsewhere (a check digit itself,
# optional data that only the composite covers) one check digit confirms nothing.
_GUARDED = {
    "TD3": frozenset(
        {(1, i) for i in range(0, 9)}
        | {(1, i) for i in range(13, 19)}
        | {(1, i) for i in range(21, 27)}
        | {(1, i) for i in range(28, 42)}
    ),
    "TD1": frozenset({(0, i) for i in range(5, 14)} | {(1, i) for i in range(0, 6)} | {(1, i) for i in range(8, 14)}),
}


def _unlike_its_peers(zone: ZoneRead, li: int, ci: int) -> bool:
    """Whether an unguarded cell (a check digit, optional data) was read less surely than the
    zone's other cells that show the same glyph against the same runner-up.

    Some OCR-B glyph pairs are always close calls (3 and 5, 0 and O): that a check digit is
    one of them is no sign that it was misread, and swapping it would turn a forged check
    digit into a valid one. Only a cell whose margin is well below its peers' is doubtful;
    with no peer, only a near tie is.
    """
    cell = zone.lines[li].cells[ci]
    margin = cell.score - cell.second_score
    peers = [
        c.score - c.second_score
        for lj, line in enumerate(zone.lines)
        for cj, c in enumerate(line.cells)
        if (lj, cj) != (li, ci) and c.char == cell.char and c.second == cell.second
    ]
    if not peers:
        return margin < 0.03
    return margin < 0.5 * float(np.median(peers))


# Where each MRZ field sits: (line, start, end) per format.
_SPANS = {
    "TD3": {
        "document_code": (0, 0, 2),
        "issuing_state": (0, 2, 5),
        "surname": (0, 5, 44),
        "given_names": (0, 5, 44),
        "document_number": (1, 0, 10),
        "nationality": (1, 10, 13),
        "birth_date": (1, 13, 20),
        "sex": (1, 20, 21),
        "expiry_date": (1, 21, 28),
        "personal_number": (1, 28, 43),
        "composite": (1, 43, 44),
    },
    "TD1": {
        "document_code": (0, 0, 2),
        "issuing_state": (0, 2, 5),
        "document_number": (0, 5, 15),
        "personal_number": (0, 15, 30),
        "optional_1": (0, 15, 30),
        "birth_date": (1, 0, 7),
        "sex": (1, 7, 8),
        "expiry_date": (1, 8, 15),
        "nationality": (1, 15, 18),
        "optional_2": (1, 18, 29),
        "composite": (1, 29, 30),
        "surname": (2, 0, 30),
        "given_names": (2, 0, 30),
    },
}


def _span_box(zone: ZoneRead, name: str) -> tuple[tuple[float, float, float, float], float]:
    """The field's box in the submitted image and its weakest cell score."""
    li, a, b = _SPANS[zone.fmt][name]
    cells = zone.lines[li].cells[a:b]
    x0 = min(c.box[0] for c in cells)
    y0 = min(c.box[1] for c in cells)
    x1 = max(c.box[0] + c.box[2] for c in cells)
    y1 = max(c.box[1] + c.box[3] for c in cells)
    box = box_to_image((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), zone.inverse)
    return box, min(c.score for c in cells)


def _iso(yymmdd: str, parsed_date: date | None) -> str:
    return parsed_date.isoformat() if parsed_date else yymmdd


def _mrz_fields(
    result: DocumentResult,
    zone: ZoneRead,
    parsed: mrz.MrzResult,
    side: str,
    explained: frozenset[str] | set[str] = frozenset(),
) -> None:
    f = parsed.fields
    values = {
        "document_code": f.get("document_code", ""),
        "issuing_state": f.get("issuing_state", ""),
        "surname": f.get("surname", ""),
        "given_names": f.get("given_names", ""),
        "document_number": f.get("document_number", "").replace("<", ""),
        "nationality": f.get("nationality", ""),
        "birth_date": _iso(f.get("birth_date", ""), parsed.birth_date),
        "sex": f.get("sex", ""),
        "expiry_date": _iso(f.get("expiry_date", ""), parsed.expiry_date),
    }
    if f.get("personal_number"):
        values["personal_number"] = f["personal_number"].replace("<", "")
    if zone.fmt == "TD1":  # the card's optional data (often a personal number), as printed
        values["optional_1"] = f.get("optional_1", "")
        values["optional_2"] = f.get("optional_2", "")
    by_field: dict[str, list[tuple[Reason, str]]] = {}
    for code, message, where in parsed.reasons:
        name = where.removeprefix("mrz.")
        by_field.setdefault(name, []).append((code, message))
    for name, value in values.items():
        box, score = _span_box(zone, name)
        reasons = by_field.pop(name, [])
        if name in ("optional_1", "optional_2"):  # no check digit of their own: the composite covers them
            status = FieldStatus.VALID if parsed.checks.get("composite") else FieldStatus.UNCHECKED
        elif name in parsed.checks:
            status = (
                FieldStatus.INVALID
                if not parsed.checks[name]
                else FieldStatus.CORRECTED
                if name in parsed.corrected
                else FieldStatus.VALID
            )
        else:
            status = FieldStatus.UNCHECKED
        if any(c in (Reason.INVALID_DATE, Reason.DOCUMENT_EXPIRED) for c, _ in reasons):
            status = FieldStatus.INVALID
        reasons = [_doubt(c, m, score, name, name in explained) for c, m in reasons]
        if any(c is Reason.FIELD_UNREADABLE for c, _ in reasons):
            status = FieldStatus.UNREADABLE
        _add(result, DocField(name, value, round(max(score, 0.0), 3), status, box, side, reasons))
    for name, reasons in by_field.items():  # the composite
        score = _span_box(zone, name)[1] if name in _SPANS[zone.fmt] else 1.0
        reasons = [_doubt(c, m, score, name, name in explained) for c, m in reasons]
        for code, message in reasons:
            result.reasons.append((code, message, f"mrz.{name}"))


def _doubt(code: Reason, message: str, score: float, name: str, explained: bool = False) -> tuple[Reason, str]:
    """A failed check digit over a weakly-read cell is doubt (review), not proof of forgery.

    So is one that a runner-up glyph in a close call would explain (`explained`), when no
    single reading makes every check agree.
    """
    if code is Reason.MRZ_CHECK_DIGIT_FAILED and (score < WEAK_CELL or explained):
        return (
            Reason.FIELD_UNREADABLE,
            f"the MRZ {name.replace('_', ' ')} could not be read with confidence; retake the photo in even light",
        )
    return code, message


def _add(result: DocumentResult, f: DocField) -> None:
    result.fields[f.name] = f
    for code, message in f.reasons:
        result.reasons.append((code, message, f.name))


def _norm_name(text: str) -> str:
    return re.sub(r"[^A-Z]", "", text.upper())


def _has_words(text: str, name: str) -> bool:
    """Whether some run of consecutive words of `text` spells `name` (letters only)."""
    words = [_norm_name(w) for w in text.split()]
    return any("".join(words[i:j]) == name for i in range(len(words)) for j in range(i + 1, len(words) + 1))


def parse_viz_date(text: str) -> date | None:
    """`12 AUG 1974` as printed in a visual zone (tolerating OCR noise in the month)."""
    m = re.search(r"(\d{1,2})\s*([A-Z0-9]{3})\s*(\d{4})", text.upper().replace("O", "0").replace(" ", " "))
    if not m:
        return None
    month_text = m.group(2).replace("0", "O")
    month = min(range(12), key=lambda i: edit_distance(_MONTHS[i], month_text))
    if edit_distance(_MONTHS[month], month_text) > 1:
        return None
    try:
        return date(int(m.group(3)), month + 1, int(m.group(1)))
    except ValueError:
        return None


def _judge(name: str, text: str, mrz_value: str, parsed: mrz.MrzResult) -> tuple[str, bool | None]:
    """What the visual zone shows for `name`, and whether it agrees with the MRZ (None: can't tell)."""
    if name in ("birth_date", "expiry_date"):
        printed = parse_viz_date(text)
        shown = printed.isoformat() if printed else text
        if printed is None or not re.fullmatch(r"\d{4}-\d\d-\d\d", mrz_value):
            return shown, None
        return shown, printed.isoformat() == mrz_value
    if name == "document_number":
        shown = re.sub(r"[^A-Z0-9]", "", text.upper())
        a, b = shown.translate(_CANON), mrz_value.translate(_CANON)
        d = edit_distance(a, b)
        if d == 1 and len(a) == len(b) >= 8:
            # One character substituted in a long number is an OCR slip (forged numbers differ
            # in more); the MRZ's number is the one its check digit vouches for.
            return shown, True
        return shown, None if not shown else d == 0 if d != 1 else None
    shown = " ".join(text.upper().split())
    a, b = _norm_name(shown), _norm_name(mrz_value)
    names_line = parsed.lines[2] if parsed.kind == "TD1" else parsed.lines[0]
    if not names_line.endswith("<") and a.startswith(b):  # the MRZ name field was truncated
        a = b
    elif b and a != b and _has_words(shown, b):
        # The name is there as whole words, beside something Tesseract made of other
        # print in the box (the Chinese name beside the Latin one): not a mismatch.
        a = b
    d = edit_distance(a, b)
    return shown, None if not a else True if d == 0 else False if d >= 2 else None


def _sharpened(crop: np.ndarray) -> np.ndarray:
    """A second look at a visual-zone field: upscaled, unsharp-masked, binarised."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    big = cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    sharp = cv2.addWeighted(big, 1.8, cv2.GaussianBlur(big, (0, 0), 2.0), -0.8, 0)
    _, ink = cv2.threshold(sharp, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return ink


def _agreements(viz: Mapping[str, Reading], result: DocumentResult, parsed: mrz.MrzResult) -> int:
    """How many of the compared visual-zone fields agree with the MRZ as read."""
    return sum(
        _judge(name, viz[name].text, result.value(name), parsed)[1] is True for name in VIZ_FIELDS[:5] if name in viz
    )


def _compare_visual(
    result: DocumentResult,
    parsed: mrz.MrzResult,
    viz: Mapping[str, Reading],
    layout: Mapping[str, tuple[int, int, int, int] | None],
    inverse: np.ndarray,
    side: str,
    reread: Callable[[str], tuple[str, float]] | None = None,
    trusted: bool = True,
    mrz_sound: bool = False,
) -> None:
    """The visual zone's surname, given names, number and dates against the MRZ.

    A confident disagreement fails the document only when a second reading of the field
    (`reread`: another preprocessing of the same crop) disagrees confidently too; a single
    OCR slip on a small, blurred photo is doubt (review), not a forgery. On an untrusted
    page geometry (`trusted` False) every disagreement is doubt.

    Policy for what could not be read (issue #15): the printed surname, document number and
    birth date (the holder's identity) must each be read and agree with the MRZ for a PASS,
    since an altered visual zone can only be caught where it is read. When they do, the MRZ
    is sound (`mrz_sound`: every check digit holds, none only by a doubtful reading) and no
    field disagrees, an unreadable given-names or expiry field is reported UNREADABLE (with
    FIELD_UNREADABLE on the field) but does not hold the document back: the check digits
    vouch for the MRZ, which is what the suite keeps. Otherwise unreadable fields send the
    document to review. The nationality is reported, and marked VALID when the printed word
    is the code or one the reader knows for it; it never holds a document back by itself.
    """
    outcomes: dict[str, tuple[DocField, bool | None, bool]] = {}
    for name in VIZ_FIELDS:
        reading = viz.get(name, Reading("", 0.0))
        text, conf = reading.text, reading.confidence
        mrz_value = result.value(name)
        where = layout.get(name)
        box = box_to_image(where, inverse) if where is not None else None
        label = name.replace("_", " ")
        if name == "nationality":
            shown, known = _judge_nationality(text, mrz_value)
            status = FieldStatus.VALID if known else FieldStatus.UNCHECKED
            result.fields[f"viz.{name}"] = DocField(f"viz.{name}", shown, round(conf, 3), status, box, side, [])
            continue
        shown, agree = _judge(name, text, mrz_value, parsed)
        strong = conf >= CONFIDENT
        suspect = agree is False  # a disagreement, confirmed or not
        if agree is False and not trusted:
            agree = None
        if agree is False and strong and reread is not None:
            text2, conf2 = reread(name)
            _, agree2 = _judge(name, text2, mrz_value, parsed)
            if agree2 is not False or conf2 < CONFIDENT:
                agree = None
        reasons: list[tuple[Reason, str]] = []
        if agree is True:
            status = FieldStatus.VALID
        elif agree is False and strong:
            status = FieldStatus.INVALID
            reasons = [(Reason.MRZ_VISUAL_MISMATCH, f"the printed {label} differs from the one in the MRZ")]
        else:
            status = FieldStatus.UNREADABLE
            reasons = [
                (
                    Reason.FIELD_UNREADABLE,
                    f"the printed {label} could not be read with confidence to compare with the MRZ",
                )
            ]
        outcomes[name] = (DocField(f"viz.{name}", shown, round(conf, 3), status, box, side, reasons), agree, suspect)
    identified = all(outcomes[n][1] is True for n in _IDENTITY_FIELDS)
    disputed = any(suspect for _, _, suspect in outcomes.values())
    tolerate = mrz_sound and identified and not disputed
    for name, (f, agree, _) in outcomes.items():
        if tolerate and f.status is FieldStatus.UNREADABLE and name not in _IDENTITY_FIELDS:
            result.fields[f.name] = f  # reported on the field, not a reason for the document
        else:
            _add(result, f)
        if agree is True and name in result.fields and result.fields[name].status is FieldStatus.UNCHECKED:
            result.fields[name].status = FieldStatus.VALID


def _judge_nationality(text: str, code: str) -> tuple[str, bool]:
    """The printed nationality and whether it is the MRZ's code or a word known for it."""
    shown = " ".join(text.upper().split())
    letters = _norm_name(shown)
    if not letters or not code:
        return shown, False
    words = {_norm_name(w) for w in NATIONALITY_WORDS.get(code, ())} | {code}
    return shown, any(letters == w or (len(w) >= 6 and edit_distance(letters, w) <= 1) for w in words)
