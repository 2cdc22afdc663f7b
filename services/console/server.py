"""Running the console: embedded next to the gRPC server (`sellerverify serve`), or on
its own (`python -m services.console`, the docker-compose service)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass, field

import grpc
import uvicorn

from services.console.app import Console, build
from services.console.backend import Backend
from services.platform.settings import Settings

log = logging.getLogger("sellerverify.console")


@dataclass
class ConsoleServer:
    """A console on a bound port, served by uvicorn on a background thread."""

    console: Console
    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.console.backend.close()


def grpc_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS to the gRPC server when it serves TLS (its certificate as the root)."""
    if not settings.tls_cert_file:
        return None
    return grpc.ssl_channel_credentials(root_certificates=settings.tls_cert_file.read_bytes())


def start_console(
    grpc_target: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    credentials: grpc.ChannelCredentials | None = None,
    secure_cookies: bool = False,
) -> ConsoleServer:
    """Bind `host:port` (0 = an ephemeral port) and serve the console in a thread."""
    console = Console(Backend.connect(grpc_target, credentials), secure_cookies=secure_cookies)
    app = build(console)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections on Linux: without it a kept-alive connection
    # waits ~40 ms (Nagle + delayed ACK) between a response's header and body writes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        console.backend.close()
        raise
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="h11")
    server = uvicorn.Server(config)
    started = threading.Event()

    def run() -> None:
        async def main() -> None:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            started.set()
            await task

        asyncio.run(main())

    thread = threading.Thread(target=run, name="sv-console", daemon=True)
    thread.start()
    started.wait(timeout=30)
    log.info("console serving", extra={"address": f"{host}:{bound}"})
    return ConsoleServer(console, host, bound, server, thread)


def start_embedded(settings: Settings, grpc_port: int) -> ConsoleServer | None:
    """The console of `sellerverify serve` (SELLERVERIFY_CONSOLE_ENABLED, _PORT), talking
    to this process's gRPC port over loopback."""
    if not settings.console_enabled:
        return None
    target = settings.console_grpc_target or f"127.0.0.1:{grpc_port}"
    try:
        return start_console(
            target,
            host=settings.host,
            port=settings.console_port,
            credentials=grpc_credentials(settings),
            secure_cookies=settings.console_secure_cookies,
        )
    except OSError as exc:
        # gRPC keeps serving; the operator learns why the console is missing.
        log.error(
            "review console not started: cannot bind %s:%s (%s); set SELLERVERIFY_CONSOLE_PORT",
            settings.host,
            settings.console_port,
            exc.strerror,
        )
        return None
