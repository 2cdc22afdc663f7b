"""Renders ICAO 9303 documents with their ground truth: TD3 passport data pages and TD1
identity cards (front with portrait and visual zone, back with the 3 x 30 MRZ).

Geometry comes from services/identity/documents/mrz_layout.py (10 px/mm). The MRZ is set
in OCR-B (Debian fonts-ocr-b) at 10 characters per inch; the visual zone in DejaVu Sans,
Chinese names in WenQuanYi Zen Hei. Chinese passports (issuing state CHN) fill the
personal-number field of MRZ line 2, so that line has no `<` filler at all.

Valid documents and deliberately invalid ones (INVALID_KINDS) come from a seed:
- bad_check_digit: one MRZ check digit (a field's or the composite) is wrong;
- expired: every check digit right, the expiry date in the past;
- mismatch: the visual zone disagrees with the MRZ (surname, birth date or number);
- impossible_date: the MRZ birth date is not a calendar date (check digit right).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.identity.documents.mrz import check_digit
from services.identity.documents.mrz_layout import (
    MRZ_LEFT,
    MRZ_LINE_CENTRES,
    PITCH,
    TD1_H,
    TD1_PORTRAIT,
    TD1_VIZ,
    TD1_W,
    TD3_H,
    TD3_PORTRAIT,
    TD3_VIZ,
    TD3_W,
)

OCRB_FONT = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"
SANS_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SANS_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"

INVALID_KINDS = ("bad_check_digit", "expired", "mismatch", "impossible_date")
KINDS = ("passport_td3", "id_card_td1")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

STATES = {  # code: (country name, nationality)
    "UTO": "UTOPIA",
    "D": "BUNDESREPUBLIK DEUTSCHLAND",
    "GBR": "UNITED KINGDOM",
    "FRA": "REPUBLIQUE FRANCAISE",
    "NLD": "KINGDOM OF THE NETHERLANDS",
    "ITA": "REPUBBLICA ITALIANA",
    "ESP": "REINO DE ESPANA",
    "SGP": "REPUBLIC OF SINGAPORE",
    "CAN": "CANADA",
    "USA": "UNITED STATES OF AMERICA",
}
NATIONALITY = {
    "UTO": "UTOPIAN",
    "D": "DEUTSCH",
    "GBR": "BRITISH CITIZEN",
    "FRA": "FRANCAISE",
    "NLD": "NEDERLANDSE",
    "ITA": "ITALIANA",
    "ESP": "ESPANOLA",
    "SGP": "SINGAPORE CITIZEN",
    "CAN": "CANADIAN",
    "USA": "UNITED STATES OF AMERICA",
    "CHN": "CHINESE",
}
LATIN_SURNAMES = (
    "ERIKSSON SMITH MUELLER SCHMIDT DUBOIS MARTIN ROSSI BIANCHI GARCIA LOPEZ JANSEN DE<VRIES "
    "VAN<DER<BERG TAN LIM OCONNOR WILSON TAYLOR BROWN KOWALSKI NOWAK FISCHER WEBER MOREAU "
    "LEROY FERRARI ROMANO SANCHEZ TORRES BAKKER VISSER WALKER YOUNG KING WRIGHT HALL"
).split()
LATIN_GIVEN = (
    "ANNA MARIA JOHN PETER LUCAS EMMA SOPHIE OLIVER JAMES HANNA LEA PAUL MARC CLAIRE GIULIA MARCO "
    "JUAN CARMEN PIETER DAAN WEI MEI NOAH LIAM ZOE ELLA HUGO IRIS MAX KAI"
).split()
CN_SURNAMES = {
    "王": "WANG",
    "李": "LI",
    "张": "ZHANG",
    "刘": "LIU",
    "陈": "CHEN",
    "杨": "YANG",
    "黄": "HUANG",
    "赵": "ZHAO",
    "吴": "WU",
    "周": "ZHOU",
    "徐": "XU",
    "孙": "SUN",
    "马": "MA",
    "朱": "ZHU",
    "胡": "HU",
    "郭": "GUO",
    "林": "LIN",
    "何": "HE",
    "高": "GAO",
    "罗": "LUO",
}
CN_GIVEN = {
    "伟": "WEI",
    "芳": "FANG",
    "娜": "NA",
    "敏": "MIN",
    "静": "JING",
    "丽": "LI",
    "强": "QIANG",
    "磊": "LEI",
    "军": "JUN",
    "洋": "YANG",
    "勇": "YONG",
    "艳": "YAN",
    "杰": "JIE",
    "涛": "TAO",
    "明": "MING",
    "超": "CHAO",
    "霞": "XIA",
    "平": "PING",
    "刚": "GANG",
    "华": "HUA",
    "晓": "XIAO",
    "东": "DONG",
    "宇": "YU",
    "浩": "HAO",
    "欣": "XIN",
    "怡": "YI",
}
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass
class MrzDocument:
    """One generated document: what is printed, the MRZ lines, and the truth to score against."""

    kind: str  # passport_td3 / id_card_td1
    document_code: str
    issuing_state: str
    surname: str  # as in the MRZ, spaces between parts
    given_names: str
    document_number: str
    nationality: str
    birth: date | None  # None for impossible_date
    sex: str  # M / F / X
    issue: date
    expiry: date
    personal_number: str
    mrz_lines: list[str]
    portrait: np.ndarray | None
    cjk_name: str = ""
    invalid: str | None = None
    viz: dict[str, str] = field(default_factory=dict)  # printed visual-zone text per field
    truth: dict[str, str] = field(default_factory=dict)  # MRZ fields as the reader should return them


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@cache
def _mrz_font(height_px: int) -> ImageFont.FreeTypeFont:
    """OCR-B at the size whose cap height is `height_px`."""
    size = height_px
    for _ in range(4):
        font = _font(OCRB_FONT, size)
        top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
        size = max(8, round(size * height_px / max(bottom - top, 1)))
    return _font(OCRB_FONT, size)


def viz_date(d: date) -> str:
    """How the visual zone prints a date: 12 AUG 1974."""
    return f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}"


def _mrz_name(surname: str, given: str, width: int) -> str:
    text = surname.replace(" ", "<") + "<<" + given.replace(" ", "<")
    return (text + "<" * width)[:width]


def _yymmdd(d: date) -> str:
    return f"{d:%y%m%d}"


def _td3_lines(doc: MrzDocument, birth: str, expiry: str) -> list[str]:
    number = (doc.document_number + "<" * 9)[:9]
    personal = (doc.personal_number + "<" * 14)[:14]
    personal_cd = check_digit(personal) if doc.personal_number else "<"
    code = (doc.document_code + "<<")[:2]
    state = (doc.issuing_state + "<<<")[:3]
    nat = (doc.nationality + "<<<")[:3]
    line1 = code + state + _mrz_name(doc.surname, doc.given_names, 39)
    body = number + check_digit(number) + nat + birth + check_digit(birth) + doc.sex.replace("X", "<")
    body += expiry + check_digit(expiry) + personal + personal_cd
    composite = body[0:10] + body[13:20] + body[21:43]
    return [line1, body + check_digit(composite)]


def _td1_lines(doc: MrzDocument, birth: str, expiry: str) -> list[str]:
    number = (doc.document_number + "<" * 9)[:9]
    code = (doc.document_code + "<<")[:2]
    state = (doc.issuing_state + "<<<")[:3]
    nat = (doc.nationality + "<<<")[:3]
    opt1, opt2 = doc.personal_number or _td1_optional(doc)[0], _td1_optional(doc)[1]
    optional1 = (opt1 + "<" * 15)[:15]
    line1 = code + state + number + check_digit(number) + optional1
    line2 = birth + check_digit(birth) + doc.sex.replace("X", "<") + expiry + check_digit(expiry) + nat
    line2 += (opt2 + "<" * 11)[:11]
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += check_digit(composite)
    return [line1, line2, _mrz_name(doc.surname, doc.given_names, 30)]


def _td1_optional(doc: MrzDocument) -> tuple[str, str]:
    """Optional data of a TD1 card, drawn from the document number (not the seed's random
    stream, so the documents of every seed stay the same elsewhere): on about half the cards
    a personal number in line 1, on about a third more data in line 2."""
    digest = hashlib.sha256(doc.document_number.encode()).hexdigest().upper()
    digits = "".join(str(int(c, 16) % 10) for c in digest)
    first = digits[: 6 + int(digest[0], 16) % 8] if int(digest[1], 16) < 8 else ""
    second = (digest[2:4] + "<" + digits[10:15]) if int(digest[5], 16) < 5 else ""
    return first, second


def _spoil_check_digit(lines: list[str], kind: str, rng: random.Random) -> list[str]:
    """Change one check digit so that no single OCR confusion could explain it."""
    if kind == "passport_td3":
        positions = [(1, 9), (1, 19), (1, 27), (1, 43)]
    else:
        positions = [(0, 14), (1, 6), (1, 14), (1, 29)]
    li, pos = rng.choice(positions)
    line = lines[li]
    old = line[pos]
    new = rng.choice([d for d in "0123456789" if d != old and abs(int(d) - int(old if old.isdigit() else 0)) >= 2])
    lines = list(lines)
    lines[li] = line[:pos] + new + line[pos + 1 :]
    return lines


def random_document(
    rng: random.Random,
    today: date,
    kind: str = "passport_td3",
    portrait: np.ndarray | None = None,
    invalid: str | None = None,
    chinese: bool | None = None,
) -> MrzDocument:
    """A random TD3 passport or TD1 card; `invalid` names one defect from INVALID_KINDS."""
    if chinese is None:
        chinese = kind == "passport_td3" and rng.random() < 0.4
    sex = rng.choice("MF")
    birth = date(1945, 1, 1) + timedelta(days=rng.randrange(0, 365 * 62))
    issue = today - timedelta(days=rng.randrange(20, 365 * 9))
    expiry = issue.replace(day=min(issue.day, 28)) + timedelta(days=365 * 10 + 2)
    if expiry <= today:
        expiry = today + timedelta(days=rng.randrange(30, 900))
    cjk_name = ""
    if chinese:
        state = "CHN"
        sur_cjk = rng.choice(list(CN_SURNAMES))
        given_cjk = "".join(rng.choice(list(CN_GIVEN)) for _ in range(rng.choice([1, 2, 2])))
        surname, given = CN_SURNAMES[sur_cjk], "".join(CN_GIVEN[c] for c in given_cjk)
        cjk_name = sur_cjk + given_cjk
        number = rng.choice("EG") + "".join(rng.choice("0123456789") for _ in range(8))
        # The personal-number field is filled to the last character (no `<` on line 2).
        personal = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(10)) + "".join(
            rng.choice("0123456789") for _ in range(4)
        )
        code = "PE" if kind == "passport_td3" else "ID"
    else:
        state = rng.choice(list(STATES))
        surname = rng.choice(LATIN_SURNAMES).replace("<", " ")
        given = " ".join(rng.sample(LATIN_GIVEN, rng.choice([1, 1, 2])))
        length = rng.choice([8, 9, 9, 9])
        number = "".join(rng.choice(_ALNUM) for _ in range(length))
        personal = (
            ""
            if rng.random() < 0.6 or kind == "id_card_td1"
            else "".join(rng.choice("0123456789") for _ in range(rng.randrange(6, 12)))
        )
        code = ("P" if rng.random() < 0.7 else "PP") if kind == "passport_td3" else rng.choice(["I", "ID", "AC"])
    if invalid == "expired":
        expiry = today - timedelta(days=rng.randrange(1, 2000))
        issue = expiry - timedelta(days=365 * 10)
    doc = MrzDocument(
        kind, code, state, surname, given, number, state, birth, sex, issue, expiry, personal, [], portrait, cjk_name
    )
    doc.invalid = invalid
    birth_text = _yymmdd(birth)
    if invalid == "impossible_date":
        birth_text = (
            f"{birth:%y}{rng.choice(['02', '04', '06', '09', '11'])}31"
            if rng.random() < 0.5
            else (f"{birth:%y}{rng.choice(['13', '14', '00'])}{birth:%d}")
        )
        doc.birth = None
    lines = (_td3_lines if kind == "passport_td3" else _td1_lines)(doc, birth_text, _yymmdd(expiry))
    if invalid == "bad_check_digit":
        lines = _spoil_check_digit(lines, kind, rng)
    doc.mrz_lines = lines
    doc.viz = {
        "document_code": code,
        "issuing_state": state,
        "document_number": number,
        "surname": surname,
        "given_names": given,
        "nationality": NATIONALITY.get(state, STATES.get(state, state)),
        "birth_date": viz_date(birth) if doc.birth else f"{birth_text[4:6]} ??? 19{birth_text[:2]}",
        "sex": sex,
        "issue_date": viz_date(issue),
        "expiry_date": viz_date(expiry),
    }
    if invalid == "mismatch":
        what = rng.choice(["surname", "birth_date", "document_number"])
        if what == "surname":
            pool = list(CN_SURNAMES.values()) if chinese else [s.replace("<", " ") for s in LATIN_SURNAMES]
            doc.viz["surname"] = rng.choice([s for s in pool if s != surname and abs(len(s) - len(surname)) >= 0])
        elif what == "birth_date":
            doc.viz["birth_date"] = viz_date(birth + timedelta(days=rng.choice([-3650, -400, 366, 730, 41])))
        else:
            chars = list(number)
            for i in rng.sample(range(1, len(chars)), 2):
                chars[i] = rng.choice([c for c in "0123456789" if c != chars[i] and c not in "0158"])
            doc.viz["document_number"] = "".join(chars)
        doc.truth["mismatch_field"] = what
    doc.truth.update(
        {
            "document_code": code,
            "issuing_state": state,
            "surname": surname,
            "given_names": given,
            "document_number": number,
            "nationality": state,
            "birth_date": birth_text,
            "sex": sex,
            "expiry_date": _yymmdd(expiry),
        }
    )
    return doc


def _background(rng: random.Random, w: int, h: int, mrz_top: int) -> Image.Image:
    """A light guilloche-like security print; the MRZ band stays plain (ICAO asks for it)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    tint = np.array([rng.uniform(225, 245), rng.uniform(232, 248), rng.uniform(238, 252)], np.float32)
    waves = 6 * np.sin(x / 17.0 + 3 * np.sin(y / 41.0) + rng.random() * 6) * np.cos(y / 29.0)
    img = tint[None, None, :] + waves[:, :, None] - np.float32(8) * (x / w)[:, :, None]
    img[mrz_top:] = tint[None, None, :] + 4
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


