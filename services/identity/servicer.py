"""IdentityService servicer: thin protobuf <-> domain glue."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message
from sellerverify.v1 import common_pb2
from sellerverify.v1 import identity_pb2 as pb
from sellerverify.v1 import identity_pb2_grpc as pb_grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import invalid, not_found, precondition
from services.core.images import DecodedImage, encode_jpeg
from services.core.reasons import Reason
from services.identity import enrolment, subjects
from services.identity.convert import (
    KIND_FROM_PB,
    KIND_TO_PB,
    SUBJECT_KIND_FROM_PB,
    document_fields_to_pb,
    match_response,
    quality_to_pb,
    subject_to_pb,
)
from services.identity.documents import cn_sides, enterprise_check
from services.identity.documents.model import DocumentKind, DocumentResult
from services.identity.documents.reader import DocumentReader
from services.identity.duplicates import DuplicateFinding
from services.identity.face_flow import FaceFlow, MatchRun
from services.identity.face_match import MATCH_DECODE_SIDE, FaceTemplate, PairType
from services.platform import ownership
from services.platform.auth import current_caller
from services.platform.frame_pump import PumpStats, Step, pump
from services.platform.models import DocumentRow, FaceTemplateRow
from services.platform.records import new_id, utcnow
from services.platform.records_pb import VERDICT_TO_PB, reason_dict, reason_to_pb, verification_to_pb
from services.platform.servicer_base import ServicerBase, first_config, require, ts
from services.trust.results import settle
from services.vision.face_quality import GUIDANCE_TEXT, Guidance

SERVICE = "sellerverify.v1.IdentityService"


PAIR_FROM_PB = {
    pb.PAIR_TYPE_ID_PORTRAIT_VS_PHOTO: "id_portrait_vs_photo",
    pb.PAIR_TYPE_PHOTO_VS_PHOTO: "photo_vs_photo",
}


GUIDANCE_TO_PB = {g: getattr(pb, f"GUIDANCE_{g.name}") for g in Guidance}


async def _frames(requests: AsyncIterator[pb.StreamMatchFaceRequest]) -> AsyncIterator[pb.CameraFrame]:
    async for message in requests:
        if message.HasField("frame"):
            yield message.frame


class IdentityServicer(pb_grpc.IdentityServiceServicer, ServicerBase):
    """Subjects, documents, face matching and duplicate search."""

    @property
    def faces(self) -> FaceFlow:
        return FaceFlow.shared(self.app)

    async def MatchFace(self, request: pb.MatchFaceRequest, context: grpc.aio.ServicerContext) -> pb.MatchFaceResponse:
        method = f"/{SERVICE}/MatchFace"
        subject_id = require(request.subject_id, "subject_id")
        stored = await self.replayed(method, request, pb.MatchFaceResponse)
        if stored is not None:
            return stored
        pair_name = PAIR_FROM_PB.get(request.pair_type)
        pair_type = PairType(pair_name) if pair_name else None

        def work() -> tuple[DecodedImage, DecodedImage | None, MatchRun]:
            # On the worker pool, in one hop: decoding a large photo takes up to ~0.1 s and
            # must not stall the event loop. Bad images are refused before any model work.
            return self.faces.run_images(
                subject_id,
                lambda: self.decode(request.probe.content, "probe.content", MATCH_DECODE_SIDE),
                (lambda: self.decode(request.reference.content, "reference.content", MATCH_DECODE_SIDE))
                if request.reference.content
                else None,
                pair_type,
                not request.skip_enrolment,
            )

        probe, reference, run = await self.offload(work)
        inputs = [("selfie", request.probe.content, probe.media_type)]
        if reference is not None:
            inputs.append(("reference", request.reference.content, reference.media_type))
        return await self._record_match(method, request, subject_id, run, inputs)

    async def _record_match(
        self,
        method: str,
        request: Message,
        subject_id: str,
        run: MatchRun,
        inputs: list[tuple[str, bytes, str]],
    ) -> pb.MatchFaceResponse:
        """Persist a match (inputs sealed, record, case, enrolment) in one transaction."""
        outcome = run.outcome
        caller = current_caller()
        verification_id = new_id()
        enrolled: list[str] = []

        def write(session: Session) -> pb.MatchFaceResponse:
            subject = subjects.get_subject(session, subject_id, for_update=True)
            blob_ids = [
                self.app.blobs.put(session, data, purpose=purpose, media_type=media, subject_id=subject_id)
                for purpose, data, media in inputs
            ]
            reasons = [reason_dict(r.value, m) for r, m in outcome.reasons]
            reasons += [reason_dict(f.reason.value, f.detail) for f in run.findings]
            decision = outcome.decision.value
            verdict = (
                "review" if run.findings else {"match": "pass", "no_match": "fail", "uncertain": "review"}[decision]
            )
            check = {
                "name": "face_match",
                "verdict": verdict,
                "score": outcome.similarity,
                "detail": f"similarity {outcome.similarity:.3f}, match at >= {outcome.threshold_match:.3f} "
                f"({outcome.pair_type.value}), estimated FMR {outcome.estimated_fmr:.2g}",
                "reasons": reasons,
            }
            model = {"engine": outcome.model.engine, "model": outcome.model.model, "version": outcome.model.version}
            if run.enrol:
                enrolled.append(self.faces.enrol(session, subject_id, outcome.probe_template))
            case_id = settle(
                session,
                subject=subject,
                verdict=verdict,
                case_kind="duplicate" if run.findings else "face_match",
                caller=caller,
                verification_id=verification_id,
                reasons=reasons,
                checks=[check],
                evidence=[(blob_ids[0], inputs[0][0], inputs[0][2])],
                passed_check="face",
                duplicates=[(f.other_subject_id, f.reason.value) for f in run.findings],
            )
            response = match_response(verification_id, outcome, run.findings, reasons, case_id)
            self.app.verifications.add(
                session,
                verification_id=verification_id,
                caller=caller,
                method=method,
                request_id=request.request_id,  # type: ignore[attr-defined]
                subject_id=subject_id,
                kind="face_match",
                verdict=verdict,
                reasons=reasons,
                checks=[check],
                models=[model],
                input_blob_ids=blob_ids,
                result=response,
            )
            self.app.audit.record(session, caller, "match_face", subject_id, verification_id, f"decision={decision}")
            return response

        response = await self.mutate(method, request, pb.MatchFaceResponse, write)
        if enrolled and response.verification_id == verification_id:
            self.faces.index.add(enrolled[0], subject_id, outcome.probe_template)
        return response

    async def StreamMatchFace(
        self, request_iterator: AsyncIterator[pb.StreamMatchFaceRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamMatchFaceResponse]:
        method = f"/{SERVICE}/StreamMatchFace"
        config = await first_config(request_iterator)
        subject_id = require(config.subject_id, "config.subject_id")
        stored = await self.replayed(method, config, pb.MatchFaceResponse)
        if stored is not None:
            yield pb.StreamMatchFaceResponse(result=stored)
            return

        def open_reference() -> tuple[DecodedImage | None, FaceTemplate, PairType]:
            reference = (
                self.decode(config.reference.content, "config.reference.content") if config.reference.content else None
            )
            template, pair = self.faces.reference(subject_id, reference.bgr if reference else None, None)
            return reference, template, pair

        reference, ref_template, pair_type = await self.offload(open_reference)
        limits = self.app.image_limits
        frames = _frames(request_iterator)

        async def process(frame: pb.CameraFrame, stats: PumpStats) -> Step[pb.StreamMatchFaceResponse]:
            started = time.perf_counter()
            look = await self.offload(self.faces.look, frame.jpeg, limits)
            feedback = pb.FrameFeedback(
                sequence=frame.sequence,
                guidance=GUIDANCE_TO_PB[look.guidance],
                message_en=GUIDANCE_TEXT[look.guidance][0] if not look.message else look.message,
                message_zh=GUIDANCE_TEXT[look.guidance][1],
                quality=quality_to_pb(look.quality),
                frames_dropped=stats.dropped,
                processing_ms=(time.perf_counter() - started) * 1000,
            )
            messages = [pb.StreamMatchFaceResponse(feedback=feedback)]
            if look.template is None:
                return Step(messages)
            run = await self.offload(self.faces.finish, subject_id, ref_template, look.template, pair_type, True)
            inputs = [("selfie", frame.jpeg, "image/jpeg")]
            if reference is not None:
                inputs.append(("reference", config.reference.content, reference.media_type))
            result = await self._record_match(method, config, subject_id, run, inputs)
            messages.append(pb.StreamMatchFaceResponse(result=result))
            return Step(messages, done=True)

        async for message in pump(frames, process, deadline_s=config.timeout_seconds or 30.0):
            yield message

    @property
    def documents(self) -> DocumentReader:
        return self.app.lazy("document_reader", lambda: DocumentReader(self.faces.matcher.engine))

    async def SubmitDocument(
        self, request: pb.SubmitDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitDocumentResponse:
        method = f"/{SERVICE}/SubmitDocument"
        subject_id = require(request.subject_id, "subject_id")
        stored = await self.replayed(method, request, pb.SubmitDocumentResponse)
        if stored is not None:
            return stored
        if not request.front.content and request.back.content:
            return await self._submit_back(method, request, subject_id)
        kind = KIND_FROM_PB.get(request.kind_hint)

        def work() -> tuple[DecodedImage, DecodedImage | None, DocumentResult]:
            # Decode (bad images refused first), the subject check and the reading, all on
            # the worker pool in one hop: nothing here may block the event loop.
            front = self.decode(request.front.content, "front.content")
            back = self.decode(request.back.content, "back.content") if request.back.content else None
            with self.app.db.read() as session:
                subjects.get_subject(session, subject_id)
            result = self.documents.read(front.bgr, back.bgr if back else None, kind, datetime.now(UTC).date())
            return front, back, result

        front, back, result = await self.offload(work)
        if request.licence_document_id or request.legal_representative_subject_id:
            await self.offload(
                enterprise_check.check_link,
                self.app,
                result,
                request.licence_document_id,
                request.legal_representative_subject_id,
            )
        caller = current_caller()
        verification_id, document_id = new_id(), new_id()
        fields_pb = document_fields_to_pb(result)

        def write(session: Session) -> pb.SubmitDocumentResponse:
            subject = subjects.get_subject(session, subject_id, for_update=True)
            blobs = self.app.blobs
            front_blob = blobs.put(
                session,
                request.front.content,
                purpose="document_front",
                media_type=front.media_type,
                subject_id=subject_id,
            )
            back_blob = (
                blobs.put(
                    session,
                    request.back.content,
                    purpose="document_back",
                    media_type=back.media_type,
                    subject_id=subject_id,
                )
                if back
                else None
            )
            reasons = [reason_dict(c.value, m, f) for c, m, f in result.reasons]
            verdict = result.verdict
            number = result.value("citizen_number")
            if result.portrait_bgr is not None and verdict != "fail":
                subject.reference_blob_id = blobs.put(
                    session,
                    encode_jpeg(result.portrait_bgr, 95),
                    purpose="id_portrait",
                    media_type="image/jpeg",
                    subject_id=subject_id,
                )
            if number and result.fields["citizen_number"].status.value in ("valid", "corrected"):
                subject.id_number_hash = self.app.keys.keyed_hash(number, "cn_id")
                subject.id_number_masked = subjects.mask_id_number(number)
                name = result.value("name")
                if name:
                    subject.name_sealed = self.app.keys.seal(name.encode(), f"subject-name:{subject_id}")
            elif subjects.mrz_number_confirmed(result):
                # A passport / TD1 number: like the CN ID number, only a keyed hash (scoped by
                # issuing state) and a masked form are kept on the subject, never the number.
                number = result.value("document_number")
                subject.id_number_hash = self.app.keys.keyed_hash(
                    f"{result.value('issuing_state')}:{number}", "mrz_document"
                )
                subject.id_number_masked = subjects.mask_document_number(number)
                name = " ".join(filter(None, (result.value("surname"), result.value("given_names"))))
                if name:
                    subject.name_sealed = self.app.keys.seal(name.encode(), f"subject-name:{subject_id}")
            return self._record_document(
                session,
                subject=subject,
                method=method,
                request_id=request.request_id,
                caller=caller,
                document_id=document_id,
                verification_id=verification_id,
                kind=result.kind,
                verdict=verdict,
                reasons=reasons,
                fields_pb=fields_pb,
                blobs=(front_blob, back_blob),
                detail=result.kind.value,
                evidence=[(front_blob, "document_front", front.media_type)],
                # A licence is the enterprise's document, not a real-person check of the subject.
                passed_check=None if result.kind is DocumentKind.CN_BUSINESS_LICENCE else "document",
                timings_ms=result.timings_ms,
                portrait_found=result.portrait_bgr is not None,
                portrait_box=result.portrait_box,
                input_blob_ids=[b for b in (front_blob, back_blob) if b],
                audit_action="submit_document",
            )

        return await self.mutate(method, request, pb.SubmitDocumentResponse, write)

    async def _submit_back(
        self, method: str, request: pb.SubmitDocumentRequest, subject_id: str
    ) -> pb.SubmitDocumentResponse:
        """The back of a Chinese ID card on its own, for a subject whose front is on file:
        the back is read and checked, and the card's verdict combines both sides."""

        def on_file() -> tuple[DecodedImage, str, str | None, list[Any], Any, DocumentResult]:
            # Decode, the front's lookup and the reading on the worker pool in one hop.
            back = self.decode(request.back.content, "back.content")
            with self.app.db.read() as session:
                subjects.get_subject(session, subject_id)
                front_row = session.scalars(
                    select(DocumentRow)
                    .where(
                        DocumentRow.subject_id == subject_id,
                        DocumentRow.kind == DocumentKind.CN_RESIDENT_ID.value,
                        DocumentRow.front_blob_id.is_not(None),
                    )
                    .order_by(DocumentRow.created_at.desc())
                    .limit(1)
                ).first()
                if front_row is None or front_row.verdict == "fail":
                    raise precondition(
                        Reason.FRONT_NOT_ON_FILE,
                        "no readable front of a Chinese ID card is on file for this subject: submit the front "
                        "(the side with the portrait) first, or both sides together",
                    )
                fields = pb.GetDocumentResponse.FromString(
                    self.app.keys.open(front_row.fields_sealed, f"document:{front_row.id}")
                ).fields
                front = (front_row.id, front_row.front_blob_id, list(front_row.reasons), fields)
            return back, *front, self.documents.read_back(back.bgr, datetime.now(UTC).date())

        back, front_id, front_blob_id, front_reasons, front_fields, result = await self.offload(on_file)
        back_reasons = [reason_dict(c.value, m, f) for c, m, f in result.reasons]
        verdict, reasons = cn_sides.combine_sides(front_reasons, back_reasons)
        front_only = [f for f in front_fields if f.side != pb.DOCUMENT_SIDE_BACK]
        fields_pb = front_only + document_fields_to_pb(result)
        caller = current_caller()
        verification_id, document_id = new_id(), new_id()

        def write(session: Session) -> pb.SubmitDocumentResponse:
            subject = subjects.get_subject(session, subject_id, for_update=True)
            back_blob = self.app.blobs.put(
                session,
                request.back.content,
                purpose="document_back",
                media_type=back.media_type,
                subject_id=subject_id,
            )
            return self._record_document(
                session,
                subject=subject,
                method=method,
                request_id=request.request_id,
                caller=caller,
                document_id=document_id,
                verification_id=verification_id,
                kind=DocumentKind.CN_RESIDENT_ID,
                verdict=verdict,
                reasons=reasons,
                fields_pb=fields_pb,
                blobs=(front_blob_id, back_blob),
                detail=f"cn_resident_id back for document {front_id}",
                evidence=[
                    (b, p, "image/jpeg")
                    for b, p in ((front_blob_id, "document_front"), (back_blob, "document_back"))
                    if b
                ],
                passed_check="document",
                timings_ms=result.timings_ms,
                portrait_found=False,
                portrait_box=None,
                input_blob_ids=[back_blob],
                audit_action="submit_document_back",
            )

        return await self.mutate(method, request, pb.SubmitDocumentResponse, write)

    def _record_document(
        self,
        session: Session,
        *,
        subject: Any,
        method: str,
        request_id: str,
        caller: Any,
        document_id: str,
        verification_id: str,
        kind: DocumentKind,
        verdict: str,
        reasons: list[dict[str, Any]],
        fields_pb: list[Any],
        blobs: tuple[str | None, str | None],
        detail: str,
        evidence: list[tuple[str, str, str]],
        passed_check: str | None,
        timings_ms: Any,
        portrait_found: bool,
        portrait_box: tuple[float, float, float, float] | None,
        input_blob_ids: list[str],
        audit_action: str,
    ) -> pb.SubmitDocumentResponse:
        """The one write of a read document, whichever side(s) came: the document row (its
        fields sealed), its check settled on the subject (a case when doubtful), the
        verification with the answer a retry gets, and the audit entry."""
        front_blob, back_blob = blobs
        session.add(
            DocumentRow(
                id=document_id,
                subject_id=subject.id,
                kind=kind.value,
                verdict=verdict,
                reasons=reasons,
                fields_sealed=self.app.keys.seal(
                    pb.GetDocumentResponse(fields=fields_pb).SerializeToString(), f"document:{document_id}"
                ),
                front_blob_id=front_blob,
                back_blob_id=back_blob,
                verification_id=verification_id,
                created_at=utcnow(),
            )
        )
        check = {"name": "document", "verdict": verdict, "score": 0.0, "detail": detail, "reasons": reasons}
        case_id = settle(
            session,
            subject=subject,
            verdict=verdict,
            case_kind="document",
            caller=caller,
            verification_id=verification_id,
            reasons=reasons,
            checks=[check],
            evidence=evidence,
            passed_check=passed_check,
        )
        response = pb.SubmitDocumentResponse(
            document_id=document_id,
            verification_id=verification_id,
            kind=KIND_TO_PB[kind],
            verdict=VERDICT_TO_PB[verdict],
            reasons=[reason_to_pb(r) for r in reasons],
            fields=fields_pb,
            portrait_found=portrait_found,
            review_case_id=case_id,
            timings_ms=timings_ms,
        )
        if portrait_box:
            x, y, w, h = portrait_box
            response.portrait_box.CopyFrom(common_pb2.BoundingBox(x=x, y=y, width=w, height=h))
        self.app.verifications.add(
            session,
            verification_id=verification_id,
            caller=caller,
            method=method,
            request_id=request_id,
            subject_id=subject.id,
            kind="document",
            verdict=verdict,
            reasons=reasons,
            checks=[check],
            models=self.documents.models(),
            input_blob_ids=input_blob_ids,
            result=response,
        )
        self.app.audit.record(session, caller, audit_action, subject.id, document_id, f"verdict={verdict}")
        return response

    async def GetDocument(
        self, request: pb.GetDocumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDocumentResponse:
        document_id = require(request.document_id, "document_id")
        caller = current_caller()

        def read() -> pb.GetDocumentResponse:
            with self.app.db.transaction() as session:
                row = session.get(DocumentRow, document_id)
                hidden = not_found(Reason.DOCUMENT_NOT_FOUND, f"no document with id {document_id!r}")
                if row is None:
                    raise hidden
                subjects.require_document_visible(session, row, hidden)
                stored = pb.GetDocumentResponse.FromString(
                    self.app.keys.open(row.fields_sealed, f"document:{document_id}")
                )
                self.app.audit.record(session, caller, "read_document", row.subject_id, document_id)
                fields = list(stored.fields)
                if caller.role.value not in ("cs_rep", "admin"):
                    for f in fields:
                        if f.name == "citizen_number":
                            f.value = subjects.mask_id_number(f.value)
                        elif f.name in subjects.MRZ_NUMBER_FIELDS:
                            f.value = subjects.mask_document_number(f.value)
                return pb.GetDocumentResponse(
                    document_id=row.id,
                    subject_id=row.subject_id or "",
                    kind=KIND_TO_PB[DocumentKind(row.kind)],
                    verdict=VERDICT_TO_PB[row.verdict],
                    reasons=[reason_to_pb(r) for r in row.reasons],
                    fields=fields,
                    created_at=ts(row.created_at),
                    # Retention (platform/records.minimise_personal) says what it reduced.
                    personal_data_purged_at=ts(row.personal_data_purged_at),  # type: ignore[attr-defined]
                    purged_fields=row.purged_fields or [],  # type: ignore[attr-defined]
                )

        return await self.offload(read)

    async def SearchDuplicates(
        self, request: pb.SearchDuplicatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchDuplicatesResponse:
        subject_id = require(request.subject_id, "subject_id")
        caller = current_caller()

        def search() -> pb.SearchDuplicatesResponse:
            with self.app.db.read() as session:
                subjects.get_subject(session, subject_id)
                rows = list(session.scalars(select(FaceTemplateRow).where(FaceTemplateRow.subject_id == subject_id)))
                vectors = enrolment.load_vectors(session, self.app.blobs, rows)
            findings: dict[tuple[Reason, str], DuplicateFinding] = {}
            for _, _, vector in vectors:
                for f in self.faces.duplicates(subject_id, vector):
                    key = (f.reason, f.other_subject_id)
                    if key not in findings or f.similarity > findings[key].similarity:
                        findings[key] = f
            with self.app.db.transaction() as session:
                self.app.audit.record(session, caller, "search_duplicates", subject_id)
            ordered = sorted(findings.values(), key=lambda f: -f.similarity)[: request.limit or 10]
            return pb.SearchDuplicatesResponse(
                findings=[
                    pb.DuplicateFinding(
                        code=f.reason.value,
                        other_subject_id=f.other_subject_id,
                        similarity=f.similarity,
                        detail=f.detail,
                    )
                    for f in ordered
                ],
                index_size=len(self.faces.index),
            )

        return await self.offload(search)

    async def CreateSubject(
        self, request: pb.CreateSubjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSubjectResponse:
        external_ref = require(request.external_ref.strip(), "external_ref")
        if len(external_ref) > 200:
            raise invalid(Reason.INVALID_FIELD, "external_ref is longer than 200 characters", "external_ref")
        kind = SUBJECT_KIND_FROM_PB.get(request.kind, "individual")
        caller = current_caller()

        def write(session: Session) -> pb.CreateSubjectResponse:
            row = subjects.create_subject(session, external_ref, kind)
            self.app.audit.record(session, caller, "create_subject", row.id)
            return pb.CreateSubjectResponse(subject=subject_to_pb(row))

        return await self.mutate(f"/{SERVICE}/CreateSubject", request, pb.CreateSubjectResponse, write)

    async def GetSubject(
        self, request: pb.GetSubjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSubjectResponse:
        subject_id = require(request.subject_id, "subject_id")

        def read() -> pb.GetSubjectResponse:
            with self.app.db.read() as session:
                row = subjects.get_subject(session, subject_id)
                enrolled = session.scalars(
                    select(FaceTemplateRow.id).where(FaceTemplateRow.subject_id == subject_id).limit(1)
                ).first()
                return pb.GetSubjectResponse(subject=subject_to_pb(row, enrolled is not None))

        return await self.offload(read)

    async def GetVerification(
        self, request: pb.GetVerificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetVerificationResponse:
        verification_id = require(request.verification_id, "verification_id")

        def read() -> pb.GetVerificationResponse:
            with self.app.db.read() as session:
                row = self.app.verifications.get(session, verification_id)
                hidden = not_found(Reason.VERIFICATION_NOT_FOUND, f"no verification with id {verification_id!r}")
                if row is None or (row.subject_id is None and not ownership.may_see(row.client_id)):
                    raise hidden
                subjects.require_visible(session, row.subject_id, hidden)
                return pb.GetVerificationResponse(verification=verification_to_pb(row))

        return await self.offload(read)


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(app), server)
