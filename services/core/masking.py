"""Masked forms of identifying numbers, and what a personal-data purge keeps of a
document's fields (plain rules over strings: no storage, no transport)."""

from __future__ import annotations

from collections.abc import Callable


def mask_id_number(number: str) -> str:
    """Keep the region prefix and the last 4 characters: 1101**********123X."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


# Numbers on passports and TD1 cards that identify the holder (the visual zone's copy too).
MRZ_NUMBER_FIELDS = ("document_number", "personal_number", "viz.document_number")


def mask_document_number(number: str) -> str:
    """A passport / TD1 number with only its last 3 characters shown: ******89X (all masked up to 4)."""
    if len(number) <= 4:
        return "*" * len(number)
    return "*" * (len(number) - 3) + number[-3:]


# After a document's personal-data retention: numbers keep their masked form...
MASKED_AFTER_RETENTION: dict[str, Callable[[str], str]] = {
    "citizen_number": mask_id_number,
    **dict.fromkeys(MRZ_NUMBER_FIELDS, mask_document_number),
}
# ...these describe the document or a company, not a person, and stay as read...
KEPT_AFTER_RETENTION = frozenset({"credit_code", "company_name", "document_code", "issuing_state"})
# ...and every other value (name, address, dates, sex, nationality, legal
# representative, ...) is emptied. New fields are personal until listed above.


def minimised_value(name: str, value: str) -> str | None:
    """What the purge keeps of field `name`: its value, a masked form, or "" (None: unchanged)."""
    if name in KEPT_AFTER_RETENTION or not value:
        return None
    mask = MASKED_AFTER_RETENTION.get(name)
    if mask is not None:
        masked = mask(value)
        return None if masked == value else masked
    return ""
