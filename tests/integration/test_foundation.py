"""The suite's ground: health, reflection, auth, errors, idempotency, persistence,
hostile images. A real server on an ephemeral port over SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, identity_pb2_grpc, trust_pb2
from sqlalchemy import func, select

from services.platform.models import AuditEventRow, BlobRow, IdempotencyRow, SubjectRow, VerificationRow
from services.platform.settings import ALL_SERVICES
from services.server import SERVICE_NAMES, ServerThread
from tests import images
from tests.conftest import FACES, TOKENS, make_settings

OBAMA_A = FACES / "barack_obama" / "facerec_obama.jpg"
OBAMA_B = FACES / "barack_obama" / "facerec_obama1.jpg"


def _new_subject(client) -> str:  # type: ignore[no-untyped-def]
    return client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"user-{uuid.uuid4().hex[:10]}")
    ).subject.subject_id


def _count(server, model) -> int:  # type: ignore[no-untyped-def]
    with server.app.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_every_service_reports_serving(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(None) as client:
        assert client.health("") == "SERVING"
        for name in ALL_SERVICES:
            assert client.health(SERVICE_NAMES[name]) == "SERVING"


def test_reflection_lists_every_service(server) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert set(SERVICE_NAMES.values()) | {"grpc.health.v1.Health"} <= names


def test_reflection_serves_descriptors_a_generic_client_can_call_with(server) -> None:  # type: ignore[no-untyped-def]
    """What grpcurl and Postman rely on: the full method signatures, from the server alone."""
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(server.address) as channel:
        pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        for full_name in SERVICE_NAMES.values():
            assert pool.FindServiceByName(full_name).methods
        method = pool.FindServiceByName(SERVICE_NAMES["identity"]).methods_by_name["CreateSubject"]
        external_ref = method.input_type.fields_by_name["external_ref"]
        assert external_ref.type == external_ref.TYPE_STRING
        assert method.output_type.full_name == "sellerverify.v1.CreateSubjectResponse"


def test_call_without_credentials_is_unauthenticated(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(None) as client, pytest.raises(SellerVerifyError) as err:
        client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.reason == "CREDENTIALS_MISSING"


def test_unknown_token_is_unauthenticated(server) -> None:  # type: ignore[no-untyped-def]
    from sellerverify import Client

    with Client(server.address, token="not-a-real-token-000000") as client, pytest.raises(SellerVerifyError) as err:
        client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.reason == "CREDENTIALS_INVALID"


def test_authorization_that_is_not_a_bearer_token_is_refused(server) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(server.address) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetSubject(
                identity_pb2.GetSubjectRequest(subject_id="x"),
                metadata=[("authorization", f"Basic {TOKENS['admin']}")],
                timeout=10,
            )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    status = rpc_status.from_call(err.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details)
    assert (info.reason, info.domain) == ("CREDENTIALS_INVALID", "sellerverify.v1")


def test_wrong_role_is_permission_denied(server) -> None:  # type: ignore[no-untyped-def]
    with server.client("cs_rep") as client, pytest.raises(SellerVerifyError) as err:
        client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref="x"))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.reason == "ROLE_NOT_ALLOWED"
    with server.client("onboarding") as client, pytest.raises(SellerVerifyError) as err:
        client.trust.ListAuditEvents(trust_pb2.ListAuditEventsRequest(subject_id="x"))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_same_request_id_returns_the_stored_response_and_writes_once(server) -> None:  # type: ignore[no-untyped-def]
    ref = f"idem-{uuid.uuid4().hex[:8]}"
    request = identity_pb2.CreateSubjectRequest(request_id=str(uuid.uuid4()), external_ref=ref)
    with server.client() as client:
        first = client.identity.CreateSubject(request)
        second = client.identity.CreateSubject(request)
    assert first == second
    with server.app.db.read() as session:
        assert session.scalar(select(func.count()).where(SubjectRow.external_ref == ref)) == 1
        assert session.scalar(select(func.count()).where(IdempotencyRow.request_id == request.request_id)) == 1


def test_reused_request_id_with_other_payload_is_refused(server) -> None:  # type: ignore[no-untyped-def]
    rid = str(uuid.uuid4())
    with server.client() as client:
        client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(request_id=rid, external_ref=f"a-{rid}"))
        with pytest.raises(SellerVerifyError) as err:
            client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(request_id=rid, external_ref=f"b-{rid}"))
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert err.value.reason == "REQUEST_ID_REUSED"


def test_missing_field_names_the_field(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client, pytest.raises(SellerVerifyError) as err:
        client.identity.CreateSubject(identity_pb2.CreateSubjectRequest())
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == "MISSING_FIELD"
    assert [v.field for v in err.value.violations] == ["external_ref"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (images.png_bomb(30000), "IMAGE_TOO_LARGE_PIXELS"),
        (images.truncated_jpeg(OBAMA_A.read_bytes()), "IMAGE_TRUNCATED"),
        (images.noise(50 * 1024 * 1024), "IMAGE_TOO_LARGE_BYTES"),
        (images.noise(4096), "IMAGE_CORRUPT"),
        (b"GIF89a" + b"\x00" * 100, "IMAGE_FORMAT_UNSUPPORTED"),
    ],
    ids=["decompression-bomb", "truncated-jpeg", "50MB-noise", "noise", "gif"],
)
def test_hostile_image_is_refused_before_any_work(server, payload: bytes, reason: str) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client:
        subject_id = _new_subject(client)
        before = (_count(server, VerificationRow), _count(server, BlobRow))
        with pytest.raises(SellerVerifyError) as err:
            client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(
                    subject_id=subject_id,
                    probe=common_pb2.Image(content=payload),
                    reference=common_pb2.Image(content=OBAMA_A.read_bytes()),
                )
            )
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.reason == reason
        assert err.value.violations and err.value.violations[0].field == "probe.content"
        assert (_count(server, VerificationRow), _count(server, BlobRow)) == before
        assert client.health(SERVICE_NAMES["identity"]) == "SERVING"


@pytest.mark.parametrize(
    ("side", "payload", "reason"),
    [
        ("front", images.png_bomb(20000), "IMAGE_TOO_LARGE_PIXELS"),
        ("back", images.truncated_jpeg(OBAMA_A.read_bytes()), "IMAGE_TRUNCATED"),
    ],
    ids=["bomb-front", "truncated-back"],
)
def test_hostile_document_image_is_refused_before_ocr(server, side: str, payload: bytes, reason: str) -> None:  # type: ignore[no-untyped-def]
    good = common_pb2.Image(content=OBAMA_A.read_bytes())
    with server.client() as client:
        subject_id = _new_subject(client)
        sides = {"front": good, "back": good, side: common_pb2.Image(content=payload)}
        with pytest.raises(SellerVerifyError) as err:
            client.identity.SubmitDocument(
                identity_pb2.SubmitDocumentRequest(subject_id=subject_id, front=sides["front"], back=sides["back"])
            )
        assert (err.value.code, err.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
        assert [v.field for v in err.value.violations] == [f"{side}.content"]
        assert client.health(SERVICE_NAMES["identity"]) == "SERVING"


def test_face_match_is_persisted_with_model_caller_and_encrypted_inputs(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client:
        subject_id = _new_subject(client)
        selfie = OBAMA_B.read_bytes()
        response = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject_id,
                probe=common_pb2.Image(content=selfie),
                reference=common_pb2.Image(content=OBAMA_A.read_bytes()),
            )
        )
        assert response.decision == common_pb2.MATCH_DECISION_MATCH
        record = client.identity.GetVerification(
            identity_pb2.GetVerificationRequest(verification_id=response.verification_id)
        ).verification
    assert record.subject_id == subject_id
    assert record.client_id == "onboarding-client"
    assert record.method.endswith("/MatchFace")
    assert record.models[0].engine == response.model.engine == "sface"
    assert record.verdict == common_pb2.VERDICT_PASS
    with server.app.db.read() as session:
        row = session.get(VerificationRow, response.verification_id)
        assert row is not None and len(row.input_blob_ids) == 2
        for blob_id in row.input_blob_ids:
            blob = session.get(BlobRow, blob_id)
            assert blob is not None
            assert selfie[:2000] not in blob.sealed and b"JFIF" not in blob.sealed
            assert blob.key_id == server.app.keys.current_id
        actions = set(session.scalars(select(AuditEventRow.action).where(AuditEventRow.subject_id == subject_id)))
    assert {"create_subject", "match_face"} <= actions


def test_deadline_is_honoured_and_server_stays_up(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client:
        subject_id = _new_subject(client)
        with pytest.raises(SellerVerifyError) as err:
            client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(
                    subject_id=subject_id,
                    probe=common_pb2.Image(content=OBAMA_B.read_bytes()),
                    reference=common_pb2.Image(content=OBAMA_A.read_bytes()),
                ),
                timeout=0.001,
            )
        assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert client.health("") == "SERVING"


def test_one_service_per_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'sv.db'}", services=["trust"])
    with ServerThread(settings) as srv:
        from sellerverify import Client

        with Client(f"127.0.0.1:{srv.port}", token=TOKENS["onboarding"]) as client:
            assert client.health(SERVICE_NAMES["trust"]) == "SERVING"
            with pytest.raises(SellerVerifyError) as err:
                client.health(SERVICE_NAMES["identity"])
            assert err.value.code == grpc.StatusCode.NOT_FOUND
            with pytest.raises(SellerVerifyError) as err:
                client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
            assert err.value.code == grpc.StatusCode.UNIMPLEMENTED
        assert "face_flow" not in srv.app._lazy  # a trust-only process never loads face models
