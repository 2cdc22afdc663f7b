"""The composition root: the one place that picks real implementations.

`App.build(settings)` wires storage, keys, records and (lazily, on first use) the
models, so that a process serving only the trust service never loads a face model.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services.core.images import ImageLimits
from services.platform.auth import TokenStore, parse_cert_roles
from services.platform.crypto import KeyConfigError, KeyRing, load_keyring
from services.platform.database import Database, make_engine, migrate
from services.platform.private_files import private_dir
from services.platform.records import AuditLog, BlobStore, Idempotency, Retention, Sealer, VerificationLog
from services.platform.settings import Settings
from services.trust.policy import PolicySet
from services.trust.snapshots import TrustProjection
from services.vision import openvino_cpu

log = logging.getLogger("sellerverify.app")

# Lazy-object name of the identity face flow (models + template index), shared by every
# servicer that matches faces and by the retention purge.
FACE_FLOW = "face_flow"
# Lazy-object name of the campaigns' workflow engine (services/reverify/engine.py).
REVERIFY_ENGINE = "reverify_engine"


@dataclass
class App:
    settings: Settings
    db: Database
    keys: KeyRing
    sealer: Sealer
    blobs: BlobStore
    audit: AuditLog
    verifications: VerificationLog
    idempotency: Idempotency
    retention: Retention
    image_limits: ImageLimits
    tokens: TokenStore
    executor: ThreadPoolExecutor
    # Trust snapshots refreshed in every writing transaction (services/trust/snapshots.py).
    trust: TrustProjection
    # The admission lanes (services/platform/admission.py), set by server.start().
    admission: Any = None
    _lazy: dict[str, Any] = field(default_factory=dict)
    _lazy_lock: threading.RLock = field(default_factory=threading.RLock)  # factories may need other lazy objects

    @classmethod
    def build(cls, settings: Settings) -> App:
        private_dir(settings.data_dir)
        if settings.model_cache:
            openvino_cpu.set_cache_dir(settings.data_dir / "model-cache")
        openvino_cpu.set_inference_threads(settings.inference_threads)
        openvino_cpu.set_embedding_precision(settings.embedding_precision)
        url = settings.resolved_database_url()
        # A key is created on first run only where one process owns the data (SQLite) or
        # the operator named a key file; processes sharing PostgreSQL must share a key.
        single_host = url.startswith("sqlite") or settings.encryption_key_file is not None
        if not settings.encryption_key and not single_host:
            raise KeyConfigError(
                "set SELLERVERIFY_ENCRYPTION_KEY (base64 of 32 bytes: `sellerverify keygen`) and "
                "SELLERVERIFY_HASH_PEPPER, or SELLERVERIFY_ENCRYPTION_KEY_FILE: every process that shares "
                "this database must use the same key"
            )
        keys = load_keyring(
            key_b64=settings.encryption_key,
            key_id=settings.encryption_key_id,
            key_file=settings.resolved_key_file(),
            old_keys=settings.old_encryption_keys,
            pepper=settings.hash_pepper,
            create_missing=single_host,
        )
        engine = make_engine(url)
        if settings.migrate_on_start:
            migrate(engine)
        tokens = TokenStore()
        tokens.load_spec(settings.api_tokens)
        if settings.api_tokens_file:
            tokens.load_file(settings.api_tokens_file)
        db = Database(engine)
        sealer = Sealer(keys)
        retention = Retention(
            images=timedelta(days=settings.retention_images_days),
            templates=timedelta(days=settings.retention_templates_days),
            idempotency=timedelta(days=settings.retention_idempotency_days),
            personal=timedelta(days=settings.retention_personal_days),
        )
        trust = TrustProjection(PolicySet.load(settings.trust_policy_file, settings.trust_policy_dirs))
        trust.install(db.sessions)
        return cls(
            settings=settings,
            db=db,
            keys=keys,
            sealer=sealer,
            blobs=BlobStore(keys, retention),
            audit=AuditLog(),
            verifications=VerificationLog(sealer),
            idempotency=Idempotency(db, sealer),
            retention=retention,
            image_limits=ImageLimits(
                max_bytes=settings.image_max_bytes,
                max_side=settings.image_max_side,
                max_pixels=settings.image_max_pixels,
                max_aspect=settings.image_max_aspect,
            ),
            tokens=tokens,
            executor=ThreadPoolExecutor(max_workers=settings.worker_threads, thread_name_prefix="sv-work"),
            trust=trust,
        )

    def cert_callers(self) -> dict[str, Any]:
        return parse_cert_roles(self.settings.cert_roles)

    def lazy(self, name: str, factory: Any) -> Any:
        """A process-wide object built on first use (models, indexes)."""
        obj = self._lazy.get(name)
        if obj is None:
            with self._lazy_lock:
                obj = self._lazy.get(name)
                if obj is None:
                    started = time.perf_counter()
                    obj = factory()
                    self._lazy[name] = obj
                    log.info("loaded %s", name, extra={"load_ms": round((time.perf_counter() - started) * 1000, 1)})
        return obj

    def loaded(self, name: str) -> Any:
        """A lazy object if it was built already, else None (never builds it)."""
        return self._lazy.get(name)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.db.dispose()
