"""The enterprise check: the business licence's legal representative (法定代表人) must be
the person whose ID card the executive presented.

The comparison is plain data (`compare_legal_representative`). SubmitDocument links the
two documents either way round, as the request says (identity.proto):

- an ID card with `licence_document_id`: the card's name against that licence's legal
  representative;
- a business licence with `legal_representative_subject_id`: the licence's legal
  representative against the name read from that subject's ID card.

Names are read by OCR, so a mismatch is a reason for review (a person compares the two
images), not an automatic rejection; an unreadable name on either side is also review.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.core.errors import invalid, not_found, precondition
from services.core.reasons import Reason
from services.identity.documents.model import DocumentKind, DocumentResult, FieldStatus

if TYPE_CHECKING:
    from services.app import App

# Separators written inside names (ethnic-minority names use the middle dot).
_SEPARATORS = re.compile(r"[\s·•‧・.\-]")


def normalise_name(name: str) -> str:
    """A name reduced to what a comparison should see: NFKC (full-width to half-width),
    upper case, no spaces or middle dots."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name)).upper()


@dataclass
class LegalRepCheck:
    """Outcome of comparing the licence's legal representative with an ID card's name."""

    matched: bool | None  # None: one of the names is missing, nothing was compared
    reasons: list[tuple[Reason, str]] = field(default_factory=list)


def compare_legal_representative(licence_name: str, id_card_name: str) -> LegalRepCheck:
    """Compare the legal representative printed on the licence with the name on the ID card."""
    a, b = normalise_name(licence_name), normalise_name(id_card_name)
    if not a or not b:
        which = "licence's legal representative" if not a else "name on the ID card"
        return LegalRepCheck(
            None,
            [(Reason.FIELD_UNREADABLE, f"the {which} could not be read, so the two could not be compared")],
        )
    if a == b:
        return LegalRepCheck(True)
    return LegalRepCheck(
        False,
        [
            (
                Reason.LEGAL_REPRESENTATIVE_MISMATCH,
                f"the licence names {licence_name} as legal representative, the ID card {id_card_name}: "
                "a reviewer compares the two documents",
            )
        ],
    )


def apply(result: DocumentResult, counterpart_name: str, field_name: str) -> None:
    """Add the comparison's outcome to a read document: the compared field becomes VALID
    (matched) or INVALID (mismatch), and the reasons join the document's."""
    own = result.fields.get(field_name)
    check = (
        compare_legal_representative(own.value if own else "", counterpart_name)
        if field_name == "legal_representative"
        else compare_legal_representative(counterpart_name, own.value if own else "")
    )
    if own is not None and check.matched is not None and own.status is not FieldStatus.UNREADABLE:
        own.status = FieldStatus.VALID if check.matched else FieldStatus.INVALID
        own.reasons.extend(check.reasons)
    for code, message in check.reasons:
        result.reasons.append((code, message, field_name))


def check_link(app: App, result: DocumentResult, licence_document_id: str, legal_rep_subject_id: str) -> None:
    """Run the enterprise check a SubmitDocument request asks for (see the module doc):
    load the other side's name and apply the comparison to `result`."""
    from sellerverify.v1 import identity_pb2 as pb

    from services.identity import subjects
    from services.platform.models import DocumentRow

    if licence_document_id:
        if result.kind is DocumentKind.CN_BUSINESS_LICENCE:
            raise invalid(
                Reason.INVALID_FIELD,
                "licence_document_id links an ID card to a licence; for a licence, use legal_representative_subject_id",
                "licence_document_id",
            )
        with app.db.read() as session:
            row = session.get(DocumentRow, licence_document_id)
            hidden = not_found(Reason.DOCUMENT_NOT_FOUND, f"no business licence with id {licence_document_id!r}")
            if row is None or row.kind != DocumentKind.CN_BUSINESS_LICENCE.value:
                raise hidden
            subjects.require_document_visible(session, row, hidden)  # another onboarding client's: as unknown
            stored = pb.GetDocumentResponse.FromString(
                app.keys.open(row.fields_sealed, f"document:{licence_document_id}")
            )
        rep = next((f.value for f in stored.fields if f.name == "legal_representative"), "")
        apply(result, rep, "name")
    if legal_rep_subject_id:
        if result.kind is not DocumentKind.CN_BUSINESS_LICENCE:
            raise invalid(
                Reason.INVALID_FIELD,
                "legal_representative_subject_id applies to a business licence; for an ID card, use "
                "licence_document_id",
                "legal_representative_subject_id",
            )
        with app.db.read() as session:
            subject = subjects.get_subject(session, legal_rep_subject_id)
            sealed = subject.name_sealed
        if sealed is None:
            raise precondition(
                Reason.FAILED_PRECONDITION,
                f"subject {legal_rep_subject_id!r} has no ID card read yet: submit the legal representative's "
                "ID card first, or submit it later with licence_document_id",
            )
        name = app.keys.open(sealed, f"subject-name:{legal_rep_subject_id}").decode()
        apply(result, name, "legal_representative")
