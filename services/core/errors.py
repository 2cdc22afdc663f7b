"""Domain errors. The domain raises these; one gRPC interceptor maps them to statuses.

The domain never imports grpc: `ErrorKind` names what went wrong in domain terms and
services/platform/errors.py owns the mapping to gRPC status codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from services.core.reasons import Reason


class ErrorKind(Enum):
    """What sort of failure, independent of transport."""

    INVALID_INPUT = "invalid_input"  # the caller sent something unusable
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # already exists / request id reused
    PRECONDITION = "precondition"  # valid request, wrong state
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION = "permission"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_IMPLEMENTED = "not_implemented"
    INTERNAL = "internal"


@dataclass(frozen=True)
class FieldViolation:
    """One offending request field (proto field path) and what is wrong with it."""

    field: str
    description: str


@dataclass
class DomainError(Exception):
    """An error with a stable reason code and an actionable message.

    `message` must say what was wrong and what to do, and must never contain
    biometric data, images, tokens or full ID numbers.
    """

    reason: Reason
    message: str
    kind: ErrorKind = ErrorKind.INVALID_INPUT
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    # For RATE_LIMITED / UNAVAILABLE: when to retry (sent as google.rpc.RetryInfo).
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"


def invalid(reason: Reason, message: str, field_path: str | None = None) -> DomainError:
    """An INVALID_INPUT error, with a field violation when the field is known."""
    violations = [FieldViolation(field_path, message)] if field_path else []
    return DomainError(reason, message, ErrorKind.INVALID_INPUT, violations)


def not_found(reason: Reason, message: str) -> DomainError:
    return DomainError(reason, message, ErrorKind.NOT_FOUND)


def precondition(reason: Reason, message: str) -> DomainError:
    return DomainError(reason, message, ErrorKind.PRECONDITION)


def missing(field_path: str) -> DomainError:
    """The required field `field_path` is empty."""
    return invalid(Reason.MISSING_FIELD, f"{field_path} is required", field_path)
