"""ReverifyService servicer: thin protobuf <-> domain glue (enterprises.py, campaigns.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
from sellerverify.v1 import common_pb2
from sellerverify.v1 import identity_pb2 as ipb
from sellerverify.v1 import reverify_pb2 as pb
from sellerverify.v1 import reverify_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.app import REVERIFY_ENGINE, App
from services.core.errors import invalid
from services.core.reasons import Reason
from services.identity.convert import STATUS_TO_PB
from services.platform.auth import current_caller
from services.platform.models import CampaignRow, CampaignTaskRow, DocumentRow, SubjectRow
from services.platform.records_pb import VERDICT_TO_PB, reason_to_pb
from services.platform.servicer_base import ServicerBase, require, ts
from services.reverify import campaigns, enterprises
from services.reverify import policy as rv_policy

if TYPE_CHECKING:  # the engine (and Temporal's SDK) loads after the server is serving
    from services.reverify import engine as rv_engine

SERVICE = "sellerverify.v1.ReverifyService"
ROLE_TO_PB = {
    "legal_representative": pb.EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE,
    "major_shareholder": pb.EXECUTIVE_ROLE_MAJOR_SHAREHOLDER,
    "director": pb.EXECUTIVE_ROLE_DIRECTOR,
    "manager": pb.EXECUTIVE_ROLE_MANAGER,
}
ROLE_FROM_PB = {v: k for k, v in ROLE_TO_PB.items()}
TASK_TO_PB = {
    "pending": pb.TASK_STATE_PENDING,
    "notified": pb.TASK_STATE_NOTIFIED,
    "reminded": pb.TASK_STATE_REMINDED,
    "passed": pb.TASK_STATE_PASSED,
    "failed": pb.TASK_STATE_FAILED,
    "overdue": pb.TASK_STATE_OVERDUE,
    "waived": pb.TASK_STATE_WAIVED,
}
TASK_FROM_PB = {v: k for k, v in TASK_TO_PB.items()}
KIND_TO_PB = {
    "annual": pb.CAMPAIGN_KIND_ANNUAL,
    "suspicious_activity": pb.CAMPAIGN_KIND_SUSPICIOUS_ACTIVITY,
    "ad_hoc": pb.CAMPAIGN_KIND_AD_HOC,
}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
STATE_TO_PB = {
    "scheduled": pb.CAMPAIGN_STATE_SCHEDULED,
    "running": pb.CAMPAIGN_STATE_RUNNING,
    "completed": pb.CAMPAIGN_STATE_COMPLETED,
    "paused": pb.CAMPAIGN_STATE_PAUSED,
}


def _reasons(items: list[tuple[Reason, str]]) -> list[common_pb2.Reason]:
    return [common_pb2.Reason(code=code.value, message=msg) for code, msg in items]  # enum by name


def task_to_pb(row: CampaignTaskRow) -> pb.CampaignTask:
    return pb.CampaignTask(
        task_id=row.id,
        campaign_id=row.campaign_id,
        enterprise_id=row.enterprise_id,
        subject_id=row.subject_id,
        state=TASK_TO_PB.get(row.state, pb.TASK_STATE_UNSPECIFIED),
        deadline=ts(row.deadline),
        verification_id=row.verification_id or "",
        reminders_sent=row.reminders_sent,
        notified_at=ts(row.notified_at),
        closed_at=ts(row.closed_at),
        note=row.note or "",
    )


def campaign_to_pb(session: Session, row: CampaignRow) -> pb.Campaign:
    counts = campaigns.counts(session, row.id)
    return pb.Campaign(
        campaign_id=row.id,
        name=row.name,
        kind=KIND_TO_PB.get(row.kind, pb.CAMPAIGN_KIND_UNSPECIFIED),
        state=STATE_TO_PB.get(row.state, pb.CAMPAIGN_STATE_UNSPECIFIED),
        enterprise_ids=list(row.enterprise_ids or []),
        starts_at=ts(row.starts_at),
        deadline=ts(row.deadline),
        task_counts=counts,
        total_tasks=sum(counts.values()),
        remind_after_seconds=[int(s) for s in row.remind_after_seconds or []],
        created_by=row.created_by or "",
        created_at=ts(row.created_at),
        completed_at=ts(row.completed_at),
        workflow_id=campaigns.workflow_id(row.id),
    )


class ReverifyServicer(pb_grpc.ReverifyServiceServicer, ServicerBase):
    """Enterprises, executives and re-verification campaigns."""

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.policy = rv_policy.from_settings(app.settings)

    # ------------------------------------------------------------ helpers

    def _fields(self, doc: DocumentRow) -> dict[str, str]:
        stored = ipb.GetDocumentResponse.FromString(self.app.keys.open(doc.fields_sealed, f"document:{doc.id}"))
        return {f.name: f.value for f in stored.fields}

    def _subject_name(self, subject: SubjectRow) -> str | None:
        if subject.name_sealed is None:
            return None
        return self.app.keys.open(subject.name_sealed, f"subject-name:{subject.id}").decode()

    def _enterprise_pb(self, session: Session, enterprise_id: str) -> pb.Enterprise:
        view = enterprises.get(session, enterprise_id, self.policy)
        row = view.row
        return pb.Enterprise(
            enterprise_id=row.id,
            external_ref=row.external_ref,
            credit_code=row.credit_code or "",
            company_name=row.company_name or "",
            legal_representative=row.legal_representative or "",
            licence_verdict=VERDICT_TO_PB.get(row.licence_verdict, common_pb2.VERDICT_UNSPECIFIED),
            licence_reasons=[reason_to_pb(r) for r in row.licence_reasons or []],
            executives=[
                pb.Executive(
                    subject_id=e.subject_id,
                    role=ROLE_TO_PB.get(e.role, pb.EXECUTIVE_ROLE_UNSPECIFIED),
                    name=e.name,
                    share_percent=e.share_percent,
                    status=STATUS_TO_PB.get(e.status, ipb.SUBJECT_STATUS_UNSPECIFIED),
                    verified_at=ts(e.verified_at),
                    reverify_due_at=ts(e.due_at),
                    missing_checks=e.missing_checks,
                    id_document_valid_until=e.id_valid_until or "",
                    reasons=_reasons(e.reasons),
                    last_full_verification_at=ts(e.last_full_at),
                    open_task_id=e.open_task_id or "",
                    open_task_state=TASK_TO_PB.get(e.open_task_state or "", pb.TASK_STATE_UNSPECIFIED),
                )
                for e in view.executives
            ],
            created_at=ts(row.created_at),
            reasons=_reasons(view.reasons),
            company_type=row.company_type or "",
            registered_capital=row.registered_capital or "",
            establishment_date=row.establishment_date or "",
            valid_until=row.valid_until or "",
            licence_document_id=row.document_id or "",
        )

    def _engine(self) -> rv_engine.Engine | None:
        engine: rv_engine.Engine | None = self.app.loaded(REVERIFY_ENGINE)
        return engine

    def _wake(self, campaign_id: str, start: bool = False) -> None:
        engine = self._engine()
        if engine is not None:
            engine.wake_soon(campaign_id, start)

    # ------------------------------------------------------------ enterprises

    async def RegisterEnterprise(
        self, request: pb.RegisterEnterpriseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterEnterpriseResponse:
        """Register an enterprise from a licence SubmitDocument read (see reverify.proto)."""
        method = f"/{SERVICE}/RegisterEnterprise"
        if not request.licence_document_id:
            field = "licence_document_id"
            raise invalid(
                Reason.MISSING_FIELD,
                "licence_document_id is required: submit the licence photo with IdentityService.SubmitDocument "
                "(kind_hint CN_BUSINESS_LICENCE) and pass the document_id it returns",
                field,
            )
        caller = current_caller()

        def write(session: Session) -> pb.RegisterEnterpriseResponse:
            row = enterprises.register(
                session,
                licence_document_id=request.licence_document_id,
                external_ref=request.external_ref,
                read_fields=self._fields,
                actor=caller.client_id,
            )
            self.app.audit.record(
                session, caller, "register_enterprise", None, row.id, f"verdict={row.licence_verdict}"
            )
            doc = session.get(DocumentRow, request.licence_document_id)
            return pb.RegisterEnterpriseResponse(
                enterprise=self._enterprise_pb(session, row.id), verification_id=doc.verification_id if doc else ""
            )

        return await self.mutate(method, request, pb.RegisterEnterpriseResponse, write)

    async def GetEnterprise(
        self, request: pb.GetEnterpriseRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEnterpriseResponse:
        """An enterprise with every executive's state, expiry and missing checks."""
        enterprise_id = require(request.enterprise_id, "enterprise_id")

        def read() -> pb.GetEnterpriseResponse:
            with self.app.db.read() as session:
                return pb.GetEnterpriseResponse(enterprise=self._enterprise_pb(session, enterprise_id))

        return await self.offload(read)

    async def AddExecutive(
        self, request: pb.AddExecutiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddExecutiveResponse:
        """Link a subject to an enterprise (the legal representative's name is checked)."""
        method = f"/{SERVICE}/AddExecutive"
        enterprise_id = require(request.enterprise_id, "enterprise_id")
        subject_id = require(request.subject_id, "subject_id")
        if request.role not in ROLE_FROM_PB:
            raise invalid(Reason.MISSING_FIELD, "role is required", "role")
        caller = current_caller()

        def write(session: Session) -> pb.AddExecutiveResponse:
            reasons = enterprises.add_executive(
                session,
                enterprise_id=enterprise_id,
                subject_id=subject_id,
                role=ROLE_FROM_PB[request.role],
                name=request.name,
                share_percent=request.share_percent,
                subject_name=self._subject_name,
                read_fields=self._fields,
                actor=caller.client_id,
            )
            self.app.audit.record(
                session, caller, "add_executive", subject_id, enterprise_id, ROLE_FROM_PB[request.role]
            )
            session.flush()
            return pb.AddExecutiveResponse(
                enterprise=self._enterprise_pb(session, enterprise_id), reasons=_reasons(reasons)
            )

        return await self.mutate(method, request, pb.AddExecutiveResponse, write)

    # ------------------------------------------------------------ campaigns

    async def CreateCampaign(
        self, request: pb.CreateCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateCampaignResponse:
        """Create a campaign for a chosen set and start its workflow."""
        method = f"/{SERVICE}/CreateCampaign"
        request_id = require(request.request_id, "request_id")
        scope = campaigns.Scope(
            enterprise_ids=list(request.enterprise_ids),
            subject_ids=list(request.subject_ids),
            region=request.region,
            all_enterprises=request.all_enterprises,
        )
        if scope.is_empty():
            raise invalid(
                Reason.MISSING_FIELD,
                "say whom the campaign concerns: enterprise_ids, subject_ids, region or all_enterprises",
                "enterprise_ids",
            )
        if request.region and not request.region.isdigit():
            raise invalid(Reason.INVALID_FIELD, "region is a GB/T 2260 division code prefix (digits)", "region")
        kind = KIND_FROM_PB.get(request.kind, "ad_hoc")
        now = datetime.now(UTC)
        deadline = (
            request.deadline.ToDatetime(UTC)
            if request.HasField("deadline")
            else now + timedelta(seconds=self.policy.deadline_seconds)
        )
        reminders = list(request.remind_after_seconds) or list(self.policy.remind_after_seconds)
        if any(s <= 0 for s in reminders):
            raise invalid(Reason.INVALID_FIELD, "remind_after_seconds must be positive", "remind_after_seconds")
        caller = current_caller()
        campaign_id = campaigns.derived_id("request", caller.client_id, request_id)

        def write(session: Session) -> pb.CreateCampaignResponse:
            row, created = campaigns.create_campaign(
                session,
                campaign_id=campaign_id,
                name=request.name,
                kind=kind,
                scope=scope,
                deadline=deadline,
                remind_after_seconds=reminders,
                actor=caller.client_id,
                policy=self.policy,
                reason=(
                    Reason.SUSPICIOUS_ACTIVITY_REPORTED.value
                    if kind == "suspicious_activity"
                    else Reason.REVERIFICATION_PENDING.value
                ),
            )
            self.app.audit.record(session, caller, "create_campaign", None, row.id, f"kind={kind} tasks={created}")
            session.flush()
            return pb.CreateCampaignResponse(campaign=campaign_to_pb(session, row))

        response = await self.mutate(method, request, pb.CreateCampaignResponse, write)
        self._wake(response.campaign.campaign_id, start=True)
        return response

    async def GetCampaign(
        self, request: pb.GetCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCampaignResponse:
        """A campaign with its task counts per state."""
        campaign_id = require(request.campaign_id, "campaign_id")

        def read() -> pb.GetCampaignResponse:
            with self.app.db.read() as session:
                return pb.GetCampaignResponse(
                    campaign=campaign_to_pb(session, campaigns.get_campaign(session, campaign_id))
                )

        return await self.offload(read)

    async def ListCampaignTasks(
        self, request: pb.ListCampaignTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCampaignTasksResponse:
        """One page of a campaign's tasks, filtered."""
        campaign_id = require(request.campaign_id, "campaign_id")

        def read() -> pb.ListCampaignTasksResponse:
            with self.app.db.read() as session:
                page = campaigns.list_tasks(
                    session,
                    campaign_id,
                    state=TASK_FROM_PB.get(request.state),
                    enterprise_id=request.enterprise_id,
                    subject_id=request.subject_id,
                    page_size=request.page.page_size,
                    page_token=request.page.page_token,
                )
                return pb.ListCampaignTasksResponse(
                    tasks=[task_to_pb(t) for t in page.tasks],
                    page=common_pb2.PageResponse(next_page_token=page.next_page_token),
                )

        return await self.offload(read)

    async def WaiveTask(self, request: pb.WaiveTaskRequest, context: grpc.aio.ServicerContext) -> pb.WaiveTaskResponse:
        """A CS rep waives a task with a reason (audited)."""
        method = f"/{SERVICE}/WaiveTask"
        task_id = require(request.task_id, "task_id")
        caller = current_caller()

        def write(session: Session) -> pb.WaiveTaskResponse:
            task = campaigns.waive(session, task_id, request.reason, caller.client_id)
            self.app.audit.record(session, caller, "waive_task", task.subject_id, task_id, request.reason[:300])
            return pb.WaiveTaskResponse(task=task_to_pb(task))

        response = await self.mutate(method, request, pb.WaiveTaskResponse, write)
        self._wake(response.task.campaign_id)
        return response

    async def ExtendTask(
        self, request: pb.ExtendTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExtendTaskResponse:
        """A CS rep moves a task's deadline later with a reason (audited)."""
        method = f"/{SERVICE}/ExtendTask"
        task_id = require(request.task_id, "task_id")
        if not request.HasField("new_deadline"):
            raise invalid(Reason.MISSING_FIELD, "new_deadline is required", "new_deadline")
        caller = current_caller()

        def write(session: Session) -> pb.ExtendTaskResponse:
            task = campaigns.extend(
                session, task_id, request.new_deadline.ToDatetime(UTC), request.reason, caller.client_id
            )
            self.app.audit.record(session, caller, "extend_task", task.subject_id, task_id, request.reason[:300])
            return pb.ExtendTaskResponse(task=task_to_pb(task))

        response = await self.mutate(method, request, pb.ExtendTaskResponse, write)
        self._wake(response.task.campaign_id, start=True)
        return response

    async def _pause(
        self, method: str, request: pb.PauseCampaignRequest | pb.ResumeCampaignRequest, paused: bool
    ) -> pb.Campaign:
        campaign_id = require(request.campaign_id, "campaign_id")
        caller = current_caller()
        cls = pb.PauseCampaignResponse if paused else pb.ResumeCampaignResponse

        def write(session: Session) -> pb.PauseCampaignResponse | pb.ResumeCampaignResponse:
            row = campaigns.set_paused(session, campaign_id, paused)
            self.app.audit.record(
                session,
                caller,
                "pause_campaign" if paused else "resume_campaign",
                None,
                campaign_id,
                request.reason[:300],
            )
            return cls(campaign=campaign_to_pb(session, row))

        response: pb.PauseCampaignResponse | pb.ResumeCampaignResponse = await self.mutate(
            method,
            request,
            cls,
            write,  # type: ignore[arg-type]
        )
        self._wake(campaign_id, start=True)
        return response.campaign

    async def PauseCampaign(
        self, request: pb.PauseCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.PauseCampaignResponse:
        """Stop a campaign's reminders and escalations until resumed."""
        return pb.PauseCampaignResponse(campaign=await self._pause(f"/{SERVICE}/PauseCampaign", request, True))

    async def ResumeCampaign(
        self, request: pb.ResumeCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResumeCampaignResponse:
        """Resume a paused campaign."""
        return pb.ResumeCampaignResponse(campaign=await self._pause(f"/{SERVICE}/ResumeCampaign", request, False))

    async def RunScheduler(
        self, request: pb.RunSchedulerRequest, context: grpc.aio.ServicerContext
    ) -> pb.RunSchedulerResponse:
        """Run today's annual planning now (what the daily Schedule does)."""
        engine = self._engine()
        if engine is not None:
            campaign_id, created = await self.offload(engine.plan_annual_now)
        else:
            from services.reverify import policy as pol

            def plan() -> tuple[str | None, int]:
                with self.app.db.transaction() as session:
                    return campaigns.plan_annual(
                        session, today=pol.local_date(datetime.now(UTC), self.policy), policy=self.policy
                    )

            campaign_id, created = await self.offload(plan)
        caller = current_caller()

        def audit() -> None:
            with self.app.db.transaction() as session:
                self.app.audit.record(session, caller, "run_scheduler", None, campaign_id, f"tasks={created}")

        await self.offload(audit)
        return pb.RunSchedulerResponse(tasks_created=created, campaign_id=campaign_id if created else "")


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_ReverifyServiceServicer_to_server(ReverifyServicer(app), server)
