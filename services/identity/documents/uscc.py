"""Unified social credit codes (GB 32100-2015).

18 characters over 0-9 and A-Z without I, O, S, V, Z; check character = (31 - sum of
value x weight mod 31) mod 31 with weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28.
Some early codes fail the checksum legitimately: a checksum failure is a reason for
review, never an automatic rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.core.reasons import Reason

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Letters not in the alphabet that OCR produces for ones that are.
_LOOKALIKE = {"O": "0", "I": "1", "S": "5", "Z": "2", "V": "U"}
_CONFUSIONS = {"0": "D8", "D": "0", "8": "B", "B": "8", "1": "7", "7": "1", "5": "6", "6": "5", "2": "Z", "U": "W"}


def check_char(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


@dataclass
class CreditCodeCheck:
    code: str
    checksum_ok: bool = False
    well_formed: bool = False
    corrected_from: str | None = None
    reasons: list[tuple[Reason, str]] = field(default_factory=list)


def validate(raw: str, uncertain: frozenset[int] = frozenset()) -> CreditCodeCheck:
    """Format and GB 32100 checksum; a single OCR confusion at a position the OCR marked
    uncertain is corrected only when the checksum confirms exactly one candidate."""
    code = "".join(raw.split()).upper()
    code = "".join(_LOOKALIKE.get(c, c) for c in code)
    result = CreditCodeCheck(code=code)
    if len(code) != 18 or any(c not in ALPHABET for c in code):
        result.reasons.append(
            (Reason.CREDIT_CODE_MALFORMED, "the credit code must be 18 characters of 0-9 and A-Z without I, O, S, V, Z")
        )
        return result
    result.well_formed = True
    if check_char(code[:17]) == code[17]:
        result.checksum_ok = True
        return result
    fixed = _repair(code, uncertain)
    if fixed is not None:
        result.corrected_from, result.code, result.checksum_ok = code, fixed, True
        return result
    result.reasons.append(
        (
            Reason.CREDIT_CODE_CHECKSUM_FAILED,
            "the credit code's check character does not match (GB 32100); some early codes do: a reviewer checks it",
        )
    )
    return result


def _repair(code: str, uncertain: frozenset[int]) -> str | None:
    found = set()
    for i, ch in enumerate(code):
        if i not in uncertain:
            continue
        for alt in _CONFUSIONS.get(ch, ""):
            cand = code[:i] + alt + code[i + 1 :]
            if all(c in ALPHABET for c in cand) and check_char(cand[:17]) == cand[17]:
                found.add(cand)
    return found.pop() if len(found) == 1 else None
