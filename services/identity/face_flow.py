"""The face-matching use case: reference portrait, calibrated decision, 1:N check,
and what to persist. Called by the identity servicer; no protobuf here except the
response it persists for idempotency."""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.app import FACE_FLOW, App
from services.core.errors import DomainError, ErrorKind, invalid
from services.core.images import DecodedImage, ImageLimits, decode_image
from services.core.reasons import Reason
from services.identity import enrolment, subjects
from services.identity.documents import presence
from services.identity.duplicates import DuplicateFinding, SearchIndex, find_duplicates
from services.identity.face_match import CalibrationTable, Decision, FaceMatcher, FaceTemplate, MatchOutcome, PairType
from services.platform.models import BlobRow
from services.platform.records import utcnow
from services.vision.face_quality import MATCH_POLICY, FaceQuality, Guidance, guidance_for
from services.vision.faces import default_engine
from services.vision.second_opinion import default_describer


@dataclass
class Look:
    """What one live frame shows: the instruction to give, and a template when it is good."""

    guidance: Guidance
    message: str
    quality: FaceQuality | None
    template: FaceTemplate | None


@dataclass
class MatchRun:
    outcome: MatchOutcome
    findings: list[DuplicateFinding] = field(default_factory=list)
    enrol: bool = False


# Stored ID-portrait templates kept per process (a template with its portrait image is
# about 100 KB: 256 of them about 25 MB).
PORTRAIT_CACHE = 256


# Cosine similarity above which a new template of a subject is the same as one it has:
# the same photo sent again scores about 1.0, while two different photos of one person
# scored at most 0.85 over the 120 same-person pairs of data/faces (SFace), so those are
# all still enrolled.
ENROL_SAME_AS = 0.95

# Threads that work on a call's second image while the calling worker thread does the
# first (decode, detection, alignment, embedding side by side: each inference runs on one
# thread, services/vision/openvino_cpu.py). Its own pool, never the servicers' executor:
# a worker waiting for its helper must never wait behind other workers doing the same.
SIDE_THREADS = 2

T = TypeVar("T")


