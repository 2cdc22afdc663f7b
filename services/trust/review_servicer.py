"""ReviewService servicer: thin protobuf <-> domain glue (domain: services/trust/review.py)."""

from __future__ import annotations

from typing import Any

import grpc
from sellerverify.v1 import common_pb2, trust_pb2
from sellerverify.v1 import review_pb2 as pb
from sellerverify.v1 import review_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import DomainError, invalid, not_found
from services.core.reasons import Reason
from services.identity import subjects
from services.identity.face_flow import FaceFlow
from services.identity.face_match import FaceTemplate, PairType
from services.platform.auth import Caller, current_caller
from services.platform.models import (
    CaseDecisionProposalRow,
    CaseEvidenceRow,
    CaseReviewRow,
    DocumentRow,
    ReviewCaseRow,
    VideoCallRow,
)
from services.platform.records import new_id, utcnow
from services.platform.records_pb import check_to_pb, reason_dict, reason_to_pb
from services.platform.servicer_base import ServicerBase, check_image_count, require, ts
from services.trust import review, review_policy, review_queue, video_calls
from services.trust.cases import CASE_KINDS
from services.trust.servicer import BAND_TO_PB

BAND_FROM_PB = {v: k for k, v in BAND_TO_PB.items()}
SERVICE = "sellerverify.v1.ReviewService"
MAX_EVIDENCE_IMAGES = 10
KIND_TO_PB = {k: getattr(pb, f"CASE_KIND_{k.upper()}") for k in CASE_KINDS}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
STATE_TO_PB = {s: getattr(pb, f"CASE_STATE_{s.upper()}") for s in review.CASE_STATES}
STATE_FROM_PB = {v: k for k, v in STATE_TO_PB.items()}
DECISION_FROM_PB = {
    pb.CASE_DECISION_APPROVE: "approve",
    pb.CASE_DECISION_REJECT: "reject",
    pb.CASE_DECISION_REQUEST_NEW_CAPTURE: "request_new_capture",
}
DECISION_TO_PB = {v: k for k, v in DECISION_FROM_PB.items()}


def _reason_pb(code: str | None) -> Any:
    """The ReasonCode value of a stored code name (UNSPECIFIED for none)."""
    return common_pb2.ReasonCode.Value(code) if code else common_pb2.REASON_CODE_UNSPECIFIED


def _reason_from_pb(value: int, decision: str) -> str:
    """The rep's reason code: one policy allows with the decision, or the default one."""
    if value == common_pb2.REASON_CODE_UNSPECIFIED:
        return review_policy.DEFAULT_REASON[decision].value
    name = common_pb2.ReasonCode.Name(value)
    allowed = [r.value for r in review_policy.allowed_reasons(decision)]
    if name not in allowed:
        raise invalid(
            Reason.INVALID_FIELD,
            f"reason {name} does not go with {decision}; use one of {', '.join(allowed)}",
            "reason",
        )
    return name


def call_to_pb(row: VideoCallRow | None, token: str = "") -> pb.VideoCall | None:
    if row is None:
        return None
    return pb.VideoCall(
        call_id=row.id,
        case_id=row.case_id,
        started_by=row.started_by,
        started_at=ts(row.started_at),
        expires_at=ts(row.expires_at),
        joined_at=ts(row.joined_at),
        ended_at=ts(row.ended_at),
        join_token=token,
    )


def pending_to_pb(row: CaseDecisionProposalRow | None) -> pb.PendingDecision | None:
    if row is None:
        return None
    return pb.PendingDecision(
        decision=DECISION_TO_PB.get(row.decision, pb.CASE_DECISION_UNSPECIFIED),
        reason=_reason_pb(row.reason),
        note=row.note,
        ban=row.ban,
        proposed_by=row.proposed_by,
        proposed_at=ts(row.proposed_at),
        policy=row.policy,
    )


