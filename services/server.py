"""`serve()`: one gRPC server process for all services (embedded) or for one.

grpc.aio with standard health checking per service, server reflection, the one
interceptor, a configured message-size limit, and graceful shutdown on SIGTERM or
SIGINT (health flips to NOT_SERVING, new calls are refused, in-flight calls get
`shutdown_grace_seconds` to finish; every write is one transaction, so a call cut off
leaves nothing half-written).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.app import FACE_FLOW, REVERIFY_ENGINE, App
from services.platform.admission import Admission, parse_lane_settings
from services.platform.interceptor import ServerInterceptor, allowed_roles_table, request_types_table
from services.platform.settings import ServiceName, Settings

log = logging.getLogger("sellerverify.server")

SERVICE_NAMES: dict[ServiceName, str] = {
    "identity": "sellerverify.v1.IdentityService",
    "liveness": "sellerverify.v1.LivenessService",
    "reverify": "sellerverify.v1.ReverifyService",
    "review": "sellerverify.v1.ReviewService",
    "trust": "sellerverify.v1.TrustService",
}


def _registrars() -> dict[ServiceName, Callable[[grpc.aio.Server, App], None]]:
    from services.identity.servicer import register as identity
    from services.liveness.servicer import register as liveness
    from services.reverify.servicer import register as reverify
    from services.trust.review_servicer import register as review
    from services.trust.servicer import register as trust

    return {"identity": identity, "liveness": liveness, "reverify": reverify, "review": review, "trust": trust}


def _file_descriptors() -> list[Any]:
    from sellerverify.v1 import identity_pb2, liveness_pb2, reverify_pb2, review_pb2, trust_pb2

    return [
        identity_pb2.DESCRIPTOR,
        liveness_pb2.DESCRIPTOR,
        reverify_pb2.DESCRIPTOR,
        review_pb2.DESCRIPTOR,
        trust_pb2.DESCRIPTOR,
    ]


@dataclass
class Running:
    server: grpc.aio.Server
    app: App
    port: int
    health: health.aio.HealthServicer
    stopping: list[bool]
    background: list[asyncio.Task[None]]

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish, then close storage."""
        if self.stopping[0]:
            return
        self.stopping[0] = True
        for task in self.background:
            task.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.app.settings.shutdown_grace_seconds if grace is None else grace)
        if self.app.loaded(REVERIFY_ENGINE) is not None:
            from services.reverify import engine as reverify_engine

            await reverify_engine.stop(self.app)
        self.app.close()


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not settings.tls_cert_file:
        return None
    if not settings.tls_key_file:
        raise ValueError("SELLERVERIFY_TLS_KEY_FILE is required with SELLERVERIFY_TLS_CERT_FILE")
    pair = [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())]
    if settings.tls_client_ca_file:
        return grpc.ssl_server_credentials(
            pair, root_certificates=settings.tls_client_ca_file.read_bytes(), require_client_auth=True
        )
    return grpc.ssl_server_credentials(pair)


async def start(settings: Settings, app: App | None = None) -> Running:
    """Build the app and start serving; returns once the port is bound."""
    app = app or App.build(settings)
    stopping = [False]
    admission = Admission(
        settings.admission_concurrency, settings.admission_queue, parse_lane_settings(settings.admission_lanes)
    )
    for method, request_type in request_types_table(_file_descriptors()).items():
        admission.register(method, request_type)
    app.admission = admission
    interceptor = ServerInterceptor(
        app.tokens, allowed_roles_table(_file_descriptors()), app.cert_callers(), lambda: stopping[0], admission
    )
    limit = settings.max_message_bytes
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # Only the worker processes of one supervisor share a port (services/supervisor.py);
            # a lone server must fail to start on a port another server holds.
            ("grpc.so_reuseport", 1 if settings.worker_index >= 0 else 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    registrars = _registrars()
    enabled = settings.enabled_services()
    for name in enabled:
        registrars[name](server, app)
    full_names = [SERVICE_NAMES[n] for n in enabled]
    reflection.enable_server_reflection(
        [*full_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )

    address = f"{settings.host}:{settings.port}"
    creds = _credentials(settings)
    port = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    await server.start()
    for full in full_names:
        await health_servicer.set(full, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"address": f"{settings.host}:{port}", "services": list(enabled), "tls": bool(creds)})
    # The campaigns' Temporal engine (docs/campaigns.md), after SERVING: neither its SDK's
    # import nor the embedded dev server's start delays the other services after a restart.
    from services.reverify import engine as reverify_engine

    await reverify_engine.start(app)
    background = [asyncio.create_task(_purge_loop(app))]
    if settings.warm_models and {"identity", "liveness", "review"} & set(enabled):
        background.append(asyncio.create_task(_warm_face_models(app)))
    return Running(server, app, port, health_servicer, stopping, background)


async def _warm_face_models(app: App) -> None:
    """Build the face flow (models, calibration, 1:N index) on the worker pool as soon as
    the server is up, instead of inside the first face call: after a restart the calls
    that arrive at once would otherwise queue behind that call's load, past their lane's
    bound (RESOURCE_EXHAUSTED). Light calls are served meanwhile."""
    from services.identity.face_flow import FaceFlow
    from services.vision.faces import warm_alignment

    def warm() -> None:
        FaceFlow.shared(app)
        warm_alignment()

    try:
        await asyncio.get_running_loop().run_in_executor(app.executor, warm)
    except Exception as exc:  # noqa: BLE001 - the first face call builds it (and reports) instead
        log.warning("face models not warmed: %s", type(exc).__name__)


async def _purge_loop(app: App) -> None:
    """Delete biometric data past retention at start and then periodically."""
    from services.platform.records import purge_expired

    while True:
        try:
            purged: list[str] = []
            await asyncio.get_running_loop().run_in_executor(
                app.executor, purge_expired, app.db, app.blobs, app.retention, purged
            )
            flow = app.loaded(FACE_FLOW)  # only where a face flow was built: never loads one
            if flow is not None and purged:
                await asyncio.get_running_loop().run_in_executor(app.executor, flow.forget_templates, purged)
        except Exception as exc:  # noqa: BLE001 - a failed purge is retried next round
            log.error("retention purge failed: %s", type(exc).__name__)
        await asyncio.sleep(app.settings.purge_interval_seconds)


def serve(settings: Settings, on_ready: Callable[[Running], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""

    async def main() -> None:
        running = await start(settings)
        if on_ready:
            on_ready(running)
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
        log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
        await running.stop()
        log.info("stopped")

    asyncio.run(main())


class ServerThread:
    """A server on its own event loop in a background thread (tests, the demo)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sv-server", daemon=True)
        self.running: Running | None = None

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self.running = asyncio.run_coroutine_threadsafe(start(self._settings), self._loop).result(timeout=120)
        return self

    @property
    def port(self) -> int:
        assert self.running
        return self.running.port

    @property
    def app(self) -> App:
        assert self.running
        return self.running.app

    def stop(self, grace: float = 5.0) -> None:
        if self.running:
            asyncio.run_coroutine_threadsafe(self.running.stop(grace), self._loop).result(timeout=grace + 30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
