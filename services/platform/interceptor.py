"""The one server interceptor: authentication, role checks, error mapping, access logs.

Every RPC of the contract declares its allowed roles with the `allowed_roles` method
option in the .proto; the table below is read from the generated descriptors, so the
contract is the single source of truth. Health checking and reflection are open (they
reveal nothing beyond the public contract and liveness of the process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason
from services.platform.auth import Caller, Role, TokenStore, set_current_caller

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


def rich_status(error: DomainError) -> status_pb2.Status:
    """google.rpc.Status with ErrorInfo (reason code) and BadRequest (field violations)."""
    _, code = _KIND_TO_CODE[error.kind]
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=ERROR_DOMAIN, metadata=error.metadata)
    details = [info]
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ]
            )
        )
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    return status_pb2.Status(code=code, message=error.message, details=packed)


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
    ) -> None:
        self._tokens = tokens
        self._roles = roles
        self._cert_callers = cert_callers or {}
        self._shutting_down = shutting_down

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
        return _wrap(handler, lambda ctx: self._authorise(method, allowed, metadata, ctx), method)

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


def _wrap(
    handler: grpc.RpcMethodHandler,
    authorise: Callable[[grpc.aio.ServicerContext], Caller],
    method: str,
) -> grpc.RpcMethodHandler:
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
                caller = authorise(context)
                set_current_caller(caller)
                response = await inner_uu(request, context)
            except Exception as exc:
                if _is_abort(exc):
                    raise
                await fail(context, caller, started, exc)
                return None
            log_line(caller, started, "OK")
            return response

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer
        )

    if handler.stream_stream or handler.unary_stream:
        is_stream_in = handler.stream_stream is not None
        inner_ss = handler.stream_stream or handler.unary_stream

        async def streaming(request_or_iter: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started, caller = time.perf_counter(), None
            try:
                caller = authorise(context)
                set_current_caller(caller)
                async for item in inner_ss(request_or_iter, context):
                    yield item
            except Exception as exc:
                if _is_abort(exc):
                    raise
                await fail(context, caller, started, exc)
                return
            log_line(caller, started, "OK")

        factory = grpc.stream_stream_rpc_method_handler if is_stream_in else grpc.unary_stream_rpc_method_handler
        return factory(streaming, handler.request_deserializer, handler.response_serializer)

    if handler.stream_unary:
        inner_su = handler.stream_unary

        async def stream_unary(request_iter: Any, context: grpc.aio.ServicerContext) -> Any:
            started, caller = time.perf_counter(), None
            try:
                caller = authorise(context)
                set_current_caller(caller)
                response = await inner_su(request_iter, context)
            except Exception as exc:
                if _is_abort(exc):
                    raise
                await fail(context, caller, started, exc)
                return None
            log_line(caller, started, "OK")
            return response

        return grpc.stream_unary_rpc_method_handler(
            stream_unary, handler.request_deserializer, handler.response_serializer
        )
    return handler


def _is_abort(exc: BaseException) -> bool:
    # context.abort raises this internally to end the call; let it through untouched.
    return type(exc).__name__ == "AbortError" or isinstance(exc, grpc.aio.AbortError)
