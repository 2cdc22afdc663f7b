"""The console as `sellerverify serve` starts it: on SELLERVERIFY_CONSOLE_PORT next to the
gRPC port, answering over HTTP with its security headers; a port already taken leaves
gRPC serving and the console off (logged), instead of failing the whole server."""

from __future__ import annotations

import socket
import urllib.request

from services.console.server import start_embedded
from tests.conftest import make_settings


def test_the_embedded_console_serves_next_to_grpc_and_a_taken_port_does_not_stop_the_server(
    sqlite_server, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, "sqlite://", console_port=0)
    console = start_embedded(settings, sqlite_server.port)
    assert console is not None and console.port > 0
    try:
        with urllib.request.urlopen(f"{console.url}/login", timeout=10) as r:
            body = r.read().decode()
            assert r.status == 200 and 'name="token"' in body
            assert (
                r.headers["Cache-Control"] == "no-store" and "script-src 'self'" in r.headers["Content-Security-Policy"]
            )
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        try:
            busy = make_settings(tmp_path, "sqlite://", console_port=taken.getsockname()[1])
            assert start_embedded(busy, sqlite_server.port) is None
        finally:
            taken.close()
        assert start_embedded(make_settings(tmp_path, "sqlite://", console_enabled=False), sqlite_server.port) is None
    finally:
        console.stop()