LABEL = (70, 70, 110)
INK = (25, 25, 30)


def _draw_mrz(d: ImageDraw.ImageDraw, lines: list[str], fmt: str) -> None:
    font = _mrz_font(24)
    cap_top, cap_bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    for line, centre in zip(lines, MRZ_LINE_CENTRES[fmt], strict=True):
        for i, ch in enumerate(line):
            # Each character centred in its 2.54 mm cell: OCR-B is monospaced, but the
            # cell pitch must be exact for a reader that works by position.
            adv = font.getlength(ch)
            x = MRZ_LEFT[fmt] + i * PITCH + (PITCH - adv) / 2
            d.text((x, centre - (cap_top + cap_bottom) / 2), ch, font=font, fill=INK)


def _portrait(arr: np.ndarray, portrait: np.ndarray | None, box: tuple[int, int, int, int]) -> None:
    if portrait is None:
        return
    x, y, w, h = box
    arr[y : y + h, x : x + w] = cv2.resize(portrait, (w, h), interpolation=cv2.INTER_CUBIC)


def _field(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], label: str, value: str, size: int) -> None:
    x, y, _, h = box
    d.text((x, y - 22), label, font=_font(SANS_FONT, 17), fill=LABEL)
    font = _font(SANS_FONT, size)
    top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    d.text((x + 4, y + h / 2 - (top + bottom) / 2), value, font=font, fill=INK)


