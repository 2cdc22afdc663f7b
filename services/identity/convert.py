"""Protobuf <-> domain conversions for the identity service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sellerverify.v1 import identity_pb2 as pb

if TYPE_CHECKING:
    from services.vision.face_quality import FaceQuality

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


def quality_to_pb(q: FaceQuality | None) -> pb.FaceQuality:
    from sellerverify.v1 import common_pb2

    from services.platform.records_pb import reason_to_pb

    if q is None:
        return pb.FaceQuality()
    out = pb.FaceQuality(
        face_found=q.face is not None,
        faces_found=q.faces_found,
        eye_distance_px=q.eye_distance_px,
        sharpness=q.sharpness,
        brightness=q.brightness,
        yaw_degrees=q.yaw_deg,
        pitch_degrees=q.pitch_deg,
        roll_degrees=q.roll_deg,
        reasons=[reason_to_pb({"code": r.value, "message": m}) for r, m in q.reasons],
    )
    if q.face is not None:
        x, y, w, h = q.face.box
        out.box.CopyFrom(common_pb2.BoundingBox(x=x, y=y, width=w, height=h))
        out.landmarks.extend(common_pb2.Point(x=float(p[0]), y=float(p[1])) for p in q.face.landmarks)
        out.detector_score = q.face.score
    return out
