"""The single entry point for reading a document photo."""

from __future__ import annotations

from datetime import date

import numpy as np

from services.core.errors import DomainError, ErrorKind, invalid
from services.core.reasons import Reason
from services.identity.documents import cn_sides, presence
from services.identity.documents.cn_reader import read_cn_back, read_cn_id
from services.identity.documents.licence_reader import looks_like_licence, read_licence
from services.identity.documents.model import DocumentKind, DocumentResult, FieldStatus
from services.identity.documents.mrz_reader import looks_like_mrz_document, read_mrz_document
from services.identity.documents.ocr import Tesseract, TesserocrEngine, default_ocr
from services.identity.documents.rectify import shared_finding
from services.vision.faces import FaceEngine

# Errors that a wrong picture (a selfie, a back, swapped sides) also produces.
_WRONG_PICTURE = frozenset(
    {Reason.NO_DOCUMENT_FOUND, Reason.DOCUMENT_CUT_OFF, Reason.IMAGE_TOO_SMALL, Reason.PORTRAIT_NOT_FOUND}
)


class DocumentReader:
    """Reads documents with one OCR engine and the face engine (for the portrait)."""

    def __init__(self, engine: FaceEngine, ocr: Tesseract | TesserocrEngine | None = None) -> None:
        self.engine = engine
        self.ocr = ocr or default_ocr()

    def models(self) -> list[dict[str, str]]:
        """The recognisers a reading may use, as recorded with each verification."""
        from services.vision import ppocr

        out = [{"engine": "tesseract", "model": "chi_sim+eng", "version": "5"}]
        lines = ppocr.shared()
        if lines is not None:
            out.append({"engine": lines.info.engine, "model": lines.info.model, "version": lines.info.version})
        return out

    def read(
        self, front_bgr: np.ndarray, back_bgr: np.ndarray | None, kind_hint: DocumentKind | None, today: date
    ) -> DocumentResult:
        """Read and check a document; a newcomer's wrong picture gets an error that says so."""
        # The classifier, the quality gate and the reader look for the same outlines.
        with shared_finding():
            try:
                return self._read(front_bgr, back_bgr, kind_hint, today)
            except DomainError as err:
                if err.reason in _WRONG_PICTURE:
                    explained = self._explain(err, front_bgr, back_bgr, kind_hint)
                    if explained is not None:
                        raise explained from err
                raise

    def read_back(self, back_bgr: np.ndarray, today: date) -> DocumentResult:
        """The back of a Chinese ID card sent on its own (its front is already on file)."""
        with shared_finding():
            return read_cn_back(back_bgr, today, self.ocr)

    def _explain(
        self, err: DomainError, front_bgr: np.ndarray, back_bgr: np.ndarray | None, kind_hint: DocumentKind | None
    ) -> DomainError | None:
        """Why no document was read, when the picture itself says (only on the error path)."""
        side = err.violations[0].field if err.violations else "front"
        image = back_bgr if side == "back" and back_bgr is not None else front_bgr
        faces = self.engine.detect(image)
        if faces and presence.is_selfie(image, faces[0].box):
            return invalid(
                Reason.NO_DOCUMENT_FOUND,
                f"the {side} photo shows a person's face, not a document: photograph the ID document itself, "
                "flat and in full (the live selfie goes to MatchFace)",
                side,
            )
        if err.reason is not Reason.PORTRAIT_NOT_FOUND or kind_hint not in (None, DocumentKind.CN_RESIDENT_ID):
            return None
        if back_bgr is not None and cn_sides.has_portrait(back_bgr, self.engine):
            return invalid(
                Reason.DOCUMENT_SIDES_SWAPPED,
                "the front and back photos are swapped: the side with the portrait is the front",
                "front",
            )
        if cn_sides.looks_like_back(front_bgr, self.ocr):
            return invalid(
                Reason.BACK_SENT_AS_FRONT,
                "this is the back of the ID card (validity period, issuing authority): send the side with the "
                "portrait as the front, and this one as the back",
                "front",
            )
        return None

    @staticmethod
    def classify(front_bgr: np.ndarray, back_bgr: np.ndarray | None) -> DocumentKind | None:
        """The kind a photo shows, without OCR: a licence by its red emblem, a passport page
        or TD1 card by the MRZ rows on either side; None: read as a Chinese ID card."""
        if looks_like_licence(front_bgr):
            return DocumentKind.CN_BUSINESS_LICENCE  # red emblem at the middle of an edge
        # An MRZ along the bottom of either side: passport page or TD1 card. The back first
        # when there is one (a TD1 card's MRZ side; the front's text rows above its edge
        # passed for a passport's two MRZ rows on 1 of 30 clean cards).
        sides = (back_bgr, front_bgr) if back_bgr is not None else (front_bgr,)
        return next((kind for side in sides if (kind := looks_like_mrz_document(side)) is not None), None)

    def _read(
        self, front_bgr: np.ndarray, back_bgr: np.ndarray | None, kind_hint: DocumentKind | None, today: date
    ) -> DocumentResult:
        guessed = self.classify(front_bgr, back_bgr) if kind_hint is None else None
        if guessed is DocumentKind.CN_BUSINESS_LICENCE:
            kind_hint, guessed = guessed, None
        if guessed is not None:
            try:
                mrz_doc = read_mrz_document(front_bgr, back_bgr, guessed, today, self.engine, self.ocr)
                # Only a guess: rows of print on a page under a card can pass for MRZ rows;
                # a zone whose number and dates are all unreadable was no MRZ (issue #15:
                # valid ID cards on a printed page failed as unreadable passports).
                if any(
                    f.status is not FieldStatus.UNREADABLE
                    for k, f in mrz_doc.fields.items()
                    if k in ("document_number", "birth_date", "expiry_date")
                ):
                    return mrz_doc
            except DomainError as err:
                # Only a guess: a Chinese ID card's number line (OCR-B-like digits along the
                # bottom) can pass for an MRZ row on a blurred photo. No zone found means it
                # was not an MRZ document after all.
                if err.reason is not Reason.MRZ_NOT_FOUND:
                    raise
        if kind_hint in (DocumentKind.PASSPORT_TD3, DocumentKind.ID_CARD_TD1):
            return read_mrz_document(front_bgr, back_bgr, kind_hint, today, self.engine, self.ocr)
        kind = kind_hint or DocumentKind.CN_RESIDENT_ID
        if kind is DocumentKind.CN_BUSINESS_LICENCE:
            return read_licence(front_bgr, today, self.ocr)
        if kind is DocumentKind.CN_RESIDENT_ID:
            return read_cn_id(front_bgr, back_bgr, today, self.engine, self.ocr)
        raise DomainError(
            Reason.NOT_IMPLEMENTED,
            f"reading {kind.value.replace('_', ' ')} documents is not served by this version yet "
            "(Chinese resident ID cards are)",
            ErrorKind.NOT_IMPLEMENTED,
        )