def render_td3(doc: MrzDocument, rng: random.Random) -> np.ndarray:
    """The passport data page (1250 x 880 BGR)."""
    img = _background(rng, TD3_W, TD3_H, 670)
    d = ImageDraw.Draw(img)
    chinese = doc.issuing_state == "CHN"
    title = "中华人民共和国  护照" if chinese else STATES.get(doc.issuing_state, "UTOPIA")
    d.text((400, 40), title, font=_font(CJK_FONT if chinese else SANS_BOLD, 34), fill=(60, 40, 110))
    d.text((400, 88), "PASSPORT / PASSEPORT", font=_font(SANS_FONT, 20), fill=LABEL)
    v, labels = (
        doc.viz,
        {
            "document_code": "Type",
            "issuing_state": "Code",
            "document_number": "Passport No.",
            "surname": "Surname",
            "given_names": "Given names",
            "nationality": "Nationality",
            "birth_date": "Date of birth",
            "sex": "Sex",
            "issue_date": "Date of issue",
            "expiry_date": "Date of expiry",
        },
    )
    for name, box in TD3_VIZ.items():
        label = ("姓/" if name == "surname" else "名/" if name == "given_names" else "") + labels[name]
        d.text((box[0], box[1] - 22), label, font=_font(CJK_FONT, 17), fill=LABEL)
        _field(d, box, "", v[name], 30)
    if doc.cjk_name:
        d.text((900, 228), doc.cjk_name[0], font=_font(CJK_FONT, 36), fill=INK)
        d.text((900, 310), doc.cjk_name[1:], font=_font(CJK_FONT, 36), fill=INK)
    d.text((1000, 390), "Authority", font=_font(SANS_FONT, 17), fill=LABEL)
    d.text((1000, 412), "MPS" if chinese else "HOME OFFICE", font=_font(SANS_FONT, 22), fill=INK)
    _draw_mrz(d, doc.mrz_lines, "TD3")
    arr = np.array(img)[:, :, ::-1].copy()
    _portrait(arr, doc.portrait, TD3_PORTRAIT)
    return arr


