"""Cross-cutting persistence: encrypted blobs, verification records, audit events,
idempotent request handling and retention.

All writers take the caller's open Session, so that a verification, its blobs, its
audit events and its idempotency record commit in one transaction, or not at all.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason
from services.platform.auth import Caller
from services.platform.crypto import KeyRing
from services.platform.database import Database
from services.platform.models import AuditEventRow, BlobRow, FaceTemplateRow, IdempotencyRow, VerificationRow

log = logging.getLogger("sellerverify.records")

M = TypeVar("M", bound=Message)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Retention:
    images: timedelta
    templates: timedelta
    idempotency: timedelta


class BlobStore:
    """Encrypted storage of images and templates, with an expiry per purpose."""

    TEMPLATE_PURPOSES = frozenset({"face_template"})

    def __init__(self, keys: KeyRing, retention: Retention) -> None:
        self._keys = keys
        self._retention = retention

    def put(self, session: Session, data: bytes, *, purpose: str, media_type: str, subject_id: str | None) -> str:
        blob_id = new_id()
        now = utcnow()
        keep = self._retention.templates if purpose in self.TEMPLATE_PURPOSES else self._retention.images
        session.add(
            BlobRow(
                id=blob_id,
                subject_id=subject_id,
                purpose=purpose,
                media_type=media_type,
                key_id=self._keys.current_id,
                sealed=self._keys.seal(data, f"blob:{blob_id}"),
                created_at=now,
                expires_at=now + keep,
            )
        )
        return blob_id

    def get(self, session: Session, blob_id: str) -> tuple[bytes, BlobRow] | None:
        row = session.get(BlobRow, blob_id)
        if row is None or row.expires_at <= utcnow():
            return None
        return self._keys.open(row.sealed, f"blob:{blob_id}"), row

    def purge_expired(self, session: Session, now: datetime | None = None) -> int:
        result = session.execute(delete(BlobRow).where(BlobRow.expires_at <= (now or utcnow())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class AuditLog:
    """Who touched which subject's data, and when. Never holds the data itself."""

    def record(
        self,
        session: Session,
        caller: Caller,
        action: str,
        subject_id: str | None = None,
        resource: str | None = None,
        detail: str | None = None,
    ) -> None:
        session.add(
            AuditEventRow(
                at=utcnow(),
                actor=caller.client_id,
                role=caller.role.value,
                action=action,
                subject_id=subject_id,
                resource=resource,
                detail=(detail or None) and detail[:400],
            )
        )


class Sealer:
    """Seals protobuf messages and JSON-able results stored in rows."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def seal_message(self, message: Message, aad: str) -> bytes:
        return self.keys.seal(message.SerializeToString(deterministic=True), aad)

    def open_message(self, sealed: bytes, aad: str, cls: type[M]) -> M:
        msg = cls()
        msg.ParseFromString(self.keys.open(sealed, aad))
        return msg


def request_digest(request: Message) -> str:
    """Digest of a request, excluding nothing: the same id must carry the same payload."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


