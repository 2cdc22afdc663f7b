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
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason
from services.platform.auth import Caller
from services.platform.crypto import KeyRing
from services.platform.database import Database
from services.platform.models import (
    AuditEventRow,
    BlobRow,
    DocumentRow,
    FaceTemplateRow,
    IdempotencyRow,
    SubjectRow,
    VerificationRow,
)

log = logging.getLogger("sellerverify.records")

M = TypeVar("M", bound=Message)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Retention:
    """How long each kind of data is kept. Applied at purge time to what is stored
    (from each row's created_at), so a changed setting reaches old rows too."""

    images: timedelta
    templates: timedelta
    idempotency: timedelta
    # Personal fields of documents, subjects' names and sealed full responses.
    personal: timedelta = timedelta(days=90)


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

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def keep_for(self, purpose: str) -> timedelta:
        """The current retention of blobs of `purpose`."""
        return self._retention.templates if purpose in self.TEMPLATE_PURPOSES else self._retention.images

    def get(self, session: Session, blob_id: str) -> tuple[bytes, BlobRow] | None:
        row = session.get(BlobRow, blob_id)
        now = utcnow()
        if row is None or row.expires_at <= now or row.created_at + self.keep_for(row.purpose) <= now:
            return None
        return self._keys.open(row.sealed, f"blob:{blob_id}"), row

    def expired(self, now: datetime) -> ColumnElement[bool]:
        """Blobs past retention: the expiry fixed when written, or created_at plus the
        *current* policy, whichever comes first (lowering a setting applies to old blobs)."""
        templates = tuple(self.TEMPLATE_PURPOSES)
        return or_(
            BlobRow.expires_at <= now,
            and_(BlobRow.purpose.in_(templates), BlobRow.created_at <= now - self._retention.templates),
            and_(BlobRow.purpose.not_in(templates), BlobRow.created_at <= now - self._retention.images),
        )

    def purge_expired(self, session: Session, now: datetime | None = None) -> int:
        result = session.execute(delete(BlobRow).where(self.expired(now or utcnow())))
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

    @staticmethod
    def check_request_id(request_id: str) -> None:
        if not request_id:
            raise DomainError(
                Reason.MISSING_FIELD,
                "request_id is required on every mutating call (any unique string, e.g. a UUID)",
                ErrorKind.INVALID_INPUT,
            )
        if len(request_id) > 100:
            raise DomainError(Reason.INVALID_FIELD, "request_id is longer than 100 characters", ErrorKind.INVALID_INPUT)

    def lookup(self, caller: Caller, method: str, request_id: str, request: Message, cls: type[M]) -> M | None:
        """The stored response for a repeated request, or None for a new one."""
        self.check_request_id(request_id)
        row = self._db.first(
            select(IdempotencyRow.request_digest, IdempotencyRow.response_sealed).where(
                IdempotencyRow.client_id == caller.client_id,
                IdempotencyRow.method == method,
                IdempotencyRow.request_id == request_id,
            )
        )
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

        A request id already served (a replay, or a concurrent identical request that won
        the race) gets its stored response and this transaction is rolled back: its
        idempotency row collides, or `write` refuses because the first call changed the
        state (a case already decided), and the stored answer is looked up then.
        """
        self.check_request_id(request_id)
        try:
            with self._db.transaction() as session:
                response = write(session)
                pause()
                self.remember(session, caller, method, request_id, request, response)
            return response
        except DomainError:
            stored = self.lookup(caller, method, request_id, request, cls)
            if stored is None:
                raise
            return stored
        except IntegrityError as exc:
            stored = self.lookup(caller, method, request_id, request, cls)
            if stored is None and not _unique_violation(exc):
                raise
            if stored is None:
                # Not our own twin: a concurrent request committed a row with the same unique
                # key first (on PostgreSQL both pass the existence check). That is the
                # conflict the check would have reported, not a fault.
                raise DomainError(
                    Reason.ALREADY_EXISTS,
                    "a concurrent request created the same object first; read it, or retry with other values",
                    ErrorKind.CONFLICT,
                ) from None
            return stored


def _unique_violation(exc: IntegrityError) -> bool:
    """Whether `exc` is a unique-key collision (PostgreSQL SQLSTATE 23505, SQLite UNIQUE)."""
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


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
    db: Database,
    blobs: BlobStore,
    retention: Retention,
    purged_templates: list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete biometric blobs past retention and old idempotency records, and reduce
    personal data past its retention to what the policy keeps (see `minimise_personal`).

    Every expiry is computed from the row's created_at and the *current* settings.
    Face templates whose sealed vector expires are deleted with it, and their ids are
    appended to `purged_templates` so the caller can drop them from search indexes too."""
    now = now or utcnow()
    with db.transaction() as session:
        expiring = list(
            session.scalars(
                select(FaceTemplateRow.id)
                .join(BlobRow, FaceTemplateRow.blob_id == BlobRow.id)
                .where(blobs.expired(now))
            )
        )
        if expiring:
            session.execute(delete(FaceTemplateRow).where(FaceTemplateRow.id.in_(expiring)))
        n_blobs = blobs.purge_expired(session, now)
        # Stored responses repeat what the call returned (document fields): never kept
        # longer than personal data.
        keep_idem = min(retention.idempotency, retention.personal)
        res = session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at <= now - keep_idem))
        n_idem = int(res.rowcount or 0)  # type: ignore[attr-defined]
    personal = minimise_personal(db, blobs.keys, retention, now)
    if purged_templates is not None:
        purged_templates.extend(expiring)
    counts = {"blobs": n_blobs, "templates": len(expiring), "idempotency": n_idem, **personal}
    if any(counts.values()):
        log.info("retention purge", extra={f"{k}_purged": v for k, v in counts.items()})
    return counts


