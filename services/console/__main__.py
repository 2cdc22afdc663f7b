"""`python -m services.console`: the console as its own process (docker-compose).

Reads SELLERVERIFY_CONSOLE_GRPC_TARGET (the gRPC address), SELLERVERIFY_HOST and
SELLERVERIFY_CONSOLE_PORT; runs until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading

from services.console.server import grpc_credentials, start_console
from services.platform.logs import configure_logging
from services.platform.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    target = settings.console_grpc_target or f"127.0.0.1:{settings.port}"
    server = start_console(
        target,
        host=settings.host,
        port=settings.console_port,
        credentials=grpc_credentials(settings),
        secure_cookies=settings.console_secure_cookies,
    )
    print(f"Seller Verify review console on {server.url} (gRPC {target})", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
