"""Protobuf <-> domain conversions for the identity service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sellerverify.v1 import common_pb2
from sellerverify.v1 import identity_pb2 as pb

from services.identity.documents.model import DocumentKind, DocumentResult
from services.platform.models import SubjectRow
from services.platform.records_pb import reason_to_pb
from services.platform.servicer_base import ts

if TYPE_CHECKING:
    from services.identity.duplicates import DuplicateFinding
    from services.identity.face_match import MatchOutcome
    from services.vision.face_quality import FaceQuality

DECISION_TO_PB = {
    "match": common_pb2.MATCH_DECISION_MATCH,
    "no_match": common_pb2.MATCH_DECISION_NO_MATCH,
    "uncertain": common_pb2.MATCH_DECISION_UNCERTAIN,
}

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
    if q is None:
        return pb.FaceQuality()
    out = pb.FaceQuality(
        face_found=q.face is not None,
        faces_found=q.faces_found,
        background_faces=q.background_faces,
        eye_distance_px=q.eye_distance_px,
        sharpness=q.sharpness,
        brightness=q.brightness,
        yaw_degrees=q.yaw_deg,
        pitch_degrees=q.pitch_deg,
        roll_degrees=q.roll_deg,
        reasons=[reason_to_pb({"code": r.value, "message": m}) for r, m in q.reasons],
    )
    if q.face is not None:
        # In the uploaded picture's pixels, like eye_distance_px.
        x, y, w, h = (v / q.scale for v in q.face.box)
        out.box.CopyFrom(common_pb2.BoundingBox(x=x, y=y, width=w, height=h))
        out.landmarks.extend(
            common_pb2.Point(x=float(p[0]) / q.scale, y=float(p[1]) / q.scale) for p in q.face.landmarks
        )
        out.detector_score = q.face.score
    return out


def _second_opinion_pb(outcome: MatchOutcome) -> pb.SecondOpinion | None:
    s = outcome.second_opinion
    if s is None:
        return None
    return pb.SecondOpinion(
        model=common_pb2.ModelInfo(engine=s.model.engine, model=s.model.model, version=s.model.version),
        distance=s.distance,
        fused_score=s.fused_score,
        match_threshold=s.match_threshold,
        no_match_threshold=s.no_match_threshold,
    )


def match_response(
    verification_id: str,
    outcome: MatchOutcome,
    findings: list[DuplicateFinding],
    reasons: list[dict[str, str]],
    case_id: str,
) -> pb.MatchFaceResponse:
    from services.identity.face_match import PairType

    return pb.MatchFaceResponse(
        verification_id=verification_id,
        decision=DECISION_TO_PB[outcome.decision.value],
        similarity=outcome.similarity,
        match_threshold=outcome.threshold_match,
        no_match_threshold=outcome.threshold_no_match,
        estimated_false_match_rate=outcome.estimated_fmr,
        model=common_pb2.ModelInfo(
            engine=outcome.model.engine, model=outcome.model.model, version=outcome.model.version
        ),
        pair_type=pb.PAIR_TYPE_ID_PORTRAIT_VS_PHOTO
        if outcome.pair_type is PairType.ID_PORTRAIT_VS_PHOTO
        else pb.PAIR_TYPE_PHOTO_VS_PHOTO,
        probe_quality=quality_to_pb(outcome.probe),
        reference_quality=quality_to_pb(outcome.reference),
        reasons=[reason_to_pb(r) for r in reasons],
        second_opinion=_second_opinion_pb(outcome),
        duplicates=[
            pb.DuplicateFinding(
                code=f.reason.value,
                other_subject_id=f.other_subject_id,
                similarity=f.similarity,
                detail=f.detail,
            )
            for f in findings
        ],
        review_case_id=case_id,
    )


KIND_TO_PB = {
    DocumentKind.CN_RESIDENT_ID: pb.DOCUMENT_KIND_CN_RESIDENT_ID,
    DocumentKind.PASSPORT_TD3: pb.DOCUMENT_KIND_PASSPORT_TD3,
    DocumentKind.ID_CARD_TD1: pb.DOCUMENT_KIND_ID_CARD_TD1,
    DocumentKind.CN_BUSINESS_LICENCE: pb.DOCUMENT_KIND_CN_BUSINESS_LICENCE,
}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
FIELD_STATUS_TO_PB = {
    "valid": pb.FIELD_STATUS_VALID,
    "invalid": pb.FIELD_STATUS_INVALID,
    "unreadable": pb.FIELD_STATUS_UNREADABLE,
    "corrected": pb.FIELD_STATUS_CORRECTED,
    "unchecked": pb.FIELD_STATUS_UNCHECKED,
}


def document_fields_to_pb(result: DocumentResult) -> list[pb.DocumentField]:
    out = []
    for f in result.fields.values():
        item = pb.DocumentField(
            name=f.name,
            value=f.value,
            confidence=f.confidence,
            status=FIELD_STATUS_TO_PB[f.status.value],
            side=pb.DOCUMENT_SIDE_FRONT if f.side == "front" else pb.DOCUMENT_SIDE_BACK,
            reasons=[reason_to_pb({"code": c.value, "message": m, "field": f.name}) for c, m in f.reasons],
        )
        if f.box:
            item.box.CopyFrom(common_pb2.BoundingBox(x=f.box[0], y=f.box[1], width=f.box[2], height=f.box[3]))
        out.append(item)
    return out