def minimise_personal(
    db: Database, keys: KeyRing, retention: Retention, now: datetime, batch: int = 500
) -> dict[str, int]:
    """Past `retention.personal` (from created_at): document fields reduced to what
    core.masking keeps (masked numbers, company identity; other values emptied; each
    field's status and reasons, the verdict and reason codes stay), the document
    marked with when and which fields; sealed full responses of verifications dropped
    (verdict, reasons and checks stay in their columns); a subject's sealed name
    dropped once none of its documents keeps personal data. One transaction per batch."""
    from sellerverify.v1 import identity_pb2  # the sealed document-fields format

    from services.core.masking import minimised_value

    cutoff = now - retention.personal
    n_docs = 0
    while True:
        with db.transaction() as session:
            rows = list(
                session.scalars(
                    select(DocumentRow)
                    .where(DocumentRow.created_at <= cutoff, DocumentRow.personal_data_purged_at.is_(None))  # type: ignore[attr-defined]
                    .limit(batch)
                )
            )
            for row in rows:
                aad = f"document:{row.id}"
                stored = identity_pb2.GetDocumentResponse.FromString(keys.open(row.fields_sealed, aad))
                purged: list[str] = []
                for f in stored.fields:
                    reduced = minimised_value(f.name, f.value)
                    if reduced is not None:
                        f.value = reduced
                        purged.append(f.name)
                row.fields_sealed = keys.seal(stored.SerializeToString(), aad)
                row.personal_data_purged_at = now  # type: ignore[attr-defined]
                row.purged_fields = purged  # type: ignore[attr-defined]
            n_docs += len(rows)
        if len(rows) < batch:
            break
    with db.transaction() as session:
        res = session.execute(
            update(VerificationRow)
            .where(VerificationRow.created_at <= cutoff, VerificationRow.result_sealed.is_not(None))
            .values(result_sealed=None)
        )
        n_results = int(res.rowcount or 0)  # type: ignore[attr-defined]
        live_document = exists().where(
            DocumentRow.subject_id == SubjectRow.id,
            DocumentRow.personal_data_purged_at.is_(None),  # type: ignore[attr-defined]
        )
        res = session.execute(
            update(SubjectRow)
            .where(SubjectRow.name_sealed.is_not(None), ~live_document)
            .values(name_sealed=None)
            .execution_options(synchronize_session=False)
        )
        n_names = int(res.rowcount or 0)  # type: ignore[attr-defined]
    return {"documents_minimised": n_docs, "verification_results": n_results, "subject_names": n_names}
