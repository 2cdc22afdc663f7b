"""The single entry point for reading a document photo."""

from __future__ import annotations

from datetime import date

import numpy as np

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason
from services.identity.documents.cn_reader import read_cn_id
from services.identity.documents.licence_reader import looks_like_licence, read_licence
from services.identity.documents.model import DocumentKind, DocumentResult
from services.identity.documents.mrz_reader import looks_like_mrz_document, read_mrz_document
from services.identity.documents.ocr import Tesseract, TesserocrEngine, default_ocr
from services.vision.faces import FaceEngine


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
        if kind_hint is None and looks_like_licence(front_bgr):
            kind_hint = DocumentKind.CN_BUSINESS_LICENCE  # red emblem top centre, no hint given
        guessed = None
        if kind_hint is None:  # an MRZ along the bottom of either side: passport page or TD1 card
            guessed = looks_like_mrz_document(front_bgr) or (
                looks_like_mrz_document(back_bgr) if back_bgr is not None else None
            )
        if guessed is not None:
            try:
                return read_mrz_document(front_bgr, back_bgr, guessed, today, self.engine, self.ocr)
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
