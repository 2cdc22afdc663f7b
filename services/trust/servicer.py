"""TrustService servicer: thin protobuf <-> domain glue (domain: scorecard, snapshots,
signals, decisions, graph, changes, audit_trail)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from google.protobuf import struct_pb2
from google.protobuf.json_format import ParseDict
from sellerverify.v1 import common_pb2
from sellerverify.v1 import trust_pb2 as pb
from sellerverify.v1 import trust_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import invalid, not_found
from services.core.reasons import Reason
from services.identity import subjects
from services.platform import ownership
from services.platform.auth import current_caller
from services.platform.events import DomainEvent
from services.platform.models import AuditEventRow
from services.platform.servicer_base import ServicerBase, require, ts
from services.trust import audit_trail, changes, decisions, graph, signals
from services.trust.scorecard import Score
from services.trust.signals import Target

SERVICE = "sellerverify.v1.TrustService"
BAND_TO_PB = {
    "low": pb.RISK_BAND_LOW,
    "medium": pb.RISK_BAND_MEDIUM,
    "high": pb.RISK_BAND_HIGH,
    "very_high": pb.RISK_BAND_VERY_HIGH,
}
DECISION_TO_PB = {"ALLOW": pb.SHOP_DECISION_ALLOW, "REVIEW": pb.SHOP_DECISION_REVIEW, "DENY": pb.SHOP_DECISION_DENY}
SEVERITY_FROM_PB = {
    pb.SEVERITY_UNSPECIFIED: "medium",
    pb.SEVERITY_LOW: "low",
    pb.SEVERITY_MEDIUM: "medium",
    pb.SEVERITY_HIGH: "high",
    pb.SEVERITY_CRITICAL: "critical",
}
ACTIVITY_FROM_PB = {
    v.number: v.name[len("ACTIVITY_KIND_") :].lower() for v in pb.ActivityKind.DESCRIPTOR.values if v.number
}
SIGNAL_FROM_PB = {
    v.number: v.name[len("PLATFORM_SIGNAL_KIND_") :].lower()
    for v in pb.PlatformSignalKind.DESCRIPTOR.values
    if v.number
}
HEARTBEAT_S = 5.0


def _code(name: str | None) -> str:
    """A reason code's proto name (protobuf takes enum values by name)."""
    return name or "REASON_CODE_UNSPECIFIED"


def score_to_pb(s: Score) -> pb.TrustScore:
    """A domain Score as the TrustScore message."""
    return pb.TrustScore(
        score=s.score,
        target_id=s.target_id,
        policy_version=s.policy_version,
        computed_at=ts(s.computed_at),
        band=BAND_TO_PB[s.band],
        decision=DECISION_TO_PB[s.decision],
        signals=[
            pb.TrustSignal(
                name=x.name,
                value=x.value,
                contribution=x.points,
                reference_points=x.reference_points,
                detail=x.detail,
                code=_code(x.code),
                evidence_ids=list(x.evidence),
                observed_at=ts(x.observed_at),
                bin=x.bin,
            )
            for x in s.signals
        ],
        reasons=[common_pb2.Reason(code=_code(c), message=_reason_text(s, c)) for c in s.reasons],
        knock_outs=[
            pb.KnockOut(name=k.name, code=_code(k.code), decision=DECISION_TO_PB[k.decision], detail=k.detail)
            for k in s.knock_outs
        ],
        actions=[
            pb.TrustAction(
                action=a.action,
                text=a.text,
                code=_code(a.code),
                subject_id=a.subject_id,
                points_gained=a.points_gained,
                decision_after=DECISION_TO_PB.get(a.decision_after, pb.SHOP_DECISION_UNSPECIFIED),
            )
            for a in s.actions
        ],
    )


def _reason_text(s: Score, code: str) -> str:
    for x in s.signals:
        if x.code == code:
            return f"{x.name}: {x.detail} ({x.points:+g} of {x.reference_points:g} points)"
    for k in s.knock_outs:
        if k.code == code:
            return k.detail
    return ""