def render_td1_front(doc: MrzDocument, rng: random.Random) -> np.ndarray:
    """The card's front: portrait and visual zone (856 x 540 BGR)."""
    img = _background(rng, TD1_W, TD1_H, TD1_H)
    d = ImageDraw.Draw(img)
    d.text((36, 28), STATES.get(doc.issuing_state, "IDENTITY CARD"), font=_font(SANS_BOLD, 26), fill=(60, 40, 110))
    d.text((36, 64), "IDENTITY CARD / CARTE D'IDENTITE", font=_font(SANS_FONT, 18), fill=LABEL)
    v, labels = (
        doc.viz,
        {
            "surname": "Surname",
            "given_names": "Given names",
            "sex": "Sex",
            "nationality": "Nationality",
            "birth_date": "Date of birth",
            "document_number": "Document No.",
            "expiry_date": "Date of expiry",
        },
    )
    for name, box in TD1_VIZ.items():
        _field(d, box, labels[name], v[name] if name != "nationality" else doc.issuing_state, 26)
    arr = np.array(img)[:, :, ::-1].copy()
    _portrait(arr, doc.portrait, TD1_PORTRAIT)
    return arr


def render_td1_back(doc: MrzDocument, rng: random.Random) -> np.ndarray:
    """The card's back: issue data on top, the 3 x 30 MRZ at the bottom (856 x 540 BGR)."""
    img = _background(rng, TD1_W, TD1_H, 355)
    d = ImageDraw.Draw(img)
    d.text((40, 40), "Date of issue", font=_font(SANS_FONT, 17), fill=LABEL)
    d.text((40, 62), viz_date(doc.issue), font=_font(SANS_FONT, 24), fill=INK)
    d.text((40, 120), "Authority", font=_font(SANS_FONT, 17), fill=LABEL)
    d.text(
        (40, 142), "CITY OF " + rng.choice(["ZENITH", "ARCADIA", "EDEN", "AVALON"]), font=_font(SANS_FONT, 24), fill=INK
    )
    d.rectangle((600, 40, 810, 250), outline=(120, 120, 160), width=3)  # stands in for a hologram / chip
    _draw_mrz(d, doc.mrz_lines, "TD1")
    return np.array(img)[:, :, ::-1].copy()


