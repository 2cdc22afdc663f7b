"""Newspapers print the date in many forms; the challenge accepts today's in any of them
and never a wrong one (issue #17: small newspaper dates, Chinese dates in their forms)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from services.identity.documents.ocr import default_ocr
from services.liveness.checker import date_readings, dates_in, judge_date

DAY = date(2026, 12, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026年12月3日 星期四", [DAY]),
        ("2026年12月03日", [DAY]),
        ("二〇二六年十二月三日 星期四", [DAY]),
        ("二○二六年十二月三十一日", [date(2026, 12, 31)]),  # the zero as a circle
        ("二〇二六年一月十日", [date(2026, 1, 10)]),
        ("二〇二六年十月二十日", [date(2026, 10, 20)]),
        ("2026-12-03 周四", [DAY]),
        ("2026.12.03", [DAY]),
        ("2026/12/3", [DAY]),
        ("二〇二六年二月三十日", []),  # no such day
        ("二〇二六年十三月一日", []),
        ("2026年13月1日", []),
        ("第12版", []),
    ],
)
def test_dates_are_read_in_every_printed_form(text: str, expected: list[date]) -> None:
    assert dates_in(text) == expected


def _page(line: str, size: int) -> np.ndarray:
    """A plain newspaper-like sheet: masthead, the date line at `size` px, body text."""
    img = Image.new("RGB", (640, 460), (238, 236, 230))
    d = ImageDraw.Draw(img)
    serif = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"
    d.text((40, 12), "晨报", font=ImageFont.truetype(serif, 80), fill=(20, 20, 20))
    d.text((44, 130), line, font=ImageFont.truetype(serif, size), fill=(30, 30, 30))
    body = ImageFont.truetype(serif, 13)
    filler = "各地推进民生工程建设城乡面貌持续改善经济发展稳中向好" * 2
    for i in range(12):
        d.text((40, 190 + 20 * i), filler, font=body, fill=(95, 95, 95))
    return np.array(img)[:, :, ::-1].copy()


@pytest.mark.parametrize("line", ["二〇二六年十二月三日  星期四", "2026年12月3日  星期四", "2026.12.03  星期四"])
def test_a_small_date_line_under_the_masthead_is_read(line: str) -> None:
    # 26 px on a 640 px sheet: smaller than the masthead, and carrying less ink than the
    # body text's long lines.
    found = date_readings(_page(line, 26), default_ocr(), DAY)
    assert judge_date(found, DAY).verdict == "pass", found


def test_yesterdays_paper_in_chinese_numerals_is_not_today() -> None:
    found = date_readings(_page("二〇二六年十二月二日  星期三", 26), default_ocr(), DAY)
    assert judge_date(found, DAY).verdict == "fail", found


def _crowded_page(line: str, masthead_y: int, date_y: int, rows_from: int) -> np.ndarray:
    """A masthead printed so large that the date line below touches it (or overlaps its
    feet), and body rows right under the date: the date is no line of its own."""
    img = Image.new("RGB", (640, 460), (238, 236, 230))
    d = ImageDraw.Draw(img)
    serif = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"
    d.text((50, masthead_y), "北京日报", font=ImageFont.truetype(serif, 100), fill=(20, 20, 20))
    d.text((60, date_y), line, font=ImageFont.truetype(serif, 26), fill=(25, 25, 25))
    body = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 13)
    filler = "各地推进民生工程建设城乡面貌持续改善经济发展稳中向好" * 2
    for y in range(rows_from, 450, 16):
        d.text((14, y), filler, font=body, fill=(90, 90, 90))
    return np.array(img)[:, :, ::-1].copy()


@pytest.mark.parametrize("date_y", [96, 108])  # over the masthead's feet; touching them
def test_a_date_touching_the_masthead_is_read(date_y: int) -> None:
    found = date_readings(_crowded_page("2026年12月03日  星期四", -6, date_y, date_y + 34), default_ocr(), DAY)
    assert judge_date(found, DAY).verdict == "pass", found
