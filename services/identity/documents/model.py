"""Result types of document reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from services.core.reasons import Reason


class DocumentKind(Enum):
    CN_RESIDENT_ID = "cn_resident_id"
    PASSPORT_TD3 = "passport_td3"
    ID_CARD_TD1 = "id_card_td1"
    CN_BUSINESS_LICENCE = "cn_business_licence"


class FieldStatus(Enum):
    VALID = "valid"
    INVALID = "invalid"
    UNREADABLE = "unreadable"
    CORRECTED = "corrected"
    UNCHECKED = "unchecked"


@dataclass
class DocField:
    name: str
    value: str
    confidence: float
    status: FieldStatus
    box: tuple[float, float, float, float] | None = None  # in the submitted image
    side: str = "front"
    reasons: list[tuple[Reason, str]] = field(default_factory=list)


# Reasons that make a document fail outright; others send it to a reviewer.
HARD_FAILURES = frozenset(
    {
        Reason.ID_NUMBER_CHECKSUM_FAILED,
        Reason.ID_NUMBER_REGION_UNKNOWN,
        Reason.ID_NUMBER_MALFORMED,
        Reason.BIRTH_DATE_MISMATCH,
        Reason.SEX_MISMATCH,
        Reason.INVALID_DATE,
        Reason.DOCUMENT_EXPIRED,
        Reason.DOCUMENT_NOT_YET_VALID,
        Reason.MRZ_CHECK_DIGIT_FAILED,
        Reason.MRZ_VISUAL_MISMATCH,
        Reason.CREDIT_CODE_MALFORMED,
        Reason.DOCUMENT_KIND_MISMATCH,
    }
)


@dataclass
class DocumentResult:
    kind: DocumentKind
    fields: dict[str, DocField]
    reasons: list[tuple[Reason, str, str]] = field(default_factory=list)  # (code, message, field)
    portrait_bgr: np.ndarray | None = None
    portrait_box: tuple[float, float, float, float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """pass, fail (a hard failure) or review (doubtful: unreadable fields, early credit codes)."""
        codes = {c for c, _, _ in self.reasons}
        if codes & HARD_FAILURES:
            return "fail"
        if codes:
            return "review"
        return "pass"

    def value(self, name: str) -> str:
        f = self.fields.get(name)
        return f.value if f else ""
