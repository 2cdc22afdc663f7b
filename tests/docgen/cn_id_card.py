"""Renders Chinese resident ID cards (front and back) with their ground truth.

Layout on a canonical 856x540 canvas (85.6 x 54 mm at 10 px/mm), following the real
card's arrangement: labels and values on the left of the front, portrait on the right,
citizen number along the bottom in an OCR-B-like face; title, issuing authority and
validity period on the back. Fonts come from Debian packages (fonts-wqy-zenhei,
fonts-ocr-b). Valid cards and deliberately invalid ones are produced from a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.identity.documents import cn_id
from services.identity.documents.cn_layout import CARD_H, CARD_W, PORTRAIT

PORTRAIT_BOX = PORTRAIT
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
OCRB_FONT = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕建国建华志强"
    "海燕文斌晓东晓明丹宇浩然思远梓涵子轩欣怡一鸣雨桐"
)
ETHNICITIES = ["汉"] * 12 + ["回", "满", "壮", "苗", "维吾尔", "蒙古", "土家", "藏", "彝", "朝鲜"]
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平街", "长江路", "新华路", "幸福路", "朝阳路", "文化路", "光明街"]
AUTHORITIES = ["公安局", "公安分局"]

INVALID_KINDS = ("bad_check_char", "unknown_region", "birth_mismatch", "sex_mismatch", "expired")


@dataclass
class IdCard:
    name: str
    sex: str  # 男 / 女
    ethnicity: str
    birth: date
    address: str
    number: str
    authority: str
    valid_from: date
    valid_until: date | None  # None = 长期
    portrait: np.ndarray | None
    invalid: str | None = None  # which defect, for invalid cards
    truth: dict[str, str] = field(default_factory=dict)


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@cache
def _region_codes() -> list[tuple[str, str]]:
    # County-level codes with a single current name (not the xx0000 / xxxx00 aggregates).
    out = []
    for code, names in cn_id.regions().items():
        if not code.endswith("00") and "|" not in names and "市辖区" not in names:
            out.append((code, names))
    return sorted(out)


def _province_city(code: str) -> str:
    regions = cn_id.regions()
    prov = regions.get(code[:2] + "0000", "").split("|")[0]
    city = regions.get(code[:4] + "00", "").split("|")[0]
    if city in ("", "市辖区", "县") or city == prov:
        city = ""
    return prov + city


def _years_after(d: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def random_card(
    rng: random.Random, today: date, portrait: np.ndarray | None = None, invalid: str | None = None
) -> IdCard:
    """A random card; `invalid` names one defect from INVALID_KINDS."""
    code, district = rng.choice(_region_codes())
    sex = rng.choice("男女")
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    seq = rng.randrange(0, 100)
    sex_digit = rng.choice("13579") if sex == "男" else rng.choice("02468")
    first17 = f"{code}{birth:%Y%m%d}{seq:02d}{sex_digit}"
    number = first17 + cn_id.check_char(first17)
    printed_birth, printed_sex = birth, sex
    valid_from = today - timedelta(days=rng.randrange(30, 365 * 9))
    age = (valid_from - birth).days // 365
    years = 5 if age < 16 else 10 if age < 26 else 20 if age < 46 else None
    valid_until = _years_after(valid_from, years) if years else None
    if valid_until is not None and valid_until <= today:
        valid_until = _years_after(valid_from, 20)
    if invalid == "bad_check_char":
        number = first17 + rng.choice([c for c in cn_id.CHECK_CHARS if c != number[17]])
    elif invalid == "unknown_region":
        bad = f"99{code[2:]}{birth:%Y%m%d}{seq:02d}{sex_digit}"
        number = bad + cn_id.check_char(bad)
    elif invalid == "birth_mismatch":
        printed_birth = birth + timedelta(days=rng.choice([-400, -31, 1, 45, 700]))
    elif invalid == "sex_mismatch":
        printed_sex = "女" if sex == "男" else "男"
    elif invalid == "expired":
        valid_from = today - timedelta(days=365 * 10 + rng.randrange(10, 300))
        valid_until = _years_after(valid_from, 10)
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
    address = f"{_province_city(code)}{district}{rng.choice(STREETS)}{rng.randrange(1, 999)}号"
    if rng.random() < 0.5:
        address += f"{rng.randrange(1, 30)}栋{rng.randrange(101, 2999)}室"
    authority = (
        f"{_province_city(code)[-3:] if len(_province_city(code)) >= 3 else ''}{district}{rng.choice(AUTHORITIES)}"
    )
    card = IdCard(
        name,
        printed_sex,
        rng.choice(ETHNICITIES),
        printed_birth,
        address,
        number,
        authority,
        valid_from,
        valid_until,
        portrait,
        invalid,
    )
    card.truth = {
        "name": name,
        "sex": printed_sex,
        "ethnicity": card.ethnicity,
        "birth_date": printed_birth.isoformat(),
        "address": address,
        "citizen_number": number,
        "issuing_authority": authority,
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat() if valid_until else "长期",
    }
    return card


def _background(rng: random.Random) -> Image.Image:
    y, x = np.mgrid[0:CARD_H, 0:CARD_W].astype(np.float32)
    base = np.stack([236 - 10 * x / CARD_W, 242 - 6 * y / CARD_H, 246 + 0 * x], axis=2)
    waves = 5 * np.sin(x / 23.0 + rng.random() * 6) * np.cos(y / 31.0)
    img = np.clip(base + waves[:, :, None], 0, 255).astype(np.uint8)
    return Image.fromarray(img)


def _wrap(text: str, per_line: int) -> list[str]:
    return [text[i : i + per_line] for i in range(0, len(text), per_line)]


LABEL = (40, 90, 140)
INK = (20, 20, 20)


def render_front(card: IdCard, rng: random.Random) -> np.ndarray:
    img = _background(rng)
    d = ImageDraw.Draw(img)
    lab, val = _font(CJK_FONT, 24), _font(CJK_FONT, 32)
    d.text((55, 48), "姓 名", font=lab, fill=LABEL)
    d.text((150, 42), card.name, font=val, fill=INK)
    d.text((55, 112), "性 别", font=lab, fill=LABEL)
    d.text((150, 106), card.sex, font=val, fill=INK)
    d.text((255, 112), "民 族", font=lab, fill=LABEL)
    d.text((345, 106), card.ethnicity, font=val, fill=INK)
    d.text((55, 176), "出 生", font=lab, fill=LABEL)
    d.text((150, 170), f"{card.birth.year}", font=val, fill=INK)
    d.text((238, 176), "年", font=lab, fill=LABEL)
    d.text((285, 170), f"{card.birth.month}", font=val, fill=INK)
    d.text((330, 176), "月", font=lab, fill=LABEL)
    d.text((375, 170), f"{card.birth.day}", font=val, fill=INK)
    d.text((420, 176), "日", font=lab, fill=LABEL)
    d.text((55, 240), "住 址", font=lab, fill=LABEL)
    for i, line in enumerate(_wrap(card.address, 11)[:3]):
        d.text((150, 234 + 44 * i), line, font=val, fill=INK)
    d.text((55, 455), "公民身份号码", font=lab, fill=LABEL)
    d.text((260, 446), card.number, font=_font(OCRB_FONT, 38), fill=INK)
    arr = np.array(img)[:, :, ::-1].copy()
    if card.portrait is not None:
        portrait = cv2.resize(card.portrait, (PORTRAIT_BOX[2], PORTRAIT_BOX[3]), interpolation=cv2.INTER_AREA)
        x, y, w, h = PORTRAIT_BOX
        arr[y : y + h, x : x + w] = portrait
    return arr


def render_back(card: IdCard, rng: random.Random) -> np.ndarray:
    img = _background(rng)
    d = ImageDraw.Draw(img)
    d.ellipse((60, 45, 190, 175), outline=(40, 40, 160), width=6)  # stands in for the national emblem
    d.text((260, 70), "中华人民共和国", font=_font(CJK_FONT, 52), fill=INK)
    d.text((300, 175), "居民身份证", font=_font(CJK_FONT, 60), fill=INK)
    lab, val = _font(CJK_FONT, 24), _font(CJK_FONT, 30)
    d.text((170, 385), "签发机关", font=lab, fill=INK)
    d.text((300, 379), card.authority, font=val, fill=INK)
    d.text((170, 450), "有效期限", font=lab, fill=INK)
    until = f"{card.valid_until:%Y.%m.%d}" if card.valid_until else "长期"
    d.text((300, 444), f"{card.valid_from:%Y.%m.%d}-{until}", font=val, fill=INK)
    return np.array(img)[:, :, ::-1].copy()


def save(path: Path, bgr: np.ndarray, quality: int = 92) -> None:
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
