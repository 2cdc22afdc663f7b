"""IdentityService servicer: thin protobuf <-> domain glue."""
from __future__ import annotations

import grpc
from sellerverify.v1 import identity_pb2 as pb
from sellerverify.v1 import identity_pb2_grpc as pb_grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import invalid, not_found
from services.core.reasons import Reason
from services.identity import subjects
from services.identity.convert import SUBJECT_KIND_FROM_PB, subject_to_pb
from services.platform.auth import current_caller
from services.platform.models import FaceTemplateRow
from services.platform.records_pb import verification_to_pb
from services.platform.servicer_base import ServicerBase, require

SERVICE = "sellerverify.v1.IdentityService"


class IdentityServicer(pb_grpc.IdentityServiceServicer, ServicerBase):
    """Subjects, documents, face matching and duplicate search."""

    async def CreateSubject(self, request: pb.CreateSubjectRequest, context: grpc.aio.ServicerContext) -> pb.CreateSubjectResponse:
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

    async def GetSubject(self, request: pb.GetSubjectRequest, context: grpc.aio.ServicerContext) -> pb.GetSubjectResponse:
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
                if row is None:
                    raise not_found(Reason.VERIFICATION_NOT_FOUND, f"no verification with id {verification_id!r}")
                return pb.GetVerificationResponse(verification=verification_to_pb(row))

        return await self.offload(read)


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(app), server)
