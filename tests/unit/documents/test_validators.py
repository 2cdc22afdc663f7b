"""Deterministic validation of citizen numbers and credit codes."""

from __future__ import annotations

from datetime import date

import pytest

from services.core.reasons import Reason
from services.identity.documents import cn_id, uscc

TODAY = date(2026, 11, 22)


def _with_check(first17: str) -> str:
    return first17 + cn_id.check_char(first17)


def test_the_published_gb11643_example_is_valid() -> None:
    # The standard's own example number.
    r = cn_id.validate("11010519491231002X", TODAY)
    assert r.valid and r.birth_date == date(1949, 12, 31) and r.sex == "F" and "朝阳区" in (r.region or "")


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", Reason.ID_NUMBER_CHECKSUM_FAILED),
        ("1101051949123100", Reason.ID_NUMBER_MALFORMED),
        (_with_check("11010519490231002"), Reason.INVALID_DATE),  # 31 February
        (_with_check("11010530000101002"), Reason.INVALID_DATE),  # born in the future
        (_with_check("99010519491231002"), Reason.ID_NUMBER_REGION_UNKNOWN),
    ],
)
def test_invalid_numbers_say_why(number: str, reason: Reason) -> None:
    r = cn_id.validate(number, TODAY)
    assert not r.valid and r.reasons[0][0] is reason


def test_historic_region_codes_are_accepted() -> None:
    # 110103 (崇文区) was merged into 东城区 in 2010; cards issued there remain valid.
    assert cn_id.validate(_with_check("11010319800101001"), TODAY).valid


def test_ocr_confusion_is_corrected_only_where_uncertain_and_confirmed() -> None:
    good = "11010519491231002X"
    misread = good[:7] + "8" + good[8:]  # the '9' of 1949 read as '8'
    plain = cn_id.validate(misread, TODAY)
    assert not plain.valid and plain.reasons[0][0] is Reason.ID_NUMBER_CHECKSUM_FAILED
    fixed = cn_id.validate(misread, TODAY, uncertain=frozenset({7}))
    assert fixed.valid and fixed.number == good and fixed.corrected_from == misread


def test_sex_digit() -> None:
    assert cn_id.validate(_with_check("11010519800101001"), TODAY).sex == "M"


def test_credit_codes() -> None:
    body = "91350100M000100Y4"  # a well-formed body
    code = body + uscc.check_char(body)
    assert uscc.validate(code).checksum_ok
    wrong = body + ("0" if code[-1] != "0" else "1")
    r = uscc.validate(wrong)
    assert r.well_formed and not r.checksum_ok and r.reasons[0][0] is Reason.CREDIT_CODE_CHECKSUM_FAILED
    assert uscc.validate("9135010").reasons[0][0] is Reason.CREDIT_CODE_MALFORMED
    # Letters outside the alphabet that OCR produces map back (O -> 0).
    assert uscc.validate(code.replace("0", "O", 1)).checksum_ok