def _attempt(fn: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - re-raised by the caller in a fixed order
        return None, exc


class FaceFlow:
    """Process-wide face components (engine, calibration, template index) and the flow."""

    LAZY_NAME = FACE_FLOW

    @classmethod
    def shared(cls, app: App) -> FaceFlow:
        """The process's one flow, built on first use (models and index load once)."""
        flow: FaceFlow = app.lazy(cls.LAZY_NAME, lambda: cls(app))
        return flow

    def __init__(self, app: App) -> None:
        self.app = app
        self._ocr: Any = None
        self._portraits: OrderedDict[tuple[str, bool], FaceTemplate] = OrderedDict()
        self._portraits_lock = threading.Lock()
        self._side = ThreadPoolExecutor(max_workers=SIDE_THREADS, thread_name_prefix="sv-face-side")
        engine = default_engine(app.settings.arcface_model_dir)
        second = default_describer() if app.settings.face_second_opinion else None
        self.matcher = FaceMatcher(
            engine, CalibrationTable.load(engine.info.engine), app.settings.face_match_fmr, second_opinion=second
        )
        s = app.settings
        pgvector_url = (s.pgvector_url or s.resolved_database_url()) if s.template_index == "pgvector" else ""
        self.index: SearchIndex = enrolment.open_index(
            app.db,
            app.blobs,
            engine.info.engine,
            engine.info.version,
            pgvector_url=pgvector_url,
            secret=app.keys.pepper,
            # Worker processes of one server each hold an index over the one database.
            shared=s.worker_index >= 0,
        )

    @property
    def photo_thresholds(self) -> tuple[float, float]:
        """(same-face threshold for duplicates, different-face threshold for ID reuse)."""
        op = self.matcher.table.pair_types[PairType.PHOTO_VS_PHOTO]
        return op.threshold(0.0001), op.threshold(0.01)

    def reference_portrait(self, subject_id: str) -> np.ndarray:
        """The subject's stored ID portrait, decoded."""
        _, data = self._portrait_blob(subject_id, load=True)
        assert data is not None
        return decode_image(data, field="reference").bgr

    def _portrait_blob(self, subject_id: str, *, load: bool) -> tuple[str, bytes | None]:
        """The id of the subject's live ID-portrait blob and, with `load`, its bytes; raises
        NO_REFERENCE_PORTRAIT when there is none or it is past retention."""
        with self.app.db.read() as session:
            subject = subjects.get_subject(session, subject_id)
            blob_id = subject.reference_blob_id
            if blob_id is None:
                raise DomainError(
                    Reason.NO_REFERENCE_PORTRAIT,
                    "the subject has no ID portrait yet: submit the ID document first, or pass a reference image",
                    ErrorKind.PRECONDITION,
                )
            if load:
                got = self.app.blobs.get(session, blob_id)
                live, data = got is not None, got[0] if got is not None else None
            else:
                live, data = self._blob_live(session, blob_id), None
        if not live:
            raise DomainError(
                Reason.NO_REFERENCE_PORTRAIT,
                "the subject's ID portrait is past retention; submit the ID document again",
                ErrorKind.PRECONDITION,
            )
        return blob_id, data

    def _blob_live(self, session: Session, blob_id: str) -> bool:
        """Whether a blob exists and is within retention (the test `BlobStore.get` applies),
        without reading or opening its sealed bytes."""
        row = session.execute(
            select(BlobRow.purpose, BlobRow.created_at, BlobRow.expires_at).where(BlobRow.id == blob_id)
        ).first()
        if row is None:
            return False
        now = utcnow()
        return bool(row.expires_at > now and row.created_at + self.app.blobs.keep_for(row.purpose) > now)

    def portrait_template(self, subject_id: str, portrait: bool) -> FaceTemplate:
        """The template of the subject's stored ID portrait. A stored blob never changes
        (a new document stores a new one), so its template is computed once per process
        and kept (LRU, PORTRAIT_CACHE entries): every later MatchFace, RespondChallenge and
        StreamChallenge against the portrait skips its decode, detection and two
        embeddings. Retention still applies: the blob must be live at each use."""
        blob_id, _ = self._portrait_blob(subject_id, load=False)
        key = (blob_id, portrait)
        with self._portraits_lock:
            cached = self._portraits.get(key)
            if cached is not None:
                self._portraits.move_to_end(key)
                return cached
        blob_id, data = self._portrait_blob(subject_id, load=True)  # (a newer document may have replaced it)
        assert data is not None
        what = "ID portrait" if portrait else "reference photo"
        template = self.matcher.template(decode_image(data, field="reference").bgr, portrait=portrait, what=what)
        key = (blob_id, portrait)
        with self._portraits_lock:
            self._portraits[key] = template
            while len(self._portraits) > PORTRAIT_CACHE:
                self._portraits.popitem(last=False)
        return template

    def reference(
        self, subject_id: str, reference_bgr: np.ndarray | None, pair_type: PairType | None
    ) -> tuple[FaceTemplate, PairType]:
        """The template to compare against: a given image, or the subject's ID portrait."""
        if reference_bgr is None:
            pair_type = pair_type or PairType.ID_PORTRAIT_VS_PHOTO
            return self.portrait_template(subject_id, pair_type is PairType.ID_PORTRAIT_VS_PHOTO), pair_type
        with self.app.db.read() as session:
            subjects.get_subject(session, subject_id)
        pair_type = pair_type or PairType.PHOTO_VS_PHOTO
        portrait = pair_type is PairType.ID_PORTRAIT_VS_PHOTO
        what = "ID portrait" if portrait else "reference photo"
        return self.matcher.template(reference_bgr, portrait=portrait, what=what), pair_type

    def finish(
        self, subject_id: str, reference: FaceTemplate, probe: FaceTemplate, pair_type: PairType, enrol: bool
    ) -> MatchRun:
        """Decide, and on a match look for duplicates before enrolment."""
        outcome = self.matcher.decide(reference, probe, pair_type)
        run = MatchRun(outcome)
        if outcome.decision is Decision.MATCH and enrol:
            run.findings, known = self._duplicates_and_known(subject_id, outcome.probe_template)
            # A template all but identical to one the subject has (the same photo sent
            # again, consecutive frames) adds nothing to 1:N search: not stored again, so
            # the index, the database and every later same-ID check stay bounded.
            run.enrol = not known
        return run

    def _beside(self, fn: Callable[[], T]) -> Callable[[], tuple[T | None, BaseException | None]]:
        """Start `fn` on a side thread (in the caller's context: caller, image limits);
        returns how to get its (result, error). If no side thread has taken it by then,
        the caller runs it itself rather than wait."""
        ctx = contextvars.copy_context()
        future: Future[tuple[T | None, BaseException | None]] = self._side.submit(ctx.run, _attempt, fn)

        def outcome() -> tuple[T | None, BaseException | None]:
            if future.cancel():
                return _attempt(fn)
            return future.result()

        return outcome

    def run_images(
        self,
        subject_id: str,
        probe: Callable[[], DecodedImage],
        reference: Callable[[], DecodedImage] | None,
        pair_type: PairType | None,
        enrol: bool,
    ) -> tuple[DecodedImage, DecodedImage | None, MatchRun]:
        """MatchFace: decode the selfie (and the reference image, when one is sent) and
        match. The two images are decoded, and then detected and embedded, side by side;
        errors keep the order of a one-at-a-time run: a bad selfie, a bad reference image,
        an unknown subject (checked before any model work), the reference's face, the
        selfie's face."""
        if reference is None:
            alone = probe()
            stored, pair_type = self.reference(subject_id, None, pair_type)
            alone, probe_template = self.matcher.template_of(alone, what="selfie")
            self.refuse_document_portrait(alone.bgr, probe_template)
            return alone, None, self.finish(subject_id, stored, probe_template, pair_type, enrol)
        reference_decoded = self._beside(reference)
        probe_image, probe_error = _attempt(probe)
        reference_image, reference_error = reference_decoded()
        if probe_error is not None:
            raise probe_error
        if reference_error is not None:
            raise reference_error
        assert probe_image is not None and reference_image is not None
        with self.app.db.read() as session:
            subjects.get_subject(session, subject_id)
        pair_type = pair_type or PairType.PHOTO_VS_PHOTO
        portrait = pair_type is PairType.ID_PORTRAIT_VS_PHOTO
        what = "ID portrait" if portrait else "reference photo"
        ref_decoded = reference_image
        reference_template = self._beside(lambda: self.matcher.template_of(ref_decoded, portrait=portrait, what=what))
        probe_decoded = probe_image
        probe_done, probe_error = _attempt(lambda: self.matcher.template_of(probe_decoded, what="selfie"))
        ref_done, reference_error = reference_template()
        if reference_error is not None:
            raise reference_error
        if probe_error is not None:
            raise probe_error
        assert probe_done is not None and ref_done is not None
        (probe_image, probe_template), (reference_image, ref_template) = probe_done, ref_done
        self.refuse_document_portrait(probe_image.bgr, probe_template)
        return probe_image, reference_image, self.finish(subject_id, ref_template, probe_template, pair_type, enrol)

    def refuse_document_portrait(self, image: np.ndarray, probe: FaceTemplate) -> None:
        """A photo of an ID card is no selfie: matching its printed portrait would pass
        anyone holding the card. Selfie-sized faces skip the check (no OCR on them)."""
        face = probe.quality.face if probe.quality is not None else None
        if face is None or presence.is_selfie(image, face.box):
            return
        if presence.portrait_of_card(image, face.box, self.ocr()):
            raise invalid(
                Reason.ID_CARD_AS_SELFIE,
                "the selfie shows an ID document's portrait, not a live person: take a photo of your own face",
                "probe",
            )

    def ocr(self) -> Any:
        """The one-line OCR the document-portrait check reads card numbers with (built on first use)."""
        if self._ocr is None:
            from services.identity.documents.ocr import default_ocr

            self._ocr = default_ocr()
        return self._ocr

    def look(self, jpeg: bytes, limits: ImageLimits) -> Look:
        """Gate one camera frame; a frame that passes every check is embedded."""
        try:
            image = decode_image(jpeg, limits, "frame.jpeg")
        except DomainError as err:
            return Look(Guidance.HOLD_STILL, err.message, None, None)
        quality, aligned, source = self.matcher.inspect_full(image.bgr, what="camera frame", policy=MATCH_POLICY)
        guidance = guidance_for(quality)
        if guidance is not Guidance.OK or aligned is None:
            return Look(guidance, quality.reasons[0][1] if quality.reasons else "", quality, None)
        # Embedded only once the frame passes every check: guidance frames cost one detection.
        return Look(guidance, "", quality, FaceTemplate(self.matcher.embed_aligned(aligned), quality, source))

    def duplicates(self, subject_id: str, vector: np.ndarray) -> list[DuplicateFinding]:
        return self._duplicates_and_known(subject_id, vector)[0]

    def _duplicates_and_known(self, subject_id: str, vector: np.ndarray) -> tuple[list[DuplicateFinding], bool]:
        """Duplicate findings for `vector`, and whether the subject already has a template
        at least ENROL_SAME_AS similar to it."""
        same_face, different_face = self.photo_thresholds
        info = self.matcher.engine.info
        with self.app.db.read() as session:
            subject = subjects.get_subject(session, subject_id)
            candidates = self.index.search(vector, k=10, min_similarity=same_face)
            hashes = enrolment.id_hashes(session, [c.subject_id for c in candidates])
            same_id = (
                enrolment.same_id_templates(session, self.app.blobs, subject.id_number_hash, info.engine, info.version)
                if subject.id_number_hash
                else []
            )
        known = any(c.subject_id == subject_id and c.similarity >= ENROL_SAME_AS for c in candidates)
        findings = find_duplicates(
            subject_id=subject_id,
            id_number_hash=subject.id_number_hash,
            vector=vector,
            index=self.index,
            id_hash_of=hashes,
            same_id_templates=same_id,
            same_face_threshold=same_face,
            different_face_threshold=different_face,
            candidates=candidates,
        )
        return findings, known

    def forget_templates(self, template_ids: list[str]) -> None:
        """Drop templates deleted by the retention purge from the search index (in one pass:
        each removal rewrites the index's code arrays)."""
        self.index.remove_many(template_ids)

    def enrol(self, session: Session, subject_id: str, vector: np.ndarray) -> str:
        subject = subjects.get_subject(session, subject_id)
        info = self.matcher.engine.info
        return enrolment.store_template(session, self.app.blobs, subject, vector, info.engine, info.version)
