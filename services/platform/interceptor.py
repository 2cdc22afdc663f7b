"""The one server interceptor: authentication, role checks, request limits, admission
control, error mapping, access logs.

Order per call: credentials, role, then the request's limits (validation.py: every
message, also each message of a client stream), then for heavy RPCs a place in their
admission lane (admission.py), then the handler. Request bytes that do not parse are
INVALID_ARGUMENT here, not grpc's INTERNAL.

Every RPC of the contract declares its allowed roles with the `allowed_roles` method
option in the .proto; the table below is read from the generated descriptors, so the
contract is the single source of truth. Health checking and reflection are open (they
reveal nothing beyond the public contract and liveness of the process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.core.errors import DomainError, ErrorKind
from services.core.images import set_min_side_floor
from services.core.reasons import Reason
from services.platform.admission import Admission, Lane, set_stream_lane
from services.platform.auth import Caller, Role, TokenStore, set_current_caller
from services.platform.logs import redact
from services.platform.validation import undecodable, validate

log = logging.getLogger("sellerverify.rpc")

ERROR_DOMAIN = "sellerverify.v1"
_OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_KIND_TO_CODE: dict[ErrorKind, tuple[grpc.StatusCode, int]] = {
    ErrorKind.INVALID_INPUT: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    ErrorKind.NOT_FOUND: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    ErrorKind.CONFLICT: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    ErrorKind.PRECONDITION: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    ErrorKind.UNAUTHENTICATED: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    ErrorKind.PERMISSION: (grpc.StatusCode.PERMISSION_DENIED, code_pb2.PERMISSION_DENIED),
    ErrorKind.RATE_LIMITED: (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED),
    ErrorKind.UNAVAILABLE: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    ErrorKind.NOT_IMPLEMENTED: (grpc.StatusCode.UNIMPLEMENTED, code_pb2.UNIMPLEMENTED),
    ErrorKind.INTERNAL: (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL),
}

# Images answering a liveness challenge must show a face and a hand-written code: below
# this many pixels on a side there is nothing to check (and a tiny face left the PAD
# checks an empty patch). Applied by the image gate to every image of these RPCs.
IMAGE_MIN_SIDE: dict[str, int] = {"RespondChallenge": 200, "StreamChallenge": 200}

# What an error may carry back to the caller: bounded, so that nothing a caller sent
# (an id of 20 KB) is echoed into trailing metadata.
MESSAGE_MAX = 400
VIOLATION_MAX = 300
METADATA_MAX = 120

_ROLE_FROM_PROTO = {1: Role.ONBOARDING, 2: Role.CS_REP, 3: Role.SCHEDULER, 4: Role.RISK, 5: Role.ADMIN}


def allowed_roles_table(file_descriptors: Iterable[Any]) -> dict[str, frozenset[Role]]:
    """Full method name → allowed roles, from the `allowed_roles` option of each RPC."""
    from sellerverify.v1 import common_pb2

    table: dict[str, frozenset[Role]] = {}
    for fd in file_descriptors:
        for service in fd.services_by_name.values():
            for method in service.methods:
                roles = method.GetOptions().Extensions[common_pb2.allowed_roles]
                table[f"/{service.full_name}/{method.name}"] = frozenset(_ROLE_FROM_PROTO[r] for r in roles)
    return table


def request_types_table(file_descriptors: Iterable[Any]) -> dict[str, Any]:
    """Full method name -> request message descriptor."""
    return {
        f"/{service.full_name}/{method.name}": method.input_type
        for fd in file_descriptors
        for service in fd.services_by_name.values()
        for method in service.methods
    }


def bounded(text: str, limit: int) -> str:
    """`text` redacted and cut to `limit` characters (an error never echoes more)."""
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rich_status(error: DomainError) -> status_pb2.Status:
    """google.rpc.Status with ErrorInfo (reason code), BadRequest (field violations) and
    RetryInfo (when to retry), every text bounded."""
    _, code = _KIND_TO_CODE[error.kind]
    metadata = {bounded(k, 60): bounded(v, METADATA_MAX) for k, v in list(error.metadata.items())[:10]}
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=ERROR_DOMAIN, metadata=metadata)
    details: list[Message] = [info]
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=bounded(v.field, 120), description=bounded(v.description, VIOLATION_MAX)
                    )
                    for v in error.violations[:20]
                ]
            )
        )
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(1, round(error.retry_after_s * 1000)))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    return status_pb2.Status(code=code, message=bounded(error.message, MESSAGE_MAX), details=packed)


async def abort_with(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    status = rpc_status.to_status(rich_status(error))
    await context.abort(status.code, status.details, status.trailing_metadata)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates, authorises, maps domain errors, and logs one line per call."""

    def __init__(
        self,
        tokens: TokenStore,
        roles: dict[str, frozenset[Role]],
        cert_callers: dict[str, Caller] | None = None,
        shutting_down: Callable[[], bool] = lambda: False,
        admission: Admission | None = None,
    ) -> None:
        self._tokens = tokens
        self._roles = roles
        self._cert_callers = cert_callers or {}
        self._shutting_down = shutting_down
        self._admission = admission

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if method.startswith(_OPEN_PREFIXES):
            return handler
        allowed = self._roles.get(method)
        metadata = dict(handler_call_details.invocation_metadata or ())
        lane = self._admission.lane_for(method) if self._admission else None
        return _wrap(
            handler,
            lambda ctx: self._authorise(method, allowed, metadata, ctx),
            method,
            lane,
            IMAGE_MIN_SIDE.get(method.rsplit("/", 1)[-1], 0),
        )

    def _authorise(
        self, method: str, allowed: frozenset[Role] | None, metadata: dict[str, Any], context: grpc.aio.ServicerContext
    ) -> Caller:
        if self._shutting_down():
            raise DomainError(Reason.SHUTTING_DOWN, "the server is shutting down; retry shortly", ErrorKind.UNAVAILABLE)
        caller = self._identify(metadata, context)
        if allowed is None:
            raise DomainError(
                Reason.NOT_IMPLEMENTED, f"{method} is not part of the contract", ErrorKind.NOT_IMPLEMENTED
            )
        if caller.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise DomainError(
                Reason.ROLE_NOT_ALLOWED,
                f"role {caller.role.value} may not call {method.rsplit('/', 1)[-1]}; allowed roles: {names}",
                ErrorKind.PERMISSION,
            )
        return caller

    def _identify(self, metadata: dict[str, Any], context: grpc.aio.ServicerContext) -> Caller:
        auth = metadata.get("authorization", "")
        if isinstance(auth, bytes):
            auth = auth.decode(errors="replace")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise DomainError(
                    Reason.CREDENTIALS_INVALID,
                    "authorization metadata must be 'Bearer <token>'",
                    ErrorKind.UNAUTHENTICATED,
                )
            return self._tokens.authenticate(token.strip())
        if self._cert_callers:
            auth_ctx = context.auth_context()
            for cn in auth_ctx.get("x509_common_name", []):
                caller = self._cert_callers.get(cn.decode())
                if caller:
                    return caller
        raise DomainError(
            Reason.CREDENTIALS_MISSING,
            "no credentials: send 'authorization: Bearer <token>' metadata",
            ErrorKind.UNAUTHENTICATED,
        )


