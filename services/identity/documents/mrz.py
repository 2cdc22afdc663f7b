"""ICAO 9303 machine-readable zones: TD3 (passports, 2 x 44) and TD1 (ID cards, 3 x 30).

Check digits: weights 7 3 1 repeating; `<` = 0, digits as themselves, A-Z = 10-35; sum
mod 10. OCR of OCR-B confuses `<` with K and letters with digits (O/0, I/1, B/8, S/5,
Z/2, G/6, D/0). Repair is field-aware: numeric fields take digits, alphabetic fields
take letters, and a substitution inside a field protected by a check digit is accepted
only when that check digit (and the composite) confirm exactly one candidate. Chinese
passports fill the optional field of line 2 completely, so it may contain no `<` at all:
fields are located by position, never by filler.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date

from services.core.reasons import Reason

_VALUES = {**{str(d): d for d in range(10)}, **{chr(ord("A") + i): 10 + i for i in range(26)}, "<": 0}
_TO_DIGIT = {
    "O": "0",
    "Q": "0",
    "D": "0",
    "U": "0",
    "I": "1",
    "L": "1",
    "Z": "2",
    "B": "8",
    "S": "5",
    "G": "6",
    "T": "7",
    "A": "4",
}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "8": "B", "5": "S", "6": "G", "4": "A", "7": "T"}
# For alphanumeric fields (document numbers): each character's plausible readings.
_AMBIGUOUS = {
    "0": "OD",
    "O": "0D",
    "D": "0O",
    "1": "I",
    "I": "1",
    "8": "B",
    "B": "8",
    "5": "S",
    "S": "5",
    "2": "Z",
    "Z": "2",
    "6": "G",
    "G": "6",
    "K": "<",
    "<": "K",
}


def check_digit(text: str) -> str:
    total = sum(_VALUES.get(c, 0) * (7, 3, 1)[i % 3] for i, c in enumerate(text))
    return str(total % 10)


@dataclass
class MrzResult:
    kind: str  # "TD3" or "TD1"
    lines: list[str]
    fields: dict[str, str]
    checks: dict[str, bool]
    corrected: set[str] = field(default_factory=set)
    # Alphanumeric fields changed by repair, with what was read: kept only if the composite agrees.
    repaired_from: dict[str, str] = field(default_factory=dict)
    reasons: list[tuple[Reason, str, str]] = field(default_factory=list)  # (code, message, field)
    birth_date: date | None = None
    expiry_date: date | None = None

    @property
    def valid(self) -> bool:
        return not self.reasons


def _clean(line: str, length: int) -> str:
    s = "".join(line.split()).upper().replace("«", "<")
    s = "".join(c if c in _VALUES else "<" for c in s)
    return (s + "<" * length)[:length]


def _digits(s: str) -> str:
    return "".join(_TO_DIGIT.get(c, c) for c in s)


def _letters(s: str) -> str:
    return "".join(_TO_LETTER.get(c, c) for c in s)


def _names(s: str) -> tuple[str, str]:
    """Primary and secondary identifiers; runs of K at the end of the field are filler."""
    s = s.rstrip("<")
    # OCR reads a run of fillers as K's: a trailing run of 2+ K is filler, not a name.
    while s.endswith("KK"):
        s = s.rstrip("K").rstrip("<")
    primary, _, secondary = s.partition("<<")
    return primary.replace("<", " ").strip(), secondary.replace("<", " ").replace("K K", "").strip()


def _repair_alnum(value: str, digit: str, max_changes: int = 2) -> str | None:
    """The single reading of `value` (with at most `max_changes` confusions) whose check digit is `digit`."""
    if check_digit(value) == digit:
        return value
    positions = [i for i, c in enumerate(value) if c in _AMBIGUOUS]
    found: set[str] = set()
    for n in range(1, max_changes + 1):
        for combo in itertools.combinations(positions, n):
            for alts in itertools.product(*(_AMBIGUOUS[value[i]] for i in combo)):
                cand = list(value)
                for i, a in zip(combo, alts, strict=True):
                    cand[i] = a
                text = "".join(cand)
                if check_digit(text) == digit:
                    found.add(text)
        if found:
            break
    return found.pop() if len(found) == 1 else None


def _date(yymmdd: str, *, birth: bool, today: date) -> date | None:
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    if birth:
        year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    else:
        year = 2000 + yy if yy < 70 else 1900 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


def _checked(result: MrzResult, name: str, raw: str, digit_raw: str, numeric: bool) -> str:
    """Repair a protected field against its check digit; record the outcome."""
    digit = _digits(digit_raw)
    value = _digits(raw) if numeric else raw
    if check_digit(value) == digit:
        if value != raw:
            result.corrected.add(name)
        result.checks[name] = True
        return value
    repaired = None if numeric else _repair_alnum(raw, digit)
    if repaired is not None:
        result.corrected.add(name)
        result.repaired_from[name] = raw
        result.checks[name] = True
        return repaired
    result.checks[name] = False
    result.reasons.append(
        (
            Reason.MRZ_CHECK_DIGIT_FAILED,
            f"the MRZ check digit of {name.replace('_', ' ')} does not match",
            f"mrz.{name}",
        )
    )
    return value


def parse(lines: list[str], today: date) -> MrzResult:
    """Parse and validate TD3 (2 lines) or TD1 (3 lines)."""
    lines = [line for line in lines if line.strip()]
    if len(lines) == 2:
        return _td3([_clean(x, 44) for x in lines], today)
    if len(lines) == 3:
        return _td1([_clean(x, 30) for x in lines], today)
    result = MrzResult("unknown", lines, {}, {})
    result.reasons.append((Reason.MRZ_NOT_FOUND, "no two-line (passport) or three-line (ID card) MRZ found", "mrz"))
    return result


def _finish(result: MrzResult, today: date, birth_raw: str, expiry_raw: str, sex: str) -> MrzResult:
    result.birth_date = _date(result.fields["birth_date"], birth=True, today=today)
    result.expiry_date = _date(result.fields["expiry_date"], birth=False, today=today)
    if result.birth_date is None:
        result.reasons.append((Reason.INVALID_DATE, "the MRZ birth date is not a real date", "mrz.birth_date"))
    if result.expiry_date is None:
        result.reasons.append((Reason.INVALID_DATE, "the MRZ expiry date is not a real date", "mrz.expiry_date"))
    elif result.expiry_date < today:
        result.reasons.append(
            (Reason.DOCUMENT_EXPIRED, f"the document expired on {result.expiry_date}", "mrz.expiry_date")
        )
    result.fields["sex"] = {"M": "M", "F": "F"}.get(sex, "X")
    return result


def _td3(lines: list[str], today: date) -> MrzResult:
    l1, l2 = lines
    r = MrzResult("TD3", lines, {}, {})
    r.fields["document_code"] = l1[0:2].replace("<", "")
    r.fields["issuing_state"] = _letters(l1[2:5]).replace("<", "")
    r.fields["surname"], r.fields["given_names"] = _names(l1[5:44])
    r.fields["document_number"] = _checked(r, "document_number", l2[0:9], l2[9], numeric=False)
    r.fields["nationality"] = _letters(l2[10:13]).replace("<", "")
    r.fields["birth_date"] = _checked(r, "birth_date", l2[13:19], l2[19], numeric=True)
    r.fields["expiry_date"] = _checked(r, "expiry_date", l2[21:27], l2[27], numeric=True)
    personal = l2[28:42]
    if personal.replace("<", "") or l2[42] not in "<0":
        r.fields["personal_number"] = _checked(r, "personal_number", personal, l2[42], numeric=False)
    else:
        r.fields["personal_number"] = ""
    composite = (
        r.fields["document_number"]
        + _digits(l2[9])
        + r.fields["birth_date"]
        + _digits(l2[19])
        + r.fields["expiry_date"]
        + _digits(l2[27])
        + (r.fields["personal_number"] or personal)
        + l2[42]
    )
    _composite(r, composite, l2[43])
    return _finish(r, today, l2[13:19], l2[21:27], _letters(l2[20]))


def _td1(lines: list[str], today: date) -> MrzResult:
    l1, l2, l3 = lines
    r = MrzResult("TD1", lines, {}, {})
    r.fields["document_code"] = l1[0:2].replace("<", "")
    r.fields["issuing_state"] = _letters(l1[2:5]).replace("<", "")
    r.fields["document_number"] = _checked(r, "document_number", l1[5:14], l1[14], numeric=False)
    r.fields["optional_1"] = l1[15:30].rstrip("<")
    r.fields["birth_date"] = _checked(r, "birth_date", l2[0:6], l2[6], numeric=True)
    r.fields["expiry_date"] = _checked(r, "expiry_date", l2[8:14], l2[14], numeric=True)
    r.fields["nationality"] = _letters(l2[15:18]).replace("<", "")
    r.fields["optional_2"] = l2[18:29].rstrip("<")
    r.fields["surname"], r.fields["given_names"] = _names(l3)
    composite = (
        l1[5:14].replace(l1[5:14], r.fields["document_number"])
        + _digits(l1[14])
        + l1[15:30]
        + r.fields["birth_date"]
        + _digits(l2[6])
        + r.fields["expiry_date"]
        + _digits(l2[14])
        + l2[18:29]
    )
    _composite(r, composite, l2[29])
    return _finish(r, today, l2[0:6], l2[8:14], _letters(l2[7]))


def _composite(r: MrzResult, text: str, digit_raw: str) -> None:
    ok = check_digit(text) == _digits(digit_raw)
    r.checks["composite"] = ok
    if ok:
        return
    r.reasons.append((Reason.MRZ_CHECK_DIGIT_FAILED, "the MRZ composite check digit does not match", "mrz.composite"))
    # A repair that the composite does not confirm is not trusted: report the field as read.
    for name, raw in r.repaired_from.items():
        r.fields[name] = raw
        r.corrected.discard(name)
        r.checks[name] = False
        message = f"the MRZ check digit of {name.replace('_', ' ')} does not match"
        r.reasons.append((Reason.MRZ_CHECK_DIGIT_FAILED, message, f"mrz.{name}"))
