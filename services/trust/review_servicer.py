"""ReviewService servicer: thin protobuf <-> domain glue (domain: services/trust/review.py)."""

from __future__ import annotations

from typing import Any

import grpc
from sellerverify.v1 import common_pb2
from sellerverify.v1 import review_pb2 as pb
from sellerverify.v1 import review_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import DomainError, invalid, not_found
from services.core.reasons import Reason
from services.identity.face_flow import FaceFlow
from services.identity.face_match import FaceTemplate, PairType
from services.platform.auth import current_caller
from services.platform.models import CaseEvidenceRow, ReviewCaseRow
from services.platform.records import new_id
from services.platform.records_pb import check_to_pb, reason_dict, reason_to_pb
from services.platform.servicer_base import ServicerBase, check_image_count, require, ts
from services.trust import review
from services.trust.cases import CASE_KINDS

SERVICE = "sellerverify.v1.ReviewService"
MAX_EVIDENCE_IMAGES = 10
KIND_TO_PB = {k: getattr(pb, f"CASE_KIND_{k.upper()}") for k in CASE_KINDS}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
STATE_TO_PB = {s: getattr(pb, f"CASE_STATE_{s.upper()}") for s in review.CASE_STATES}
STATE_FROM_PB = {v: k for k, v in STATE_TO_PB.items()}
DECISION_FROM_PB = {pb.CASE_DECISION_APPROVE: "approve", pb.CASE_DECISION_REJECT: "reject"}


def evidence_to_pb(row: CaseEvidenceRow) -> pb.Evidence:
    return pb.Evidence(
        evidence_id=row.id,
        label=row.label,
        media_type=row.media_type,
        verification_id=row.verification_id or "",
        created_at=ts(row.created_at),
        checks=[check_to_pb(c) for c in row.checks],
    )


def case_to_pb(row: ReviewCaseRow, evidence: list[CaseEvidenceRow]) -> pb.ReviewCase:
    return pb.ReviewCase(
        case_id=row.id,
        subject_id=row.subject_id,
        kind=KIND_TO_PB.get(row.kind, pb.CASE_KIND_UNSPECIFIED),
        state=STATE_TO_PB.get(row.state, pb.CASE_STATE_UNSPECIFIED),
        reasons=[reason_to_pb(r) for r in row.reasons],
        checks=[check_to_pb(c) for c in row.checks],
        verification_ids=list(row.verification_ids),
        evidence=[evidence_to_pb(e) for e in evidence],
        opened_at=ts(row.opened_at),
        decided_at=ts(row.decided_at),
        decided_by=row.decided_by or "",
        decision_note=row.decision_note or "",
    )


def _case_pb(session: Session, row: ReviewCaseRow) -> pb.ReviewCase:
    session.flush()
    return case_to_pb(row, review.evidence_of(session, [row.id])[row.id])


