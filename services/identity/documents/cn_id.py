"""Chinese resident identity numbers (GB 11643-1999).

18 characters: 6-digit region code (GB/T 2260), birth date YYYYMMDD, 3-digit sequence
(odd = male, even = female), check character: sum of digit x weight (7 9 10 5 8 4 2 1 6
3 7 9 10 5 8 4 2) mod 11 mapped through "10X98765432".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

from services.core.reasons import Reason

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# OCR confusions worth trying when the check character fails, digit by digit.
_CONFUSIONS = {"0": "8689", "1": "7", "3": "8", "5": "6", "6": "58", "7": "1", "8": "0396", "9": "80"}


def check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


@cache
def regions() -> dict[str, str]:
    """Every GB/T 2260 code (current and historical) with its names."""
    path = resources.files("services.identity.documents") / "data" / "gb2260.csv"
    with path.open(encoding="utf-8") as fh:
        return {row["code"]: row["names"] for row in csv.DictReader(fh)}


@dataclass
class IdNumberCheck:
    number: str
    valid: bool
    birth_date: date | None = None
    sex: str | None = None  # "M" / "F"
    region: str | None = None
    corrected_from: str | None = None
    reasons: list[tuple[Reason, str]] = field(default_factory=list)


def normalise(raw: str) -> str:
    """Strip spaces and map OCR look-alikes that cannot be anything else (x -> X, O -> 0)."""
    s = "".join(raw.split()).upper()
    return s.replace("O", "0").replace("I", "1").replace("L", "1")


def validate(raw: str, today: date, uncertain: frozenset[int] = frozenset()) -> IdNumberCheck:
    """Check format, check character, region, birth date (real, not future, not before
    1900). A single OCR confusion is corrected only at a position the OCR marked as
    uncertain (`uncertain`, 0-based), and only when the check character confirms exactly
    one candidate: a clearly printed wrong number is never "corrected" into a valid one."""
    number = normalise(raw)
    result = IdNumberCheck(number=number, valid=False)
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        result.reasons.append(
            (Reason.ID_NUMBER_MALFORMED, f"the citizen number must be 18 characters, got {len(number)}")
        )
        return result
    if check_char(number[:17]) != number[17]:
        fixed = _repair(number, uncertain)
        if fixed is None:
            result.reasons.append(
                (Reason.ID_NUMBER_CHECKSUM_FAILED, "the citizen number's check character does not match (GB 11643)")
            )
            return result
        result.corrected_from, number = number, fixed
        result.number = number
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        result.reasons.append((Reason.INVALID_DATE, "the birth date inside the citizen number is not a real date"))
        return result
    if born > today or born.year < 1900:
        result.reasons.append((Reason.INVALID_DATE, "the birth date inside the citizen number is impossible"))
        return result
    result.birth_date = born
    result.sex = "M" if int(number[16]) % 2 == 1 else "F"
    region = regions().get(number[:6])
    if region is None:
        result.reasons.append((Reason.ID_NUMBER_REGION_UNKNOWN, f"region code {number[:6]} is not in GB/T 2260"))
        return result
    result.region = region
    result.valid = True
    return result


def _repair(number: str, uncertain: frozenset[int]) -> str | None:
    """The one single-character OCR correction that makes the check character right, if unique."""
    candidates = set()
    for i, ch in enumerate(number):
        if i not in uncertain:
            continue
        options = _CONFUSIONS.get(ch, "")
        if i == 17 and ch != "X":
            options += "X"
        if i == 17 and ch == "X":
            options = "2"
        for alt in options:
            cand = number[:i] + alt + number[i + 1 :]
            if cand[:17].isdigit() and check_char(cand[:17]) == cand[17]:
                candidates.add(cand)
    return candidates.pop() if len(candidates) == 1 else None


def mask(number: str) -> str:
    return number[:4] + "*" * 10 + number[-4:] if len(number) == 18 else "*" * len(number)