class Idempotency:
    """Runs a mutating RPC at most once per (client, method, request id)."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    def _aad(self, caller: Caller, method: str, request_id: str) -> str:
        return f"idem:{caller.client_id}:{method}:{request_id}"

    def lookup(self, caller: Caller, method: str, request_id: str, request: Message, cls: type[M]) -> M | None:
        """The stored response for a repeated request, or None for a new one."""
        if not request_id:
            raise DomainError(
                Reason.MISSING_FIELD,
                "request_id is required on every mutating call (any unique string, e.g. a UUID)",
                ErrorKind.INVALID_INPUT,
            )
        if len(request_id) > 100:
            raise DomainError(Reason.INVALID_FIELD, "request_id is longer than 100 characters", ErrorKind.INVALID_INPUT)
        with self._db.read() as session:
            row = session.get(IdempotencyRow, (caller.client_id, method, request_id))
            if row is None:
                return None
            if row.request_digest != request_digest(request):
                raise DomainError(
                    Reason.REQUEST_ID_REUSED,
                    f"request_id {request_id!r} was already used for a different request; use a new id",
                    ErrorKind.CONFLICT,
                )
            return self._sealer.open_message(row.response_sealed, self._aad(caller, method, request_id), cls)

    def remember(
        self, session: Session, caller: Caller, method: str, request_id: str, request: Message, response: Message
    ) -> None:
        session.add(
            IdempotencyRow(
                client_id=caller.client_id,
                method=method,
                request_id=request_id,
                request_digest=request_digest(request),
                response_sealed=self._sealer.seal_message(response, self._aad(caller, method, request_id)),
                created_at=utcnow(),
            )
        )

    def commit_once(
        self,
        caller: Caller,
        method: str,
        request_id: str,
        request: Message,
        cls: type[M],
        write: Callable[[Session], M],
        pause: Callable[[], None] = lambda: None,
    ) -> M:
        """Run `write` in one transaction together with the idempotency record.

        If a concurrent identical request won the race, its stored response is returned
        and this transaction is rolled back.
        """
        try:
            with self._db.transaction() as session:
                response = write(session)
                pause()
                self.remember(session, caller, method, request_id, request, response)
            return response
        except IntegrityError:
            stored = self.lookup(caller, method, request_id, request, cls)
            if stored is None:
                raise
            return stored


class VerificationLog:
    """Persists verification records (the audit trail of every decision)."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def add(
        self,
        session: Session,
        *,
        verification_id: str,
        caller: Caller,
        method: str,
        request_id: str,
        subject_id: str | None,
        kind: str,
        verdict: str,
        reasons: list[dict[str, Any]],
        checks: list[dict[str, Any]] | None = None,
        models: list[dict[str, Any]] | None = None,
        input_blob_ids: list[str] | None = None,
        result: Message | None = None,
    ) -> None:
        session.add(
            VerificationRow(
                id=verification_id,
                subject_id=subject_id,
                kind=kind,
                verdict=verdict,
                reasons=reasons,
                checks=checks or [],
                models=models or [],
                input_blob_ids=input_blob_ids or [],
                client_id=caller.client_id,
                method=method,
                request_id=request_id,
                result_sealed=self._sealer.seal_message(result, f"verification:{verification_id}") if result else None,
                created_at=utcnow(),
            )
        )
        from services.platform import events  # events imports this module

        events.emit(
            session,
            "verification.recorded",
            subject_id=subject_id,
            payload={
                "verification_id": verification_id,
                "kind": kind,
                "verdict": verdict,
                "reasons": [r.get("code") for r in reasons if isinstance(r, dict)],
            },
            actor=caller.client_id,
        )

    def get(self, session: Session, verification_id: str) -> VerificationRow | None:
        return session.get(VerificationRow, verification_id)

    def latest(self, session: Session, subject_id: str, kind: str) -> VerificationRow | None:
        return session.scalars(
            select(VerificationRow)
            .where(VerificationRow.subject_id == subject_id, VerificationRow.kind == kind)
            .order_by(VerificationRow.created_at.desc())
            .limit(1)
        ).first()


def purge_expired(
    db: Database, blobs: BlobStore, retention: Retention, purged_templates: list[str] | None = None
) -> dict[str, int]:
    """Delete biometric blobs past retention and old idempotency records.

    Face templates whose sealed vector expires are deleted with it, and their ids are
    appended to `purged_templates` so the caller can drop them from search indexes too."""
    now = utcnow()
    with db.transaction() as session:
        expiring = list(
            session.scalars(
                select(FaceTemplateRow.id)
                .join(BlobRow, FaceTemplateRow.blob_id == BlobRow.id)
                .where(BlobRow.expires_at <= now)
            )
        )
        if expiring:
            session.execute(delete(FaceTemplateRow).where(FaceTemplateRow.id.in_(expiring)))
        n_blobs = blobs.purge_expired(session, now)
        res = session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at <= now - retention.idempotency))
        n_idem = int(res.rowcount or 0)  # type: ignore[attr-defined]
    if purged_templates is not None:
        purged_templates.extend(expiring)
    if n_blobs or n_idem:
        log.info(
            "retention purge",
            extra={"blobs_deleted": n_blobs, "templates_deleted": len(expiring), "idempotency_deleted": n_idem},
        )
    return {"blobs": n_blobs, "templates": len(expiring), "idempotency": n_idem}