def evidence_to_pb(row: CaseEvidenceRow) -> pb.Evidence:
    return pb.Evidence(
        evidence_id=row.id,
        label=row.label,
        media_type=row.media_type,
        verification_id=row.verification_id or "",
        created_at=ts(row.created_at),
        checks=[check_to_pb(c) for c in row.checks],
    )


def case_to_pb(
    row: ReviewCaseRow,
    evidence: list[CaseEvidenceRow],
    queue: CaseReviewRow | None = None,
    pending: CaseDecisionProposalRow | None = None,
    call: VideoCallRow | None = None,
) -> pb.ReviewCase:
    due = queue.sla_due_at if queue else row.opened_at + review_policy.sla_for(row.kind)
    end = row.decided_at or utcnow()
    out = pb.ReviewCase(
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
        sla_due_at=ts(due),
        age_seconds=max(0, int((end - row.opened_at).total_seconds())),
        video_call=call_to_pb(call),
        pending_decision=pending_to_pb(pending),
    )
    if queue is not None:
        out.assignee = queue.assignee or ""
        if queue.claimed_at is not None:
            out.claimed_at.FromDatetime(queue.claimed_at)
        if queue.snoozed_until is not None:
            out.snoozed_until.FromDatetime(queue.snoozed_until)
        out.escalated = queue.escalated_at is not None
        out.escalation_note = queue.escalation_note or ""
        out.decision = DECISION_TO_PB.get(queue.decision or "", pb.CASE_DECISION_UNSPECIFIED)
        out.decision_reason = _reason_pb(queue.decision_reason)
        out.confirmed_by = queue.confirmed_by or ""
        out.ban = queue.ban
    return out


def cases_to_pb(session: Session, rows: list[ReviewCaseRow]) -> list[pb.ReviewCase]:
    """Cases with their evidence list, queue state, pending decision, newest call and the
    subject's risk band (five queries for the whole page)."""
    ids = [r.id for r in rows]
    evidence = review.evidence_of(session, ids)
    queues = review_queue.queue_rows(session, ids)
    pending = review_queue.pending_proposals(session, ids)
    calls = video_calls.latest_calls(session, ids)
    bands = review.risk_bands_of(session, [r.subject_id for r in rows])
    out = [case_to_pb(r, evidence[r.id], queues.get(r.id), pending.get(r.id), calls.get(r.id)) for r in rows]
    for case in out:
        case.risk_band = BAND_TO_PB.get(bands.get(case.subject_id, ""), trust_pb2.RISK_BAND_UNSPECIFIED)
    return out


