"""Renders Chinese business licences (营业执照) with their ground truth.

Layout on the canonical 1200x850 canvas of services/identity/documents/licence_layout.py,
after the 2019 national layout: a patterned double frame, the red national emblem (a red
disc with a star stands in for it) above the title 营业执照, the unified social credit
code top left, a QR-code-like square top right, two columns of labelled fields (名称,
类型, 法定代表人, 经营范围 | 注册资本, 成立日期, 营业期限, 住所), and the registration
authority with the issue date under a red seal. Fonts from Debian (fonts-wqy-zenhei,
fonts-noto-cjk).

Other layouts (LAYOUTS, rendered on their own canvases, labels and values where that
print run puts them, so a reader cannot lean on one template's coordinates):
- "horizontal": the 2019 landscape licence above (the default, with the QR code);
- "vertical": the 2019 portrait copy: one column of fields, the code on one line with its
  label, the QR code beside the title;
- "duplicate": the 副本 (duplicate copy), landscape A4: "（副本）" and a copy number,
  labels followed by a colon, one column, the QR code top left;
- "individual": 个体工商户 (individual business): 经营者 instead of 法定代表人, 组成形式, no
  注册资本, 注册日期 and 经营场所 instead of 成立日期 and 住所;
- HELD_OUT ("heldout"): a pre-2019 三证合一 print (serif values in blue-black ink, the code
  top right, 经营范围 boxed on the right) that the reader is never tuned on.
Fonts and ink colours vary per licence (Debian fonts only).

Credit codes follow GB 32100-2015: registration-authority code 9 (market regulation),
type 1 (enterprise), a current county code from the GB/T 2260 table, a GB 11714
organisation code (8 characters + its own check character), and the GB 32100 check
character. Invalid licences carry one defect from INVALID_KINDS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.identity.documents import uscc
from services.identity.documents.licence_layout import EMBLEM, FIELDS, LIC_H, LIC_W, QR, TITLE
from tests.docgen.cn_id_card import GIVEN, STREETS, SURNAMES, _province_city, _region_codes

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
TITLE_FONT = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"
CODE_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

INVALID_KINDS = ("bad_check_char", "malformed", "impossible_date")
LAYOUTS = ("horizontal", "vertical", "duplicate", "individual")
HELD_OUT = "heldout"  # never tuned on: bench/ocr_licence.py reports it separately
ILLEGAL = "IOZSV"

TRADE_NAMES = (
    "星禾 华兴 博远 鑫达 恒信 瑞丰 嘉诚 天宇 新锐 联创 海纳 晨光 金桥 宏图 盛世 汇通 致远 卓越 "
    "青禾 云帆 德润 合众 东升 明泰 骏驰 锦程 优品 乐购 欣悦 永和"
).split()
INDUSTRIES = ("科技", "网络科技", "电子商务", "贸易", "服饰", "食品", "家居用品", "信息技术", "文化传媒", "电子")
TYPES = (
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "有限责任公司（法人独资）",
    "股份有限公司（非上市）",
    "个人独资企业",
)
CAPITAL_WORDS = ("壹佰万元整", "伍拾万元整", "叁佰万元整", "壹仟万元整", "贰佰万元整", "伍佰万元整")
SCOPE_ITEMS = (
    "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广",
    "互联网销售（除销售需要许可的商品）",
    "服装服饰零售",
    "日用百货销售",
    "家居用品销售",
    "电子产品销售",
    "计算机软硬件及辅助设备零售",
    "食品销售（仅销售预包装食品）",
    "广告设计、代理",
    "货物进出口",
    "技术进出口",
    "办公用品销售",
    "化妆品零售",
    "针纺织品销售",
    "供应链管理服务",
    "信息咨询服务（不含许可类信息咨询服务）",
)
AUTHORITY_SUFFIX = "市场监督管理局"


@dataclass
class Licence:
    credit_code: str
    company_name: str
    company_type: str
    legal_representative: str
    registered_capital: str
    establishment_date: tuple[int, int, int]  # as printed (may be impossible for invalid licences)
    business_term: str
    address: str
    business_scope: str
    registration_authority: str
    registration_date: date
    invalid: str | None = None
    truth: dict[str, str] = field(default_factory=dict)
    layout: str = "horizontal"
    composition: str = ""  # 组成形式 of an individual business (个人经营, 家庭经营)


def org_check_char(first8: str) -> str:
    """GB 11714 check character of an 8-character organisation code."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, weights, strict=True))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def random_credit_code(rng: random.Random, region: str) -> str:
    """A GB 32100 code: 9 1 <county> <organisation code> <check>."""
    letters = [c for c in uscc.ALPHABET if c.isalpha()]
    if rng.random() < 0.7:  # codes issued since 2015 carry an organisation code starting "MA"
        body = "MA" + "".join(rng.choice(uscc.ALPHABET[:10] + "".join(letters)) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    first17 = "91" + region + body + org_check_char(body)
    return first17 + uscc.check_char(first17)


def _malform(rng: random.Random, code: str) -> str:
    """Put 1-2 characters that GB 32100 never uses where mapping them back to their digit
    look-alikes (O->0, I->1, Z->2, S->5, V->U) cannot restore a valid code."""
    lookalike = {"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"}
    while True:
        chars = list(code)
        for pos in rng.sample(range(2, 17), rng.choice([1, 1, 2])):
            chars[pos] = rng.choice(ILLEGAL)
        bad = "".join(chars)
        mapped = "".join(lookalike.get(c, c) for c in bad)
        if bad != code and uscc.check_char(mapped[:17]) != mapped[17]:
            return bad


def _impossible_date(rng: random.Random, today: date) -> tuple[int, int, int]:
    year = rng.randrange(2005, today.year)
    return rng.choice(
        [
            (year, 2, rng.choice([30, 31])),
            (year, rng.choice([4, 6, 9, 11]), 31),
            (year, 13, rng.randrange(1, 28)),
            (today.year + rng.randrange(2, 8), rng.randrange(1, 12), rng.randrange(1, 28)),
        ]
    )


def random_licence(rng: random.Random, today: date, invalid: str | None = None, layout: str = "horizontal") -> Licence:
    """A random licence; `invalid` names one defect from INVALID_KINDS, `layout` one of
    LAYOUTS or HELD_OUT (the default draws exactly what it always drew, so seeds keep
    giving the same licences)."""
    region, district = rng.choice(_region_codes())
    place = _province_city(region)
    city = place[-3:] if place.endswith("市") and len(place) >= 3 else district[:2]
    code = random_credit_code(rng, region)
    if invalid == "bad_check_char":
        code = code[:17] + rng.choice([c for c in uscc.ALPHABET if c != code[17]])
    elif invalid == "malformed":
        code = _malform(rng, code)
    established = today - timedelta(days=rng.randrange(60, 365 * 20))
    est = (established.year, established.month, established.day)
    if invalid == "impossible_date":
        est = _impossible_date(rng, today)
    reg_date = established + timedelta(days=rng.randrange(0, (today - established).days))
    name = f"{city.rstrip('市')}{rng.choice(TRADE_NAMES)}{rng.choice(INDUSTRIES)}有限公司"
    legal_rep = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
    capital = (
        rng.choice(CAPITAL_WORDS)
        if rng.random() < 0.5
        else f"{rng.choice([10, 50, 100, 200, 300, 500, 1000])}万元人民币"
    )
    term = "长期" if rng.random() < 0.6 else f"{established:%Y年%m月%d日}至长期"
    address = f"{place}{district}{rng.choice(STREETS)}{rng.randrange(1, 999)}号"
    if rng.random() < 0.5:
        address += f"{rng.randrange(1, 30)}栋{rng.randrange(101, 2999)}室"
    scope = "；".join(rng.sample(SCOPE_ITEMS, rng.randrange(4, 8)))
    scope += "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）。"
    authority = f"{city}{AUTHORITY_SUFFIX}" if city.endswith("市") else f"{district}{AUTHORITY_SUFFIX}"
    lic = Licence(
        code,
        name,
        rng.choice(TYPES),
        legal_rep,
        capital,
        est,
        term,
        address,
        scope,
        authority,
        reg_date,
        invalid,
    )
    lic.truth = {
        "credit_code": code,
        "company_name": name,
        "company_type": lic.company_type,
        "legal_representative": legal_rep,
        "registered_capital": capital,
        "establishment_date": f"{est[0]:04d}-{est[1]:02d}-{est[2]:02d}",
        "address": address,
        "registration_authority": authority,
        "registration_date": reg_date.isoformat(),
        "business_term": term,
    }
    lic.layout = layout
    if layout == "individual":  # 个体工商户: an operator, a shop name, no registered capital
        lic.company_name = f"{district.rstrip('区县市')}{rng.choice(place_names())}{rng.choice(SHOP_KINDS)}"
        lic.company_type = "个体工商户"
        lic.registered_capital = ""
        lic.composition = rng.choice(["个人经营", "个人经营", "家庭经营"])
        lic.truth.update(company_name=lic.company_name, company_type="个体工商户", registered_capital="")
    return lic


SHOP_KINDS = ("服装店", "便利店", "小吃店", "百货商行", "电子产品经营部", "网店", "日用品店", "茶叶店", "五金店")


def place_names() -> tuple[str, ...]:
    """Shop names of individual businesses (a trade name, sometimes the operator's)."""
    return TRADE_NAMES


@cache
def _font(path: str, size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _fit(d: ImageDraw.ImageDraw, text: str, size: int, width: int, path: str = CJK_FONT) -> ImageFont.FreeTypeFont:
    """The largest font up to `size` that fits `width` (printers squeeze long values)."""
    while size > 14 and d.textlength(text, font=_font(path, size)) > width:
        size -= 1
    return _font(path, size)


def _wrap(d: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, line = [], ""
    for ch in text:
        if d.textlength(line + ch, font=font) > width:
            lines.append(line)
            line = ch
        else:
            line += ch
    return lines + ([line] if line else [])


def _background(rng: random.Random) -> Image.Image:
    y, x = np.mgrid[0:LIC_H, 0:LIC_W].astype(np.float32)
    base = np.stack([250 - 4 * y / LIC_H, 247 - 3 * x / LIC_W, 238 + 0 * x], axis=2)  # warm paper (RGB)
    guilloche = 3 * np.sin(x / 9.0 + 3 * np.sin(y / 40.0 + rng.random() * 6))
    return Image.fromarray(np.clip(base + guilloche[:, :, None], 0, 255).astype(np.uint8))


def _frame(d: ImageDraw.ImageDraw) -> None:
    gold = (176, 132, 60)
    d.rectangle((14, 14, LIC_W - 15, LIC_H - 15), outline=gold, width=8)
    d.rectangle((30, 30, LIC_W - 31, LIC_H - 31), outline=gold, width=2)
    for x in range(40, LIC_W - 40, 24):  # a simple running pattern between the frame lines
        d.arc((x, 18, x + 24, 28), 0, 180, fill=gold)
        d.arc((x, LIC_H - 28, x + 24, LIC_H - 18), 180, 360, fill=gold)


def _emblem(d: ImageDraw.ImageDraw) -> None:
    x, y, w, h = EMBLEM
    d.ellipse((x, y, x + w, y + h), fill=(200, 24, 30))
    cx, cy, r = x + w / 2, y + h / 2, w * 0.28
    pts = []
    for i in range(10):
        a = np.pi / 2 + i * np.pi / 5
        rr = r if i % 2 == 0 else r * 0.4
        pts.append((cx + rr * np.cos(a), cy - rr * np.sin(a)))
    d.polygon(pts, fill=(250, 210, 40))


def _qr(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    x, y, w, _ = QR
    n = 25
    cell = w / n
    for i in range(n):
        for j in range(n):
            finder = any(fi <= i < fi + 7 and fj <= j < fj + 7 for fi, fj in ((0, 0), (0, n - 7), (n - 7, 0)))
            on = (
                (i in (0, 6) or j in (0, 6) or (2 <= i <= 4 and 2 <= j <= 4))
                if finder and (i < 7 and j < 7)
                else rng.random() < 0.5
            )
            if finder:
                li, lj = i % (n - 7) if i >= n - 7 else i, j % (n - 7) if j >= n - 7 else j
                on = li in (0, 6) or lj in (0, 6) or (2 <= li <= 4 and 2 <= lj <= 4)
            if on:
                d.rectangle(
                    (x + j * cell, y + i * cell, x + (j + 1) * cell - 1, y + (i + 1) * cell - 1), fill=(0, 0, 0)
                )
    d.text((x - 4, y + w + 6), "扫描二维码登录", font=_font(CJK_FONT, 13), fill=(60, 60, 60))


LABEL = (30, 30, 30)
INK = (15, 15, 15)


def render(lic: Licence, rng: random.Random) -> np.ndarray:
    """The licence as a BGR image: the horizontal layout on the canonical canvas, the others
    on their own (the vertical one is portrait)."""
    if lic.layout in _RENDERERS:
        return _RENDERERS[lic.layout](lic, rng)
    img = _background(rng)
    d = ImageDraw.Draw(img)
    _frame(d)
    _emblem(d)
    tx, ty, tw, _ = TITLE
    title_font = _font(TITLE_FONT, 72)
    title = "营业执照"
    d.text((tx + (tw - d.textlength(title, font=title_font)) / 2, ty), title, font=title_font, fill=(20, 20, 20))
    d.text((LIC_W / 2 - 48, ty + 92), "（副　本）", font=_font(CJK_FONT, 20), fill=LABEL)
    _qr(d, rng)
    lab = _font(CJK_FONT, 24)
    x, y, w, h = FIELDS["credit_code"]
    d.text((x + 8, y - 26), "统一社会信用代码", font=lab, fill=LABEL)
    d.text((x + 8, y + 6), lic.credit_code, font=_fit(d, lic.credit_code, 36, w - 16, CODE_FONT), fill=INK)
    labels = {
        "company_name": "名　　称",
        "company_type": "类　　型",
        "legal_representative": "法定代表人",
        "business_scope": "经营范围",
        "registered_capital": "注册资本",
        "establishment_date": "成立日期",
        "business_term": "营业期限",
        "address": "住　　所",
    }
    y0, m0, d0 = lic.establishment_date
    values = {
        "company_name": lic.company_name,
        "company_type": lic.company_type,
        "legal_representative": lic.legal_representative,
        "registered_capital": lic.registered_capital,
        "establishment_date": f"{y0:04d}年{m0:02d}月{d0:02d}日",
        "business_term": lic.business_term,
    }
    for key, label in labels.items():
        x, y, w, h = FIELDS[key]
        d.text((x - 136, y + 13), label, font=lab, fill=LABEL)
        if key in values:
            font = _fit(d, values[key], 28, w - 12)
            d.text((x + 6, y + (h - font.size) / 2 - 2), values[key], font=font, fill=INK)
    x, y, w, h = FIELDS["address"]
    font = _font(CJK_FONT, 26)
    for i, line in enumerate(_wrap(d, lic.address, font, w - 12)[:2]):
        d.text((x + 6, y + 10 + 40 * i), line, font=font, fill=INK)
    x, y, w, h = FIELDS["business_scope"]
    font = _font(CJK_FONT, 21)
    for i, line in enumerate(_wrap(d, lic.business_scope, font, w - 12)[:7]):
        d.text((x + 6, y + 12 + 29 * i), line, font=font, fill=INK)
    x, y, w, h = FIELDS["registration_authority"]
    d.text((x - 136, y + 13), "登记机关", font=lab, fill=LABEL)
    font = _fit(d, lic.registration_authority, 28, w - 12)
    d.text((x + 6, y + 10), lic.registration_authority, font=font, fill=INK)
    x, y, w, h = FIELDS["registration_date"]
    d.text((x + 6, y + 10), f"{lic.registration_date:%Y年%m月%d日}", font=_font(CJK_FONT, 28), fill=INK)
    d.text(
        (70, LIC_H - 74),
        "国家企业信用信息公示系统网址：http://www.gsxt.gov.cn",
        font=_font(CJK_FONT, 16),
        fill=(70, 70, 70),
    )
    d.text((70, LIC_H - 52), "国家市场监督管理总局监制", font=_font(CJK_FONT, 16), fill=(70, 70, 70))
    arr: np.ndarray = np.array(img).astype(np.float32)
    # The registration seal: a translucent red ring with a star, over the authority and date.
    seal = Image.new("L", (LIC_W, LIC_H), 0)
    sd = ImageDraw.Draw(seal)
    cx, cy, r = 1010 + rng.uniform(-20, 20), 720 + rng.uniform(-10, 10), 78
    sd.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=6)
    sd.regular_polygon((cx, cy, 20), 5, fill=255)
    alpha = np.array(seal, np.float32)[:, :, None] / 255 * 0.55
    arr = arr * (1 - alpha) + np.array([210, 30, 40], np.float32) * alpha
    return np.clip(arr, 0, 255).astype(np.uint8)[:, :, ::-1].copy()


# --- the other layouts ---------------------------------------------------------------------

SANS_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SANS_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
SERIF_FONT = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"
SERIF_BOLD = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"
# Noto's .ttc files hold JP, KR, SC, TC, HK in that order: index 2 is Simplified Chinese.
_SC = {SANS_FONT: 2, SANS_BOLD: 2, SERIF_FONT: 2, SERIF_BOLD: 2, CJK_FONT: 0, CODE_FONT: 2, TITLE_FONT: 2}
_TUNED_FONTS = (CJK_FONT, SANS_FONT)  # the tuned layouts' value fonts; the held-out one prints serif
_INKS = ((15, 15, 15), (35, 30, 28), (20, 20, 45))


def _f(path: str, size: int) -> ImageFont.FreeTypeFont:
    return _font(path, size, _SC.get(path, 0))


def _paper(rng: random.Random, w: int, h: int, tint: tuple[float, float, float]) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([tint[0] - 4 * y / h, tint[1] - 3 * x / w, tint[2] + 0 * x], axis=2)
    phase = rng.random() * 6
    guilloche = 3 * np.sin(x / rng.uniform(7, 12) + 3 * np.sin(y / 40.0 + phase))
    return Image.fromarray(np.clip(base + guilloche[:, :, None], 0, 255).astype(np.uint8))


def _frame_box(d: ImageDraw.ImageDraw, w: int, h: int, colour: tuple[int, int, int], double: bool) -> None:
    d.rectangle((14, 14, w - 15, h - 15), outline=colour, width=7 if double else 3)
    if double:
        d.rectangle((30, 30, w - 31, h - 31), outline=colour, width=2)


def _emblem_at(d: ImageDraw.ImageDraw, cx: float, y: float, size: float) -> None:
    d.ellipse((cx - size / 2, y, cx + size / 2, y + size), fill=(200, 24, 30))
    cy, r = y + size / 2, size * 0.28
    pts = []
    for i in range(10):
        a = np.pi / 2 + i * np.pi / 5
        rr = r if i % 2 == 0 else r * 0.4
        pts.append((cx + rr * np.cos(a), cy - rr * np.sin(a)))
    d.polygon(pts, fill=(250, 210, 40))


def _qr_at(d: ImageDraw.ImageDraw, rng: random.Random, x: float, y: float, size: float) -> None:
    n = 25
    cell = size / n
    for i in range(n):
        for j in range(n):
            finder = [(fi, fj) for fi, fj in ((0, 0), (0, n - 7), (n - 7, 0)) if fi <= i < fi + 7 and fj <= j < fj + 7]
            if finder:
                li, lj = i - finder[0][0], j - finder[0][1]
                on = li in (0, 6) or lj in (0, 6) or (2 <= li <= 4 and 2 <= lj <= 4)
            else:
                on = rng.random() < 0.5
            if on:
                d.rectangle(
                    (x + j * cell, y + i * cell, x + (j + 1) * cell - 1, y + (i + 1) * cell - 1), fill=(0, 0, 0)
                )


def _seal_on(img: Image.Image, rng: random.Random, cx: float, cy: float, r: float = 78) -> np.ndarray:
    arr = np.array(img).astype(np.float32)
    seal = Image.new("L", img.size, 0)
    sd = ImageDraw.Draw(seal)
    cx, cy = cx + rng.uniform(-20, 20), cy + rng.uniform(-10, 10)
    sd.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=6)
    sd.regular_polygon((cx, cy, 20), 5, fill=255)
    alpha = np.array(seal, np.float32)[:, :, None] / 255 * rng.uniform(0.45, 0.6)
    arr = arr * (1 - alpha) + np.array([210, 30, 40], np.float32) * alpha
    return np.clip(arr, 0, 255).astype(np.uint8)[:, :, ::-1].copy()


def _est(lic: Licence) -> str:
    y0, m0, d0 = lic.establishment_date
    return f"{y0:04d}年{m0:02d}月{d0:02d}日"


def _rep_label(lic: Licence) -> str:
    return "经营者" if lic.layout == "individual" else "法定代表人"


def _rows(lic: Licence) -> list[tuple[str, str, int]]:
    """(label, value, lines) in print order, for a single-column layout."""
    if lic.layout == "individual":
        return [
            ("名称", lic.company_name, 1),
            ("类型", lic.company_type, 1),
            ("经营者", lic.legal_representative, 1),
            ("组成形式", lic.composition, 1),
            ("注册日期", _est(lic), 1),
            ("经营场所", lic.address, 2),
            ("经营范围", lic.business_scope, 6),
        ]
    return [
        ("名称", lic.company_name, 1),
        ("类型", lic.company_type, 1),
        ("法定代表人", lic.legal_representative, 1),
        ("注册资本", lic.registered_capital, 1),
        ("成立日期", _est(lic), 1),
        ("营业期限", lic.business_term, 1),
        ("住所", lic.address, 2),
        ("经营范围", lic.business_scope, 6),
    ]


def _spaced(label: str) -> str:
    """Two-character labels are printed spread to four character widths (名　　称)."""
    return f"{label[0]}　　{label[1]}" if len(label) == 2 else label


def _put_lines(
    d: ImageDraw.ImageDraw,
    text: str,
    x: float,
    y: float,
    width: float,
    font: ImageFont.FreeTypeFont,
    ink: tuple[int, int, int],
    lines: int,
    step: float,
) -> None:
    for i, line in enumerate(_wrap(d, text, font, width)[:lines]):
        d.text((x, y + step * i), line, font=font, fill=ink)


def _footer(d: ImageDraw.ImageDraw, lic: Licence, x: float, y: float, font: ImageFont.FreeTypeFont, ink) -> None:  # type: ignore[no-untyped-def]
    d.text((x, y), "登记机关", font=font, fill=LABEL)
    d.text((x + 130, y), lic.registration_authority, font=font, fill=ink)
    d.text((x + 130, y + 44), f"{lic.registration_date:%Y年%m月%d日}", font=font, fill=ink)


def _render_vertical(lic: Licence, rng: random.Random) -> np.ndarray:
    w, h = LIC_H, LIC_W  # portrait
    img = _paper(rng, w, h, (250, 247, 238))
    d = ImageDraw.Draw(img)
    _frame_box(d, w, h, (176, 132, 60), True)
    _emblem_at(d, w / 2, 46, 84)
    title = _f(TITLE_FONT, 64)
    d.text(((w - d.textlength("营业执照", font=title)) / 2, 140), "营业执照", font=title, fill=(20, 20, 20))
    d.text((w / 2 - 48, 222), "（副　本）", font=_f(CJK_FONT, 20), fill=LABEL)
    _qr_at(d, rng, w - 170, 56, 104)
    ink = rng.choice(_INKS)
    vfont_path = rng.choice(_TUNED_FONTS)
    lab = _f(CJK_FONT, 23)
    d.text((70, 282), "统一社会信用代码", font=lab, fill=LABEL)
    d.text((290, 276), lic.credit_code, font=_fit(d, lic.credit_code, 32, w - 360, CODE_FONT), fill=ink)
    y = 350
    for label, value, lines in _rows(lic):
        d.text((70, y + 3), _spaced(label), font=lab, fill=LABEL)
        size = 26 if lines == 1 else 21 if label == "经营范围" else 24
        font = _fit(d, value, size, w - 300, vfont_path) if lines == 1 else _f(vfont_path, size)
        step = font.size + 12
        _put_lines(d, value, 230, y, w - 300, font, ink, lines, step)
        used = len(_wrap(d, value, font, w - 300)[:lines]) if value else 1
        y += max(1, used) * step + 22
    _footer(d, lic, 330, h - 190, _f(CJK_FONT, 24), ink)
    return _seal_on(img, rng, w - 200, h - 150)


def _render_duplicate(lic: Licence, rng: random.Random) -> np.ndarray:
    w, h = LIC_W, LIC_H
    img = _paper(rng, w, h, (246, 249, 242))
    d = ImageDraw.Draw(img)
    _frame_box(d, w, h, (120, 140, 110), False)
    _emblem_at(d, w / 2, 30, 80)
    title = _f(SANS_BOLD, 60)
    d.text(((w - d.textlength("营业执照", font=title)) / 2, 118), "营业执照", font=title, fill=(20, 20, 20))
    d.text((w / 2 - 40, 196), "（副本）", font=_f(SANS_FONT, 22), fill=LABEL)
    d.text((w - 290, 60), f"副本编号：{rng.randrange(1, 4)}-{rng.randrange(1, 4)}", font=_f(SANS_FONT, 20), fill=LABEL)
    ink = rng.choice(_INKS)
    vfont_path = rng.choice(_TUNED_FONTS)
    lab = _f(SANS_FONT, 23)
    code_label = "统一社会信用代码："
    d.text((90, 250), code_label, font=lab, fill=LABEL)
    code_x = 90 + d.textlength(code_label, font=lab) + 4
    d.text((code_x, 244), lic.credit_code, font=_f(CODE_FONT, 30), fill=ink)
    y = 300
    for label, value, lines in _rows(lic):
        if label == "经营范围":
            lines = 3
        text = f"{label}："
        d.text((90, y + 2), text, font=lab, fill=LABEL)
        vx = 90 + d.textlength(text, font=lab) + 2  # the value runs on straight after the colon
        font = _f(vfont_path, 23 if label != "经营范围" else 19)
        step = font.size + 8
        _put_lines(d, value, vx, y, w - 140 - vx, font, ink, lines, step)
        used = len(_wrap(d, value, font, w - 140 - vx)[:lines]) if value else 1
        y += max(1, used) * step + 12
    _qr_at(d, rng, 60, 44, 104)
    _footer(d, lic, w - 470, h - 130, _f(SANS_FONT, 24), ink)
    return _seal_on(img, rng, w - 220, h - 120)


def _render_individual(lic: Licence, rng: random.Random) -> np.ndarray:
    w, h = LIC_W, LIC_H
    img = _paper(rng, w, h, (250, 247, 238))
    d = ImageDraw.Draw(img)
    _frame_box(d, w, h, (176, 132, 60), True)
    _emblem_at(d, w / 2, 32, 86)
    title = _f(TITLE_FONT, 70)
    d.text(((w - d.textlength("营业执照", font=title)) / 2, 124), "营业执照", font=title, fill=(20, 20, 20))
    _qr_at(d, rng, w - 170, 50, 112)
    ink = rng.choice(_INKS)
    vfont_path = rng.choice(_TUNED_FONTS)
    lab = _f(CJK_FONT, 24)
    d.text((64, 176), "统一社会信用代码", font=lab, fill=LABEL)
    d.text((64, 206), lic.credit_code, font=_f(CODE_FONT, 34), fill=ink)
    rows = {label: (value, lines) for label, value, lines in _rows(lic)}
    y = 272
    for label in ("名称", "类型", "经营者", "组成形式", "经营范围"):
        value, lines = rows[label]
        d.text((64, y + 3), _spaced(label), font=lab, fill=LABEL)
        size = 26 if label != "经营范围" else 20
        font = _fit(d, value, size, 400, vfont_path) if lines == 1 else _f(vfont_path, size)
        _put_lines(d, value, 210, y, 400, font, ink, 7 if label == "经营范围" else lines, font.size + 9)
        y += 58
    y = 272
    for label in ("注册日期", "经营场所"):
        value, lines = rows[label]
        d.text((660, y + 3), label, font=lab, fill=LABEL)
        font = _f(vfont_path, 25)
        _put_lines(d, value, 790, y, 360, font, ink, lines, 38)
        y += 58
    _footer(d, lic, 660, h - 190, _f(CJK_FONT, 26), ink)
    return _seal_on(img, rng, 1000, 720)


def _render_heldout(lic: Licence, rng: random.Random) -> np.ndarray:
    """A pre-2019 三证合一 print: serif values, blue-black ink, the code top right, the
    scope boxed on the right half. The reader is never tuned on it."""
    w, h = LIC_W, LIC_H
    img = _paper(rng, w, h, (252, 244, 236))
    d = ImageDraw.Draw(img)
    _frame_box(d, w, h, (150, 60, 50), True)
    _emblem_at(d, w / 2, 36, 92)
    title = _f(SERIF_BOLD, 66)
    d.text(((w - d.textlength("营 业 执 照", font=title)) / 2, 136), "营 业 执 照", font=title, fill=(30, 20, 20))
    ink = (25, 30, 80)
    lab = _f(SERIF_FONT, 24)
    d.text((790, 222), "统一社会信用代码", font=_f(SERIF_FONT, 20), fill=LABEL)
    d.text((790, 248), lic.credit_code, font=_fit(d, lic.credit_code, 30, 360, SERIF_FONT), fill=ink)
    rows = [r for r in _rows(lic) if r[0] != "经营范围"]
    y = 310
    for label, value, lines in rows:
        d.text((70, y + 2), _spaced(label), font=lab, fill=LABEL)
        font = _fit(d, value, 25, 420, SERIF_FONT) if lines == 1 else _f(SERIF_FONT, 23)
        _put_lines(d, value, 220, y, 420, font, ink, lines, 34)
        y += 52 + 34 * (lines - 1)
    d.rectangle((690, 300, w - 60, 620), outline=(150, 60, 50), width=2)
    d.text((706, 312), "经营范围", font=lab, fill=LABEL)
    _put_lines(d, lic.business_scope, 706, 352, w - 780, _f(SERIF_FONT, 19), ink, 9, 28)
    _footer(d, lic, 700, h - 180, _f(SERIF_FONT, 25), ink)
    return _seal_on(img, rng, 960, h - 150)


_RENDERERS = {
    "vertical": _render_vertical,
    "duplicate": _render_duplicate,
    "individual": _render_individual,
    HELD_OUT: _render_heldout,
}
