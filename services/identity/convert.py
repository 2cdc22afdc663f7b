"""Protobuf <-> domain conversions for the identity service."""
from __future__ import annotations

from sellerverify.v1 import identity_pb2 as pb

from services.platform.models import SubjectRow
from services.platform.servicer_base import ts

SUBJECT_KIND_TO_PB = {"individual": pb.SUBJECT_KIND_INDIVIDUAL, "executive": pb.SUBJECT_KIND_EXECUTIVE}
SUBJECT_KIND_FROM_PB = {v: k for k, v in SUBJECT_KIND_TO_PB.items()}
STATUS_TO_PB = {
    "pending": pb.SUBJECT_STATUS_PENDING,
    "verified": pb.SUBJECT_STATUS_VERIFIED,
    "in_review": pb.SUBJECT_STATUS_IN_REVIEW,
    "rejected": pb.SUBJECT_STATUS_REJECTED,
    "reverification_required": pb.SUBJECT_STATUS_REVERIFICATION_REQUIRED,
}


def subject_to_pb(row: SubjectRow, face_enrolled: bool = False) -> pb.Subject:
    return pb.Subject(
        subject_id=row.id,
        external_ref=row.external_ref,
        kind=SUBJECT_KIND_TO_PB.get(row.kind, pb.SUBJECT_KIND_UNSPECIFIED),
        status=STATUS_TO_PB.get(row.status, pb.SUBJECT_STATUS_UNSPECIFIED),
        id_number_masked=row.id_number_masked or "",
        has_reference_portrait=row.reference_blob_id is not None,
        face_enrolled=face_enrolled,
        created_at=ts(row.created_at),
        verified_at=ts(row.verified_at),
    )