def _case_pb(session: Session, row: ReviewCaseRow, *, related: bool = False) -> pb.ReviewCase:
    session.flush()
    out = cases_to_pb(session, [row])[0]
    if related:
        doc = review.latest_document(session, row.subject_id)
        out.document_id = doc.id if doc else ""
        out.related.extend(
            pb.RelatedImage(evidence_id=r.evidence_id, label=r.label, subject_id=r.subject_id)
            for r in review.related_images(session, row.subject_id)
        )
    return out


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
                return pb.GetCaseResponse(
                    review_case=_case_pb(session, review.get_case(session, case_id), related=True)
                )

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
                    assignee=request.assignee or None,
                    escalated_only=request.escalated_only,
                    hide_snoozed=request.hide_snoozed,
                    pending_only=request.pending_confirmation_only,
                    risk_bands=[BAND_FROM_PB[b] for b in request.risk_bands if b in BAND_FROM_PB],
                )
                return pb.ListCasesResponse(
                    cases=cases_to_pb(session, page.cases),
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
                case = review.get_case(session, case_id)
                related = review.resolve_related(session, case, evidence_id)
                if related is not None:
                    return self._related_image(session, caller, case, related)
                row = review.get_evidence(session, case_id, evidence_id)
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
        # Refuse any bad image before anything is written (decoded off the event loop).
        decoded = await self.decode_off_loop(request.images)

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

    def _related_image(
        self, session: Session, caller: Caller, case: ReviewCaseRow, related: review.RelatedImage
    ) -> pb.GetEvidenceResponse:
        got = self.app.blobs.get(session, related.blob_id)
        if got is None:
            raise not_found(
                Reason.EVIDENCE_NOT_FOUND, f"image {related.evidence_id!r} is past retention and was deleted"
            )
        content, blob = got
        self.app.audit.record(
            session,
            caller,
            "get_evidence",
            related.subject_id,
            related.evidence_id[:80],
            f"case={case.id} label={related.label}",
        )
        return pb.GetEvidenceResponse(
            evidence=pb.Evidence(evidence_id=related.evidence_id, label=related.label, media_type=blob.media_type),
            image=common_pb2.Image(content=content, media_type=blob.media_type),
        )

    async def DecideCase(
        self, request: pb.DecideCaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideCaseResponse:
        """Approve, reject or ask for a new capture, with a reason code and a note. Final:
        deciding again is FAILED_PRECONDITION. Four-eyes (policy `review_policy.four_eyes`:
        a reject with ban, an approval over a knock-out finding): nothing takes effect, the
        decision waits for ConfirmDecision by a second rep (`pending_confirmation`). An
        approval counts like the passed check the case stood for (video call and liveness:
        a passed challenge); a rejection rejects the subject. A case claimed by another rep
        is CASE_CLAIMED_BY_OTHER."""
        method = f"/{SERVICE}/DecideCase"
        case_id = require(request.case_id, "case_id")
        decision = DECISION_FROM_PB.get(request.decision)
        if decision is None:
            raise invalid(
                Reason.MISSING_FIELD,
                "decision is required: CASE_DECISION_APPROVE, _REJECT or _REQUEST_NEW_CAPTURE",
                "decision",
            )
        note = request.note.strip()
        if not note:
            raise invalid(Reason.MISSING_FIELD, "note is required: say what you saw", "note")
        if request.ban and decision != "reject":
            raise invalid(Reason.INVALID_FIELD, "ban goes only with CASE_DECISION_REJECT", "ban")
        reason = _reason_from_pb(request.reason, decision)
        caller = current_caller()
        verification_id = new_id()

        def write(session: Session) -> pb.DecideCaseResponse:
            case = review.get_case(session, case_id, for_update=True)
            review.require_open(case)
            review_queue.require_not_held_by_other(review_queue.queue_row(session, case), caller)
            # Knock-outs among the case's own findings and those on its evidence (for
            # example a video frame that is not the ID portrait's face).
            on_evidence = [c for e in review.evidence_of(session, [case.id])[case.id] for c in e.checks]
            knockouts = review_policy.knockouts(case.reasons, [*case.checks, *on_evidence])
            policy = review_policy.four_eyes(decision, request.ban, knockouts)
            if policy is not None:
                review_queue.propose(
                    session, case, caller, decision=decision, reason=reason, note=note, ban=request.ban, policy=policy
                )
                self.app.audit.record(
                    session, caller, "propose_decision", case.subject_id, case.id, f"decision={decision} ({policy})"
                )
                return pb.DecideCaseResponse(review_case=_case_pb(session, case), pending_confirmation=True)
            self._apply(
                session,
                case,
                method,
                request.request_id,
                verification_id,
                caller,
                decision=decision,
                reason=reason,
                note=note,
                ban=request.ban,
                confirmed_by=None,
            )
            return pb.DecideCaseResponse(review_case=_case_pb(session, case), verification_id=verification_id)

        return await self.mutate(method, request, pb.DecideCaseResponse, write)

    def _apply(
        self,
        session: Session,
        case: ReviewCaseRow,
        method: str,
        request_id: str,
        verification_id: str,
        caller: Caller,
        *,
        decision: str,
        reason: str,
        note: str,
        ban: bool,
        confirmed_by: str | None,
        decided_by: Caller | None = None,
    ) -> None:
        """A decision takes effect: the case, the subject, a verification record, audit."""
        decider = decided_by or caller
        counted = review.decide(
            session, case, decision, note, decider, reason=reason, ban=ban, confirmed_by=confirmed_by
        )
        verdict = {"approve": "pass", "reject": "fail", "request_new_capture": "review"}[decision]
        code = {
            "approve": Reason.REVIEW_APPROVED,
            "reject": Reason.REVIEW_REJECTED,
            "request_new_capture": Reason.REVIEW_IMAGE_UNUSABLE,
        }[decision]
        reasons = [reason_dict(code.value, note[: review.MAX_NOTE_CHARS])]
        if reason != code.value:
            reasons.append(reason_dict(reason, "the rep's reason"))
        detail = f"{case.kind} case {case.id} {case.state} by {decider.client_id}"
        if confirmed_by:
            detail += f", confirmed by {confirmed_by}"
        if ban:
            detail += "; banned"
        if counted:
            detail += f"; counts as a passed {counted} check"
        checks: list[dict[str, Any]] = [
            {"name": "review", "verdict": verdict, "score": 0.0, "detail": detail, "reasons": reasons}
        ]
        self.app.verifications.add(
            session,
            verification_id=verification_id,
            caller=caller,
            method=method,
            request_id=request_id,
            subject_id=case.subject_id,
            kind="review_decision",
            verdict=verdict,
            reasons=reasons,
            checks=checks,
            result=pb.DecideCaseResponse(verification_id=verification_id),
        )
        self.app.audit.record(
            session, caller, "decide_case", case.subject_id, case.id, f"decision={decision} reason={reason}"
        )

    async def ConfirmDecision(
        self, request: pb.ConfirmDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmDecisionResponse:
        """Four-eyes: a second, different rep confirms (the decision takes effect, decided
        by the proposer and confirmed by the caller) or declines (the case stays open).
        The proposer confirming is FOUR_EYES_SAME_REP."""
        method = f"/{SERVICE}/ConfirmDecision"
        case_id = require(request.case_id, "case_id")
        note = request.note.strip()
        if not note:
            raise invalid(Reason.MISSING_FIELD, "note is required: say what you saw", "note")
        caller = current_caller()
        verification_id = new_id()

        def write(session: Session) -> pb.ConfirmDecisionResponse:
            case = review.get_case(session, case_id, for_update=True)
            proposal = review_queue.second_opinion(session, case, caller, confirm=request.confirm, note=note)
            self.app.audit.record(
                session,
                caller,
                "confirm_decision" if request.confirm else "decline_decision",
                case.subject_id,
                case.id,
                f"decision={proposal.decision} proposed_by={proposal.proposed_by}",
            )
            if not request.confirm:
                return pb.ConfirmDecisionResponse(review_case=_case_pb(session, case))
            proposer = Caller(proposal.proposed_by, caller.role)
            self._apply(
                session,
                case,
                method,
                request.request_id,
                verification_id,
                caller,
                decision=proposal.decision,
                reason=proposal.reason,
                note=proposal.note,
                ban=proposal.ban,
                confirmed_by=caller.client_id,
                decided_by=proposer,
            )
            return pb.ConfirmDecisionResponse(review_case=_case_pb(session, case), verification_id=verification_id)

        return await self.mutate(method, request, pb.ConfirmDecisionResponse, write)

    async def ClaimCase(self, request: pb.ClaimCaseRequest, context: grpc.aio.ServicerContext) -> pb.ClaimCaseResponse:
        """Claim an open case (admins: assign it, or take it over from another rep)."""
        method = f"/{SERVICE}/ClaimCase"
        case_id = require(request.case_id, "case_id")
        caller = current_caller()

        def write(session: Session) -> pb.ClaimCaseResponse:
            case = review.get_case(session, case_id, for_update=True)
            row = review_queue.claim(session, case, caller, assignee=request.assignee, take_over=request.take_over)
            self.app.audit.record(session, caller, "claim_case", case.subject_id, case.id, f"assignee={row.assignee}")
            return pb.ClaimCaseResponse(review_case=_case_pb(session, case))

        return await self.mutate(method, request, pb.ClaimCaseResponse, write)

    async def ReleaseCase(
        self, request: pb.ReleaseCaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseCaseResponse:
        """Give a claimed case back to the queue."""
        method = f"/{SERVICE}/ReleaseCase"
        case_id = require(request.case_id, "case_id")
        caller = current_caller()

        def write(session: Session) -> pb.ReleaseCaseResponse:
            case = review.get_case(session, case_id, for_update=True)
            review_queue.release(session, case, caller)
            self.app.audit.record(session, caller, "release_case", case.subject_id, case.id)
            return pb.ReleaseCaseResponse(review_case=_case_pb(session, case))

        return await self.mutate(method, request, pb.ReleaseCaseResponse, write)

    async def NextCase(self, request: pb.NextCaseRequest, context: grpc.aio.ServicerContext) -> pb.NextCaseResponse:
        """The caller's claimed case, else claim the unclaimed open case due soonest
        (not snoozed, not escalated, no decision waiting); unset when the queue is empty."""
        method = f"/{SERVICE}/NextCase"
        kind = KIND_FROM_PB.get(request.kind)
        caller = current_caller()

        def write(session: Session) -> pb.NextCaseResponse:
            case = review_queue.next_case(session, caller, kind)
            if case is None:
                return pb.NextCaseResponse()
            self.app.audit.record(session, caller, "claim_case", case.subject_id, case.id, "next case")
            return pb.NextCaseResponse(review_case=_case_pb(session, case))

        return await self.mutate(method, request, pb.NextCaseResponse, write)

    async def SnoozeCase(
        self, request: pb.SnoozeCaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.SnoozeCaseResponse:
        """Hide a case from "next case" for some minutes (claim released)."""
        method = f"/{SERVICE}/SnoozeCase"
        case_id = require(request.case_id, "case_id")
        caller = current_caller()

        def write(session: Session) -> pb.SnoozeCaseResponse:
            case = review.get_case(session, case_id, for_update=True)
            review_queue.snooze(session, case, caller, request.minutes, request.note)
            self.app.audit.record(
                session, caller, "snooze_case", case.subject_id, case.id, f"minutes={request.minutes}"
            )
            return pb.SnoozeCaseResponse(review_case=_case_pb(session, case))

        return await self.mutate(method, request, pb.SnoozeCaseResponse, write)

    async def EscalateCase(
        self, request: pb.EscalateCaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.EscalateCaseResponse:
        """Mark a case for a senior reviewer, with a note (claim released)."""
        method = f"/{SERVICE}/EscalateCase"
        case_id = require(request.case_id, "case_id")
        caller = current_caller()

        def write(session: Session) -> pb.EscalateCaseResponse:
            case = review.get_case(session, case_id, for_update=True)
            review_queue.escalate(session, case, caller, request.note)
            self.app.audit.record(session, caller, "escalate_case", case.subject_id, case.id)
            return pb.EscalateCaseResponse(review_case=_case_pb(session, case))

        return await self.mutate(method, request, pb.EscalateCaseResponse, write)

    async def StartVideoCall(
        self, request: pb.StartVideoCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartVideoCallResponse:
        """Start a call session on an open case; the response alone carries the seller's
        one-time join token. A call still running on the case ends."""
        case_id = require(request.case_id, "case_id")
        reason = _reason_from_pb(request.reason, "video_call")
        caller = current_caller()

        def write(session: Session) -> pb.StartVideoCallResponse:
            case = review.get_case(session, case_id, for_update=True)
            review_queue.require_not_held_by_other(review_queue.queue_row(session, case), caller)
            row, token = video_calls.start_call(
                session, case, caller, reason=reason, note=request.note.strip(), ttl_minutes=request.ttl_minutes
            )
            self.app.audit.record(session, caller, "start_video_call", case.subject_id, case.id, f"call={row.id}")
            return pb.StartVideoCallResponse(video_call=call_to_pb(row, token))

        # Not replayed through the idempotency store: the token must not be kept anywhere.
        def run() -> pb.StartVideoCallResponse:
            with self.app.db.transaction() as session:
                return write(session)

        return await self.offload(run)

    async def JoinVideoCall(
        self, request: pb.JoinVideoCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.JoinVideoCallResponse:
        """Redeem the seller's one-time token; a second redemption is CALL_LINK_INVALID."""
        call_id = require(request.call_id, "call_id")
        token = require(request.join_token, "join_token")
        caller = current_caller()

        def run() -> pb.JoinVideoCallResponse:
            with self.app.db.transaction() as session:
                row = video_calls.join_call(session, call_id, token)
                case = review.get_case(session, row.case_id)
                self.app.audit.record(session, caller, "join_video_call", case.subject_id, case.id, f"call={row.id}")
                return pb.JoinVideoCallResponse(video_call=call_to_pb(row), subject_id=case.subject_id)

        return await self.offload(run)

    async def EndVideoCall(
        self, request: pb.EndVideoCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.EndVideoCallResponse:
        """End a call; its link stops working."""
        method = f"/{SERVICE}/EndVideoCall"
        call_id = require(request.call_id, "call_id")
        caller = current_caller()

        def write(session: Session) -> pb.EndVideoCallResponse:
            row = video_calls.end_call(session, video_calls.get_call(session, call_id))
            case = review.get_case(session, row.case_id)
            self.app.audit.record(session, caller, "end_video_call", case.subject_id, case.id, f"call={row.id}")
            return pb.EndVideoCallResponse(video_call=call_to_pb(row))

        return await self.mutate(method, request, pb.EndVideoCallResponse, write)

    async def CheckCallFrame(
        self, request: pb.CheckCallFrameRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckCallFrameResponse:
        """Live guidance for the rep: face count and, with an ID portrait on file, the
        match against it. Nothing is stored."""
        case_id = require(request.case_id, "case_id")
        decoded = await self.offload(self.decode, request.image.content, "image.content")

        def read_case() -> str:
            with self.app.db.read() as session:
                case = review.get_case(session, case_id)
                review.require_open(case)
                return case.subject_id

        subject_id = await self.offload(read_case)
        reference = await self.offload(self._reference, subject_id)
        checks = await self.offload(review.frame_checks, self.faces.matcher, reference, decoded.bgr)
        return pb.CheckCallFrameResponse(checks=[check_to_pb(c) for c in checks])

    async def GetReviewer(
        self, request: pb.GetReviewerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetReviewerResponse:
        """The caller's client id and role (the console checks a token with it at login)."""
        caller = current_caller()
        return pb.GetReviewerResponse(client_id=caller.client_id, role=caller.role.value)

    async def RevealIdNumber(
        self, request: pb.RevealIdNumberRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevealIdNumberResponse:
        """The case subject's full ID number from their newest document, audited with the
        rep's note (the console shows it masked until the rep asks)."""
        case_id = require(request.case_id, "case_id")
        note = require(request.note.strip(), "note")
        caller = current_caller()

        def run() -> pb.RevealIdNumberResponse:
            from sellerverify.v1 import identity_pb2

            with self.app.db.transaction() as session:
                case = review.get_case(session, case_id)
                doc: DocumentRow | None = review.latest_document(session, case.subject_id)
                if doc is None:
                    raise not_found(Reason.DOCUMENT_NOT_FOUND, f"subject {case.subject_id} has no ID document on file")
                stored = identity_pb2.GetDocumentResponse.FromString(
                    self.app.keys.open(doc.fields_sealed, f"document:{doc.id}")
                )
                names = ("citizen_number", *sorted(subjects.MRZ_NUMBER_FIELDS))
                number = next((f.value for n in names for f in stored.fields if f.name == n and f.value), "")
                self.app.audit.record(
                    session, caller, "reveal_id_number", case.subject_id, case.id, f"note={note[:300]}"
                )
                return pb.RevealIdNumberResponse(id_number=number, document_id=doc.id)

        return await self.offload(run)


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_ReviewServiceServicer_to_server(ReviewServicer(app), server)