def render(doc: MrzDocument, rng: random.Random) -> tuple[np.ndarray, np.ndarray | None]:
    """(front, back): the data page and None for a passport; front and back for a TD1 card."""
    if doc.kind == "passport_td3":
        return render_td3(doc, rng), None
    return render_td1_front(doc, rng), render_td1_back(doc, rng)


# --- Further print runs (issue #15): the same documents in other layouts ---------------------
# Coordinates, label wording, fonts and colours of these layouts are this generator's own: the
# reader does not know them (it finds fields by their printed labels). LAYOUTS are tuned on;
# HELD_OUT_LAYOUT is not: report it apart.

SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
SERIF_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"
LIB_SANS = "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"
LIB_BOLD = "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"
NARROW = "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf"
CONDENSED = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf"
CONDENSED_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"

LAYOUTS = ("reference", "bilingual")
HELD_OUT_LAYOUT = "numbered"
ALL_LAYOUTS = (*LAYOUTS, HELD_OUT_LAYOUT)


@dataclass(frozen=True)
class _Spec:
    """One print run: where each field's value goes, its label, and the type."""

    portrait: tuple[int, int, int, int]
    boxes: dict[str, tuple[int, int]]  # field -> (x, y) of the value's top-left
    labels: dict[str, str]
    value_font: str
    value_size: int
    label_font: str
    label_size: int
    label_gap: int  # px from the label's top to the value's top
    uppercase_labels: bool = False


