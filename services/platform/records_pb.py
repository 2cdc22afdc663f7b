"""Protobuf forms of the cross-cutting records (reasons, checks, models, verifications)."""

from __future__ import annotations

from typing import Any

from sellerverify.v1 import common_pb2, identity_pb2

from services.platform.models import VerificationRow
from services.platform.servicer_base import ts

VERDICT_TO_PB = {
    "pass": common_pb2.VERDICT_PASS,
    "fail": common_pb2.VERDICT_FAIL,
    "review": common_pb2.VERDICT_REVIEW,
}
VERDICT_FROM_PB = {v: k for k, v in VERDICT_TO_PB.items()}
VERIFICATION_KIND_TO_PB = {
    "document": identity_pb2.VERIFICATION_KIND_DOCUMENT,
    "face_match": identity_pb2.VERIFICATION_KIND_FACE_MATCH,
    "liveness": identity_pb2.VERIFICATION_KIND_LIVENESS,
    "review_decision": identity_pb2.VERIFICATION_KIND_REVIEW_DECISION,
    "licence": identity_pb2.VERIFICATION_KIND_LICENCE,
}


def reason_to_pb(item: dict[str, Any]) -> common_pb2.Reason:
    return common_pb2.Reason(code=item["code"], message=item.get("message", ""), field=item.get("field", ""))


def reason_dict(code: str, message: str, field: str = "") -> dict[str, str]:
    return {"code": str(code), "message": message, "field": field}


def check_to_pb(item: dict[str, Any]) -> common_pb2.CheckResult:
    return common_pb2.CheckResult(
        name=item["name"],
        verdict=VERDICT_TO_PB.get(item.get("verdict", ""), common_pb2.VERDICT_UNSPECIFIED),
        score=float(item.get("score", 0.0)),
        detail=item.get("detail", ""),
        reasons=[reason_to_pb(r) for r in item.get("reasons", [])],
    )


def model_to_pb(item: dict[str, Any]) -> common_pb2.ModelInfo:
    return common_pb2.ModelInfo(
        engine=item.get("engine", ""), model=item.get("model", ""), version=item.get("version", "")
    )


def verification_to_pb(row: VerificationRow) -> identity_pb2.Verification:
    return identity_pb2.Verification(
        verification_id=row.id,
        subject_id=row.subject_id or "",
        kind=VERIFICATION_KIND_TO_PB.get(row.kind, identity_pb2.VERIFICATION_KIND_UNSPECIFIED),
        verdict=VERDICT_TO_PB.get(row.verdict, common_pb2.VERDICT_UNSPECIFIED),
        reasons=[reason_to_pb(r) for r in row.reasons],
        models=[model_to_pb(m) for m in row.models],
        client_id=row.client_id,
        method=row.method,
        request_id=row.request_id,
        created_at=ts(row.created_at),
        checks=[check_to_pb(c) for c in row.checks],
    )