class ReviewServicer(pb_grpc.ReviewServiceServicer, ServicerBase):
    """Review cases for CS reps."""

    @property
    def faces(self) -> FaceFlow:
        return FaceFlow.shared(self.app)

    async def OpenCase(self, request: pb.OpenCaseRequest, context: grpc.aio.ServicerContext) -> pb.OpenCaseResponse:
        """Open a case for a subject (for example before a video call); the subject is in review until it is decided."""
        method = f"/{SERVICE}/OpenCase"
        subject_id = require(request.subject_id, "subject_id")
        kind = KIND_FROM_PB.get(request.kind)
        if kind is None:
            raise invalid(Reason.MISSING_FIELD, "kind is required (for example CASE_KIND_VIDEO_CALL)", "kind")
        caller = current_caller()

        def write(session: Session) -> pb.OpenCaseResponse:
            row = review.open_manual_case(session, subject_id=subject_id, kind=kind, note=request.note, caller=caller)
            self.app.audit.record(session, caller, "open_case", subject_id, row.id, f"kind={kind}")
            return pb.OpenCaseResponse(review_case=_case_pb(session, row))

        return await self.mutate(method, request, pb.OpenCaseResponse, write)

    async def GetCase(self, request: pb.GetCaseRequest, context: grpc.aio.ServicerContext) -> pb.GetCaseResponse:
        """A case with its reasons, checks and evidence list (never the images)."""
        case_id = require(request.case_id, "case_id")

        def read() -> pb.GetCaseResponse:
            with self.app.db.read() as session:
                return pb.GetCaseResponse(review_case=_case_pb(session, review.get_case(session, case_id)))

        return await self.offload(read)

    async def ListCases(self, request: pb.ListCasesRequest, context: grpc.aio.ServicerContext) -> pb.ListCasesResponse:
        """Cases in one state (OPEN by default), optionally of one kind or subject, oldest first, by pages."""
        state = STATE_FROM_PB.get(request.state, "open")
        kind = KIND_FROM_PB.get(request.kind)

        def read() -> pb.ListCasesResponse:
            with self.app.db.read() as session:
                page = review.list_cases(
                    session,
                    state=state,
                    kind=kind,
                    subject_id=request.subject_id or None,
                    page_size=request.page.page_size,
                    page_token=request.page.page_token,
                )
                evidence = review.evidence_of(session, [c.id for c in page.cases])
                return pb.ListCasesResponse(
                    cases=[case_to_pb(c, evidence[c.id]) for c in page.cases],
                    page=common_pb2.PageResponse(next_page_token=page.next_page_token),
                )

        return await self.offload(read)

    async def GetEvidence(
        self, request: pb.GetEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEvidenceResponse:
        """One decrypted evidence image. The read and its audit event commit together:
        no image leaves the server without an audit row."""
        case_id = require(request.case_id, "case_id")
        evidence_id = require(request.evidence_id, "evidence_id")
        caller = current_caller()

        def read_audited() -> pb.GetEvidenceResponse:
            with self.app.db.transaction() as session:
                row = review.get_evidence(session, case_id, evidence_id)
                case = review.get_case(session, case_id)
                got = self.app.blobs.get(session, row.blob_id) if row.blob_id else None
                if got is None:
                    raise not_found(
                        Reason.EVIDENCE_NOT_FOUND, f"evidence {evidence_id!r} is past retention and was deleted"
                    )
                content, blob = got
                self.app.audit.record(
                    session, caller, "get_evidence", case.subject_id, row.id, f"case={case_id} label={row.label}"
                )
                return pb.GetEvidenceResponse(
                    evidence=evidence_to_pb(row),
                    image=common_pb2.Image(content=content, media_type=blob.media_type),
                )

        return await self.offload(read_audited)

    async def AttachEvidence(
        self, request: pb.AttachEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.AttachEvidenceResponse:
        """Attach images (for example video-call frames) to an open case. Every image is
        validated before anything is stored; frames with a face are matched against the ID
        portrait and the checks are kept with the evidence for the rep."""
        method = f"/{SERVICE}/AttachEvidence"
        case_id = require(request.case_id, "case_id")
        label = request.label or "video_frame"
        if len(label) > review.MAX_LABEL_CHARS:
            raise invalid(Reason.INVALID_FIELD, f"label is longer than {review.MAX_LABEL_CHARS} characters", "label")
        check_image_count(request.images, MAX_EVIDENCE_IMAGES, "attach at least one image", "call")
        stored = await self.replayed(method, request, pb.AttachEvidenceResponse)
        if stored is not None:
            return stored
        # Refuse any bad image before anything is written.
        decoded = self.decode_all(request.images)

        def read_case() -> ReviewCaseRow:
            with self.app.db.read() as session:
                case = review.get_case(session, case_id)
                review.require_open(case)
                session.expunge(case)
                return case

        case = await self.offload(read_case)
        reference = await self.offload(self._reference, case.subject_id)
        checks = [await self.offload(review.frame_checks, self.faces.matcher, reference, d.bgr) for d in decoded]
        caller = current_caller()

        def write(session: Session) -> pb.AttachEvidenceResponse:
            locked = review.get_case(session, case_id, for_update=True)
            review.require_open(locked)
            items = [
                (
                    self.app.blobs.put(
                        session,
                        img.content,
                        purpose="case_evidence",
                        media_type=d.media_type,
                        subject_id=locked.subject_id,
                    ),
                    label,
                    d.media_type,
                    c,
                )
                for img, d, c in zip(request.images, decoded, checks, strict=True)
            ]
            rows = review.attach_evidence(session, locked, items)
            self.app.audit.record(
                session, caller, "attach_evidence", locked.subject_id, case_id, f"label={label} images={len(rows)}"
            )
            return pb.AttachEvidenceResponse(evidence=[evidence_to_pb(r) for r in rows])

        return await self.mutate(method, request, pb.AttachEvidenceResponse, write)

    def _reference(self, subject_id: str) -> FaceTemplate | None:
        """The subject's ID-portrait template, or None when none is on file."""
        try:
            template, _ = self.faces.reference(subject_id, None, PairType.ID_PORTRAIT_VS_PHOTO)
        except DomainError as err:
            if err.reason is Reason.NO_REFERENCE_PORTRAIT:
                return None
            raise
        return template

    async def DecideCase(
        self, request: pb.DecideCaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideCaseResponse:
        """Approve or reject an open case, with a note. Final: deciding again is
        FAILED_PRECONDITION. An approval counts like the passed check the case stood for
        (video call and liveness: a passed challenge); a rejection rejects the subject."""
        method = f"/{SERVICE}/DecideCase"
        case_id = require(request.case_id, "case_id")
        decision = DECISION_FROM_PB.get(request.decision)
        if decision is None:
            raise invalid(Reason.MISSING_FIELD, "decision is required: CASE_DECISION_APPROVE or _REJECT", "decision")
        note = request.note.strip()
        if not note:
            raise invalid(Reason.MISSING_FIELD, "note is required: say what you saw", "note")
        caller = current_caller()
        verification_id = new_id()

        def write(session: Session) -> pb.DecideCaseResponse:
            case = review.get_case(session, case_id, for_update=True)
            counted = review.decide(session, case, decision, note, caller)
            verdict = "pass" if decision == "approve" else "fail"
            code = Reason.REVIEW_APPROVED if decision == "approve" else Reason.REVIEW_REJECTED
            reasons = [reason_dict(code.value, note[: review.MAX_NOTE_CHARS])]
            detail = f"{case.kind} case {case.id} {case.state} by {caller.client_id}"
            if counted:
                detail += f"; counts as a passed {counted} check"
            checks: list[dict[str, Any]] = [
                {"name": "review", "verdict": verdict, "score": 0.0, "detail": detail, "reasons": reasons}
            ]
            response = pb.DecideCaseResponse(review_case=_case_pb(session, case), verification_id=verification_id)
            self.app.verifications.add(
                session,
                verification_id=verification_id,
                caller=caller,
                method=method,
                request_id=request.request_id,
                subject_id=case.subject_id,
                kind="review_decision",
                verdict=verdict,
                reasons=reasons,
                checks=checks,
                result=response,
            )
            self.app.audit.record(session, caller, "decide_case", case.subject_id, case.id, f"decision={decision}")
            return response

        return await self.mutate(method, request, pb.DecideCaseResponse, write)


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_ReviewServiceServicer_to_server(ReviewServicer(app), server)