_TD3_SPECS = {
    "bilingual": _Spec(
        portrait=(60, 175, 300, 390),
        boxes={
            "document_code": (400, 160),
            "issuing_state": (520, 160),
            "document_number": (760, 160),
            "surname": (400, 232),
            "given_names": (400, 304),
            "nationality": (400, 376),
            "birth_date": (400, 448),
            "sex": (720, 448),
            "place_of_birth": (860, 448),
            "issue_date": (400, 520),
            "authority": (760, 520),
            "expiry_date": (400, 592),
        },
        labels={
            "document_code": "Type/Type",
            "issuing_state": "Code/Code",
            "document_number": "Passport No./No. du passeport",
            "surname": "Surname/Nom",
            "given_names": "Given names/Prénoms",
            "nationality": "Nationality/Nationalité",
            "birth_date": "Date of birth/Date de naissance",
            "sex": "Sex/Sexe",
            "place_of_birth": "Place of birth/Lieu de naissance",
            "issue_date": "Date of issue/Date de délivrance",
            "authority": "Authority/Autorité",
            "expiry_date": "Date of expiry/Date d'expiration",
        },
        value_font=LIB_BOLD,
        value_size=27,
        label_font=CONDENSED,
        label_size=15,
        label_gap=21,
    ),
    "numbered": _Spec(  # held out
        portrait=(50, 140, 320, 420),
        boxes={
            "document_code": (410, 150),
            "issuing_state": (560, 150),
            "document_number": (820, 150),
            "surname": (410, 222),
            "given_names": (410, 294),
            "nationality": (410, 366),
            "birth_date": (410, 438),
            "sex": (800, 438),
            "place_of_birth": (930, 438),
            "issue_date": (410, 510),
            "expiry_date": (800, 510),
            "authority": (410, 582),
        },
        labels={
            "document_code": "Type",
            "issuing_state": "Code of issuing State",
            "document_number": "Passport No.",
            "surname": "1. Surname",
            "given_names": "2. Given names",
            "nationality": "3. Nationality",
            "birth_date": "4. Date of birth",
            "sex": "5. Sex",
            "place_of_birth": "6. Place of birth",
            "issue_date": "7. Date of issue",
            "expiry_date": "8. Date of expiry",
            "authority": "9. Authority",
        },
        value_font=SERIF,
        value_size=26,
        label_font=NARROW,
        label_size=16,
        label_gap=22,
        uppercase_labels=True,
    ),
}
_TD1_SPECS = {
    "bilingual": _Spec(
        portrait=(30, 100, 240, 310),
        boxes={
            "surname": (300, 122),
            "given_names": (300, 182),
            "sex": (300, 242),
            "nationality": (400, 242),
            "birth_date": (560, 242),
            "document_number": (300, 302),
            "expiry_date": (560, 302),
        },
        labels={
            "surname": "Surname/Nom",
            "given_names": "Given names/Prénoms",
            "sex": "Sex/Sexe",
            "nationality": "Nationality",
            "birth_date": "Date of birth",
            "document_number": "Document No./No. du document",
            "expiry_date": "Date of expiry",
        },
        value_font=LIB_BOLD,
        value_size=24,
        label_font=CONDENSED,
        label_size=14,
        label_gap=19,
    ),
    "numbered": _Spec(  # held out
        portrait=(40, 120, 220, 290),
        boxes={
            "surname": (290, 120),
            "given_names": (290, 180),
            "birth_date": (290, 240),
            "sex": (560, 240),
            "nationality": (660, 240),
            "document_number": (290, 300),
            "expiry_date": (560, 300),
        },
        labels={
            "surname": "1. Surname",
            "given_names": "2. Given names",
            "birth_date": "3. Date of birth",
            "sex": "4. Sex",
            "nationality": "5. Nationality",
            "document_number": "6. Card No.",
            "expiry_date": "7. Date of expiry",
        },
        value_font=SERIF,
        value_size=23,
        label_font=NARROW,
        label_size=15,
        label_gap=20,
        uppercase_labels=True,
    ),
}
_INKS = ((25, 25, 30), (20, 30, 70), (50, 30, 20), (10, 10, 10))
_LABEL_INKS = ((70, 70, 110), (90, 60, 60), (40, 80, 90), (100, 100, 100))


