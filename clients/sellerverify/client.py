"""The Seller Verify Python SDK.

    from sellerverify import Client
    with Client("127.0.0.1:50051", token="...") as sv:
        subject = sv.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref="user-42")).subject

Every stub method of the five services is available as `client.<service>.<Rpc>(request)`
with the bearer token attached, a deadline, and retries of transient failures
(UNAVAILABLE, and RESOURCE_EXHAUSTED with reason RATE_LIMITED). A mutating request
without a request_id gets one generated *before* the first attempt, so every retry
reuses it and the server does the work once. Errors arrive as `SellerVerifyError`
with the stable reason code and field violations.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sellerverify.v1 import (
    identity_pb2_grpc,
    liveness_pb2_grpc,
    reverify_pb2_grpc,
    review_pb2_grpc,
    trust_pb2_grpc,
)

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE}


@dataclass
class FieldViolation:
    field: str
    description: str


@dataclass
class SellerVerifyError(Exception):
    """A failed call: gRPC status, stable reason code, message, field violations."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    # The server's google.rpc.RetryInfo hint (seconds), when it sent one (RATE_LIMITED).
    retry_after_s: float | None = None

    def __str__(self) -> str:
        text = f"{self.code.name} {self.reason}: {self.message}"
        for v in self.violations:
            text += f"\n  {v.field}: {v.description}"
        return text

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> SellerVerifyError:
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        message = err.details() if hasattr(err, "details") else str(err)
        reason, violations, meta, retry_after = "", [], {}, None
        try:
            status = rpc_status.from_call(err)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a status without details is still an error
            status = None
        if status is not None:
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason, meta = info.reason, dict(info.metadata)
                elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
                elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    hint = error_details_pb2.RetryInfo()
                    detail.Unpack(hint)
                    retry_after = hint.retry_delay.ToMilliseconds() / 1000
        return cls(code, reason, message or "", violations, meta, retry_after)


class _Service:
    """Wraps one generated stub: auth metadata, deadline, retries, error mapping."""

    def __init__(self, client: Client, stub: Any) -> None:
        self._client = client
        self._stub = stub

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)
        if isinstance(method, grpc.StreamStreamMultiCallable):
            return self._streaming(method)
        if isinstance(method, grpc.UnaryStreamMultiCallable):
            return self._server_streaming(method)

        def call(request: Any, timeout: float | None = None) -> Any:
            self._client._ensure_request_id(request)
            return self._client._with_retries(method, request, timeout)

        call.__name__ = name
        return call

    def _streaming(self, method: grpc.StreamStreamMultiCallable) -> Callable[..., Iterator[Any]]:
        def call(requests: Iterator[Any], timeout: float | None = None) -> Iterator[Any]:
            try:
                yield from method(
                    requests, timeout=timeout or self._client.stream_timeout, metadata=self._client._metadata()
                )
            except grpc.RpcError as err:
                raise SellerVerifyError.from_rpc_error(err) from None

        return call

    def _server_streaming(self, method: grpc.UnaryStreamMultiCallable) -> Callable[..., Iterator[Any]]:
        def call(request: Any, timeout: float | None = None) -> Iterator[Any]:
            try:
                yield from method(
                    request, timeout=timeout or self._client.stream_timeout, metadata=self._client._metadata()
                )
            except grpc.RpcError as err:
                raise SellerVerifyError.from_rpc_error(err) from None

        return call


class Client:
    """A connection to a Seller Verify deployment (all services behind one address,
    or pass `targets={"identity": "host:port", ...}` for one address per service)."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        token: str | None = None,
        *,
        targets: dict[str, str] | None = None,
        tls: bool = False,
        root_cert: Path | bytes | None = None,
        client_cert: Path | bytes | None = None,
        client_key: Path | bytes | None = None,
        timeout: float = 30.0,
        stream_timeout: float = 120.0,
        retries: int = 3,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.token = token
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self.retries = retries
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        creds = None
        if tls or root_cert or client_cert:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(root_cert), private_key=_read(client_key), certificate_chain=_read(client_cert)
            )
        self._channels: dict[str, grpc.Channel] = {}

        def channel(addr: str) -> grpc.Channel:
            if addr not in self._channels:
                self._channels[addr] = (
                    grpc.secure_channel(addr, creds, options) if creds else grpc.insecure_channel(addr, options)
                )
            return self._channels[addr]

        t = targets or {}
        self.identity = _Service(self, identity_pb2_grpc.IdentityServiceStub(channel(t.get("identity", target))))
        self.liveness = _Service(self, liveness_pb2_grpc.LivenessServiceStub(channel(t.get("liveness", target))))
        self.reverify = _Service(self, reverify_pb2_grpc.ReverifyServiceStub(channel(t.get("reverify", target))))
        self.review = _Service(self, review_pb2_grpc.ReviewServiceStub(channel(t.get("review", target))))
        self.trust = _Service(self, trust_pb2_grpc.TrustServiceStub(channel(t.get("trust", target))))
        self._default_channel = channel(target)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()

    def health(self, service: str = "", timeout: float = 5.0) -> str:
        """SERVING / NOT_SERVING / SERVICE_UNKNOWN for `service` ("" = the whole server)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._default_channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as err:
            raise SellerVerifyError.from_rpc_error(err) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    def _metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    @staticmethod
    def _ensure_request_id(request: Any) -> None:
        if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:
            request.request_id = str(uuid.uuid4())

    def _with_retries(self, method: Callable[..., Any], request: Any, timeout: float | None) -> Any:
        deadline = time.monotonic() + (timeout or self.timeout)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                return method(request, timeout=max(remaining, 0.001), metadata=self._metadata())
            except grpc.RpcError as err:
                error = SellerVerifyError.from_rpc_error(err)
                retryable = error.code in _RETRYABLE or error.reason == "RATE_LIMITED"
                attempt += 1
                if not retryable or attempt > self.retries:
                    raise error from None
                pause = min(2.0, 0.1 * 2**attempt) * (0.5 + random.random())
                if error.retry_after_s is not None:  # the server said when: wait that long, with jitter
                    pause = error.retry_after_s * (1.0 + 0.5 * random.random())
                if time.monotonic() + pause >= deadline:
                    raise error from None
                time.sleep(pause)


def _read(value: Path | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()