def _target(request: object) -> Target:
    which = request.WhichOneof("target")  # type: ignore[attr-defined]
    value = getattr(request, which) if which else ""
    if not value:
        raise invalid(Reason.MISSING_FIELD, "subject_id or enterprise_id is required", "subject_id")
    return Target("subject" if which == "subject_id" else "enterprise", value)


def _require_visible(session: Session, target: Target) -> None:
    """Another onboarding client's subject is answered as if it did not exist (ownership.py)."""
    if target.kind == "subject" and current_caller().role in ownership.CONFINED_ROLES:
        subjects.require_visible(
            session,
            target.target_id,
            not_found(Reason.SUBJECT_NOT_FOUND, f"no subject with id {target.target_id!r}"),
        )


def _when(message: object, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def _struct(data: dict[str, object]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    ParseDict(data, out)
    return out


def event_to_pb(e: DomainEvent) -> pb.ChangeEvent:
    """A domain event as a ChangeEvent."""
    return pb.ChangeEvent(
        seq=e.seq,
        event_id=e.event_id,
        kind=e.kind,
        subject_id=e.subject_id or "",
        enterprise_id=e.enterprise_id or "",
        payload=_struct(e.payload),
        actor=e.actor or "",
        at=ts(e.at),
    )


def audit_to_pb(row: AuditEventRow) -> pb.AuditEvent:
    return pb.AuditEvent(
        event_id=str(row.id),
        at=ts(row.at),
        actor=row.actor,
        role=f"ROLE_{row.role.upper()}",
        action=row.action,
        subject_id=row.subject_id or "",
        resource=row.resource or "",
        detail=row.detail or "",
    )


class TrustServicer(pb_grpc.TrustServiceServicer, ServicerBase):
    """Trust scores, shop-opening decisions, signals and reports, change events, audit."""

    async def GetTrustScore(
        self, request: pb.GetTrustScoreRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTrustScoreResponse:
        """The score now: the target's stored facts aged to this moment (one snapshot read)."""
        target = _target(request)

        def read() -> pb.GetTrustScoreResponse:
            if current_caller().role in ownership.CONFINED_ROLES:  # risk and CS read across clients
                with self.app.db.read() as session:
                    _require_visible(session, target)
            result, _ = self.app.trust.read_now(self.app.db, target.kind, target.target_id)
            return pb.GetTrustScoreResponse(
                trust=score_to_pb(result),
                members=[
                    pb.MemberTrust(subject_id=sid, role=role, trust=score_to_pb(s)) for sid, role, s in result.members
                ],
            )

        return await self.offload(read)

    async def DecideShopOpening(
        self, request: pb.DecideShopOpeningRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideShopOpeningResponse:
        """ALLOW / REVIEW / DENY now, recorded with its inputs; REVIEW opens a case."""
        target = _target(request)
        caller = current_caller()

        def write(session: Session) -> pb.DecideShopOpeningResponse:
            _require_visible(session, target)
            d = decisions.decide(
                session,
                self.app.trust,
                self.app.audit,
                caller=caller,
                request_id=request.request_id,
                target=target,
                shop_ref=request.shop_ref,
            )
            trust = score_to_pb(d.score)
            return pb.DecideShopOpeningResponse(
                decision=DECISION_TO_PB[d.row.decision],
                trust=trust,
                reasons=[common_pb2.Reason(code=_code(c), message=_reason_text(d.score, c)) for c in d.row.reasons],
                review_case_id=d.row.case_id or "",
                decision_id=d.row.id,
            )

        return await self.mutate(f"/{SERVICE}/DecideShopOpening", request, pb.DecideShopOpeningResponse, write)

    async def ReportSuspiciousActivity(
        self, request: pb.ReportSuspiciousActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportSuspiciousActivityResponse:
        """Record the report; the score drops, re-verification is required and a case opens, in one transaction."""
        target = _target(request)
        caller = current_caller()
        kind = ACTIVITY_FROM_PB.get(request.kind, "")
        observed = _when(request, "observed_at")

        def write(session: Session) -> pb.ReportSuspiciousActivityResponse:
            out = signals.report_suspicious(
                session,
                self.app.trust,
                self.app.audit,
                caller=caller,
                target=target,
                kind=kind,
                severity=SEVERITY_FROM_PB.get(request.severity, "medium"),
                source=request.source or caller.client_id,
                description=request.description,
                observed_at=observed,
            )
            return pb.ReportSuspiciousActivityResponse(
                report_id=out.report_id,
                subject_ids=out.subject_ids,
                review_case_id=out.case_id,
                trust=score_to_pb(out.score),
            )

        return await self.mutate(
            f"/{SERVICE}/ReportSuspiciousActivity", request, pb.ReportSuspiciousActivityResponse, write
        )

    async def RecordPlatformSignal(
        self, request: pb.RecordPlatformSignalRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordPlatformSignalResponse:
        """Store a platform signal; the score moves in the same transaction."""
        target = _target(request)
        caller = current_caller()
        name = SIGNAL_FROM_PB.get(request.kind)
        if name is None:
            raise invalid(
                Reason.MISSING_FIELD, "kind is required (for example PLATFORM_SIGNAL_KIND_PENALTY_RECORD)", "kind"
            )
        observed = _when(request, "observed_at")

        def write(session: Session) -> pb.RecordPlatformSignalResponse:
            signal_id, result = signals.record_signal(
                session,
                self.app.trust,
                self.app.audit,
                caller=caller,
                target=target,
                name=name,
                value=request.value,
                source=request.source or caller.client_id,
                observed_at=observed,
            )
            return pb.RecordPlatformSignalResponse(signal_id=signal_id, trust=score_to_pb(result))

        return await self.mutate(f"/{SERVICE}/RecordPlatformSignal", request, pb.RecordPlatformSignalResponse, write)

    async def GetShopDecision(
        self, request: pb.GetShopDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetShopDecisionResponse:
        """A stored decision, its inputs, and those inputs re-scored with the stored policy version."""
        decision_id = require(request.decision_id, "decision_id")
        caller = current_caller()

        def read() -> pb.GetShopDecisionResponse:
            with self.app.db.transaction() as session:
                row, rescored = decisions.get_decision(session, self.app.trust.policies, decision_id)
                self.app.audit.record(
                    session,
                    caller,
                    "read_shop_decision",
                    row.target_id if row.target_kind == "subject" else None,
                    row.id,
                )
            stored = pb.TrustScore(
                score=row.score,
                target_id=row.target_id,
                policy_version=row.policy_version,
                computed_at=ts(row.decided_at),
                band=BAND_TO_PB[row.band],
                decision=DECISION_TO_PB[row.decision],
                reasons=[common_pb2.Reason(code=_code(c)) for c in row.reasons],
            )
            return pb.GetShopDecisionResponse(
                decision_id=row.id,
                target_id=row.target_id,
                shop_ref=row.shop_ref,
                decision=DECISION_TO_PB[row.decision],
                trust=stored,
                inputs=_struct(row.facts),
                rescored=score_to_pb(rescored),
                decided_by=row.client_id,
                decided_at=ts(row.decided_at),
            )

        return await self.offload(read)

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditEventsResponse:
        """Audit events by subject / actor / action / time, newest first, paged."""

        def read() -> pb.ListAuditEventsResponse:
            with self.app.db.read() as session:
                page = audit_trail.list_events(
                    session,
                    subject_id=request.subject_id,
                    actor=request.actor,
                    action=request.action,
                    since=_when(request, "since"),
                    until=_when(request, "until"),
                    page_size=request.page.page_size,
                    page_token=request.page.page_token,
                )
                return pb.ListAuditEventsResponse(
                    events=[audit_to_pb(r) for r in page.events],
                    page=common_pb2.PageResponse(next_page_token=page.next_page_token),
                )

        return await self.offload(read)

    async def WatchChanges(
        self, request: pb.WatchChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchChangesResponse]:
        """Events after the cursor, then new ones as they commit (heartbeats while idle)."""
        kinds = changes.check_kinds(request.kinds)
        cursor = int(request.after_seq)
        changes.check_cursor(cursor)
        sent, limit = 0, int(request.max_events)
        # An onboarding client hears only about its own subjects (and their enterprises); a
        # stream asked for another client's subject is refused like one for an unknown id.
        caller = current_caller()
        confined = caller.client_id if caller.role in ownership.CONFINED_ROLES else None
        if confined is not None and request.subject_id:

            def check() -> None:
                with self.app.db.read() as session:  # unknown and another client's: the same NOT_FOUND
                    subjects.get_subject(session, request.subject_id)

            await self.offload(check)
        poll = self.app.settings.trust_watch_poll_ms / 1000
        last_beat = time.monotonic()
        seen: dict[int, float] = {}  # seq -> when delivered (for the late-commit look-back)

        def fetch(after: int) -> tuple[list[DomainEvent], int]:
            with self.app.db.read() as session:
                got = changes.read(
                    session,
                    after,
                    kinds,
                    subject_id=request.subject_id,
                    enterprise_id=request.enterprise_id,
                    visible_to=confined,
                )
                # Numbers are taken at insert, rows appear at commit: a slower transaction can
                # commit a lower seq after a higher one was delivered. Look back for those.
                late = changes.read_late(
                    session,
                    after,
                    kinds,
                    subject_id=request.subject_id,
                    enterprise_id=request.enterprise_id,
                    visible_to=confined,
                )
                return [e for e in late if e.seq not in seen] + got, changes.head(session)

        while True:
            batch, head = await self.offload(fetch, cursor)
            now = time.monotonic()
            for e in batch:
                yield pb.WatchChangesResponse(event=event_to_pb(e), head_seq=max(head, e.seq))
                seen[e.seq] = now
                cursor = max(cursor, e.seq)
                sent += 1
                if limit and sent >= limit:
                    return
            for seq in [q for q, t in seen.items() if now - t > changes.LATE_S]:
                del seen[seq]
            if not batch:
                if now - last_beat >= HEARTBEAT_S:
                    last_beat = now
                    yield pb.WatchChangesResponse(head_seq=head)
                await asyncio.sleep(poll)

    async def SweepIdentityGraph(
        self, request: pb.SweepIdentityGraphRequest, context: grpc.aio.ServicerContext
    ) -> pb.SweepIdentityGraphResponse:
        """Rebuild every subject's face <-> ID-number component."""
        caller = current_caller()
        replay = await self.replayed(f"/{SERVICE}/SweepIdentityGraph", request, pb.SweepIdentityGraphResponse)
        if replay is not None:
            return replay
        stats = await self.offload(graph.sweep, self.app.db, self.app.trust)

        def write(session: Session) -> pb.SweepIdentityGraphResponse:
            self.app.audit.record(session, caller, "sweep_identity_graph", None, None, f"clusters={stats.clusters}")
            return pb.SweepIdentityGraphResponse(
                subjects=stats.subjects,
                clusters=stats.clusters,
                clustered_subjects=stats.clustered_subjects,
                duration_ms=stats.duration_ms,
            )

        return await self.mutate(f"/{SERVICE}/SweepIdentityGraph", request, pb.SweepIdentityGraphResponse, write)

    async def GetIdentityCluster(
        self, request: pb.GetIdentityClusterRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIdentityClusterResponse:
        """The subject's cluster: members and how they are linked (evidence for a rep)."""
        subject_id = require(request.subject_id, "subject_id")
        caller = current_caller()

        def read() -> pb.GetIdentityClusterResponse:
            with self.app.db.transaction() as session:
                c = graph.cluster_of(session, subject_id)
                self.app.audit.record(session, caller, "read_identity_cluster", subject_id, c.cluster_id or None)
            return pb.GetIdentityClusterResponse(
                cluster_id=c.cluster_id,
                subject_ids=c.subject_ids,
                faces=c.faces,
                id_numbers=c.id_numbers,
                links=[
                    pb.ClusterLink(subject_id=a, other_subject_id=b, kind=k, evidence_id=ev) for a, b, k, ev in c.links
                ],
                swept_at=ts(c.swept_at),
            )

        return await self.offload(read)


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_TrustServiceServicer_to_server(TrustServicer(app), server)
