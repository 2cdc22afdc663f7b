"""`sellerverify demo`: onboard one seller against a running suite and print every step.

Sample photos: $SELLERVERIFY_SAMPLES_DIR, else the development face set next to the
checkout (../shared/data/faces), else clients/sellerverify/samples/.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from sellerverify.client import Client, SellerVerifyError

HERE = Path(__file__).resolve().parent
CANDIDATES = [
    Path(os.environ["SELLERVERIFY_SAMPLES_DIR"]) if os.environ.get("SELLERVERIFY_SAMPLES_DIR") else None,
    HERE.parents[2] / "shared" / "data" / "faces",
    HERE / "samples",
]
SELLER = ("barack_obama/facerec_obama.jpg", "barack_obama/facerec_obama1.jpg")
STRANGER = "joe_biden/facerec_biden.jpg"


def _samples() -> Path | None:
    for c in CANDIDATES:
        if c is not None and (c / SELLER[0]).exists():
            return c
    return None


def _step(n: int, title: str) -> None:
    print(f"\n== {n}. {title}")


def _show(message: object, keys: list[str]) -> None:
    data = MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]
    for k in keys:
        if k in data:
            print(f"   {k}: {data[k]}")


def run_demo(client: Client) -> int:
    from sellerverify.v1 import common_pb2, identity_pb2

    root = _samples()
    if root is None:
        print("no sample photos found: set SELLERVERIFY_SAMPLES_DIR to a folder laid out like shared/data/faces")
        return 1
    image = lambda rel: common_pb2.Image(content=(root / rel).read_bytes())  # noqa: E731

    _step(1, "health")
    for name in ("Identity", "Liveness", "Review", "Trust", "Reverify"):
        print(f"   sellerverify.v1.{name}Service: {client.health(f'sellerverify.v1.{name}Service')}")

    _step(2, "register the seller")
    subject = client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"demo-seller-{uuid.uuid4().hex[:8]}")
    ).subject
    _show(subject, ["subject_id", "external_ref", "status"])

    _step(3, "match the live face against the reference portrait")
    match = client.identity.MatchFace(
        identity_pb2.MatchFaceRequest(subject_id=subject.subject_id, reference=image(SELLER[0]), probe=image(SELLER[1]))
    )
    _show(
        match,
        ["decision", "similarity", "match_threshold", "no_match_threshold", "estimated_false_match_rate", "model"],
    )
    _show(match.probe_quality, ["eye_distance_px", "sharpness", "yaw_degrees", "pitch_degrees", "roll_degrees"])

    _step(4, "the persisted verification record")
    record = client.identity.GetVerification(
        identity_pb2.GetVerificationRequest(verification_id=match.verification_id)
    ).verification
    _show(record, ["verification_id", "kind", "verdict", "client_id", "method", "created_at", "checks"])

    _step(5, "someone else in front of the camera")
    other = client.identity.MatchFace(
        identity_pb2.MatchFaceRequest(
            subject_id=subject.subject_id, reference=image(SELLER[0]), probe=image(STRANGER), skip_enrolment=True
        )
    )
    _show(other, ["decision", "similarity", "reasons"])

    _step(6, "one person behind a second account: the same face under another subject")
    second = client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"demo-second-{uuid.uuid4().hex[:8]}")
    ).subject
    dup = client.identity.MatchFace(
        identity_pb2.MatchFaceRequest(subject_id=second.subject_id, reference=image(SELLER[1]), probe=image(SELLER[0]))
    )
    _show(dup, ["decision", "duplicates", "review_case_id"])

    _step(7, "a bad upload gets a clear, stable error")
    try:
        client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject.subject_id, probe=common_pb2.Image(content=b"\xff\xd8\xff")
            )
        )
    except SellerVerifyError as err:
        print(f"   {err.code.name} {err.reason}: {err.message}")

    _step(8, "the seller's state")
    final = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject.subject_id)).subject
    _show(final, ["subject_id", "status", "face_enrolled"])
    print(
        "\nDocument reading, the liveness challenge and trust scores join this demo as their issues land "
        "(see docs/api.md for what is served)."
    )
    return 0