class _Undecodable:
    """Stands in for a request whose bytes did not parse (answered INVALID_ARGUMENT)."""


_UNDECODABLE = _Undecodable()


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    # grpc answers INTERNAL when a deserializer raises; we answer INVALID_ARGUMENT instead.
    if deserializer is None:
        return None
    parse = deserializer

    def tolerant(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # noqa: BLE001 - any parse failure is the caller's malformed message
            return _UNDECODABLE

    return tolerant


def _wrap(
    handler: grpc.RpcMethodHandler,
    authorise: Callable[[grpc.aio.ServicerContext], Caller],
    method: str,
    lane: Lane | None = None,
    image_min_side: int = 0,
) -> grpc.RpcMethodHandler:
    def check(request: Any) -> None:
        if request is _UNDECODABLE:
            raise undecodable(method)
        validate(request)

    def enter(context: grpc.aio.ServicerContext) -> Caller:
        caller = authorise(context)
        set_current_caller(caller)
        set_min_side_floor(image_min_side)
        return caller

    async def checked(requests: AsyncIterator[Any], bad: list[DomainError]) -> AsyncIterator[Any]:
        # A bad message ends the stream as seen by the handler; the interceptor then fails the call.
        async for message in requests:
            try:
                check(message)
            except DomainError as exc:
                bad.append(exc)
                return
            yield message

    deserializer = _tolerant(handler.request_deserializer)

    def log_line(caller: Caller | None, started: float, outcome: str, reason: str = "") -> None:
        log.info(
            "rpc",
            extra={
                "method": method,
                "client_id": caller.client_id if caller else None,
                "role": caller.role.value if caller else None,
                "outcome": outcome,
                "reason": reason or None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    async def fail(context: grpc.aio.ServicerContext, caller: Caller | None, started: float, exc: Exception) -> None:
        if isinstance(exc, DomainError):
            error = exc
        elif isinstance(exc, NotImplementedError):
            error = DomainError(
                Reason.NOT_IMPLEMENTED,
                f"{method.rsplit('/', 1)[-1]} is in the contract but not served by this version yet",
                ErrorKind.NOT_IMPLEMENTED,
            )
        else:
            # Never log the exception text itself at INFO: it could echo request data.
            log.error("unhandled error in %s: %s", method, type(exc).__name__, exc_info=exc)
            error = DomainError(
                Reason.INTERNAL_FAULT, "internal error; nothing was saved, retry the request", ErrorKind.INTERNAL
            )
        log_line(caller, started, _KIND_TO_CODE[error.kind][0].name, error.reason.value)
        await abort_with(context, error)

    if handler.unary_unary:
        inner_uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started, caller = time.perf_counter(), None
            try:
                caller = enter(context)
                check(request)
                if lane is None:
                    response = await inner_uu(request, context)
                else:
                    async with lane.slot():
                        response = await inner_uu(request, context)
            except Exception as exc:
                if _is_abort(exc):
                    raise
                await fail(context, caller, started, exc)
                return None
            log_line(caller, started, "OK")
            return response

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, handler.response_serializer)

    if handler.stream_stream or handler.unary_stream:
        is_stream_in = handler.stream_stream is not None
        inner_ss = handler.stream_stream or handler.unary_stream

        async def streaming(request_or_iter: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started, caller = time.perf_counter(), None
            bad: list[DomainError] = []
            try:
                caller = enter(context)
                set_stream_lane(lane)
                if is_stream_in:
                    request_or_iter = checked(request_or_iter, bad)
                else:
                    check(request_or_iter)
                async with aclosing(inner_ss(request_or_iter, context)) as items:
                    async for item in items:
                        if bad:
                            break
                        yield item
                if bad:
                    raise bad[0]
            except Exception as exc:
                if _is_abort(exc):
                    raise
                # A refused message explains whatever the handler then said about the cut stream.
                await fail(context, caller, started, bad[0] if bad else exc)
                return
            log_line(caller, started, "OK")

        factory = grpc.stream_stream_rpc_method_handler if is_stream_in else grpc.unary_stream_rpc_method_handler
        return factory(streaming, deserializer, handler.response_serializer)

    if handler.stream_unary:
        inner_su = handler.stream_unary

        async def stream_unary(request_iter: Any, context: grpc.aio.ServicerContext) -> Any:
            started, caller = time.perf_counter(), None
            bad: list[DomainError] = []
            try:
                caller = enter(context)
                set_stream_lane(lane)
                response = await inner_su(checked(request_iter, bad), context)
                if bad:
                    raise bad[0]
            except Exception as exc:
                if _is_abort(exc):
                    raise
                # A refused message explains whatever the handler then said about the cut stream.
                await fail(context, caller, started, bad[0] if bad else exc)
                return None
            log_line(caller, started, "OK")
            return response

        return grpc.stream_unary_rpc_method_handler(stream_unary, deserializer, handler.response_serializer)
    return handler


def _is_abort(exc: BaseException) -> bool:
    # context.abort raises this internally to end the call; let it through untouched.
    return type(exc).__name__ == "AbortError" or isinstance(exc, grpc.aio.AbortError)