def _background_b(rng: random.Random, w: int, h: int, mrz_top: int) -> Image.Image:
    """Another security print: concentric rosettes and a diagonal line screen in two tints."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.array([rng.uniform(220, 245), rng.uniform(225, 248), rng.uniform(215, 240)], np.float32)
    b = np.array([rng.uniform(230, 250), rng.uniform(215, 240), rng.uniform(225, 250)], np.float32)
    cx, cy = rng.uniform(0.3, 0.8) * w, rng.uniform(0.2, 0.6) * h
    r = np.hypot(x - cx, y - cy)
    rosette = np.sin(r / rng.uniform(5, 9) + 2.5 * np.sin(np.arctan2(y - cy, x - cx) * rng.choice([6, 8, 12])))
    screen = np.sin((x + y) / rng.uniform(3, 6))
    mix = (x / w)[:, :, None]
    img = a * (1 - mix) + b * mix + (5 * rosette + 2 * screen)[:, :, None]
    img[mrz_top:] = (a + b)[None, None, :] / 2 + 3
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _render_spec(
    doc: MrzDocument, rng: random.Random, spec: _Spec, size: tuple[int, int], mrz_top: int | None, title: str
) -> np.ndarray:
    w, h = size
    img = _background_b(rng, w, h, mrz_top if mrz_top is not None else h)
    d = ImageDraw.Draw(img)
    ink, label_ink = rng.choice(_INKS), rng.choice(_LABEL_INKS)
    title_font = _font(SERIF_BOLD, 30 if mrz_top else 22)
    d.text((spec.boxes[next(iter(spec.boxes))][0], 30 if mrz_top else 24), title, font=title_font, fill=ink)
    values = dict(doc.viz)
    values.setdefault("place_of_birth", rng.choice(["ZENITH", "ARCADIA", "EDEN", "AVALON", "ATLANTIS"]))
    values.setdefault("authority", rng.choice(["HOME OFFICE", "MINISTRY OF INTERIOR", "CITY HALL"]))
    if doc.kind == "id_card_td1":
        values["nationality"] = doc.issuing_state
    value_font = _font(spec.value_font, spec.value_size)
    label_font = _font(spec.label_font, spec.label_size)
    for name, (x, y) in spec.boxes.items():
        label = spec.labels[name].upper() if spec.uppercase_labels else spec.labels[name]
        d.text((x, y - spec.label_gap), label, font=label_font, fill=label_ink)
        d.text((x, y), values.get(name, ""), font=value_font, fill=ink)
    if doc.cjk_name and "surname" in spec.boxes:
        sx, sy = spec.boxes["surname"]
        offset = int(value_font.getlength(values["surname"])) + 40
        d.text((sx + offset, sy - 6), doc.cjk_name, font=_font(CJK_FONT, 32), fill=ink)
    if mrz_top is not None:
        _draw_mrz(d, doc.mrz_lines, "TD3")
    arr = np.array(img)[:, :, ::-1].copy()
    _portrait(arr, doc.portrait, spec.portrait)
    return arr


def render_layout(doc: MrzDocument, rng: random.Random, layout: str) -> tuple[np.ndarray, np.ndarray | None]:
    """`render` in one of ALL_LAYOUTS ("reference" is `render` itself)."""
    if layout == "reference":
        return render(doc, rng)
    if layout not in ALL_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; one of {ALL_LAYOUTS}")
    if doc.kind == "passport_td3":
        title = "PEOPLE'S REPUBLIC OF CHINA" if doc.issuing_state == "CHN" else STATES.get(doc.issuing_state, "UTOPIA")
        page = _render_spec(doc, rng, _TD3_SPECS[layout], (TD3_W, TD3_H), 670, title)
        return page, None
    front = _render_spec(
        doc, rng, _TD1_SPECS[layout], (TD1_W, TD1_H), None, STATES.get(doc.issuing_state, "IDENTITY CARD")
    )
    return front, render_td1_back(doc, rng)
