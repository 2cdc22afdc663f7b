"""A real `sellerverify serve` process for benches (own data dir, ephemeral port)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.conftest import TOKEN_SPEC


class ServerProcess:
    """Start, kill -9, restart; RSS from /proc."""

    def __init__(self, data_dir: Path, database_url: str = "", launcher: list[str] | None = None, **env: str) -> None:
        """`launcher`: python arguments that run the CLI instead of the `sellerverify`
        script (e.g. ["-m", "bench.stage_probe"])."""
        self.data_dir = data_dir
        self.launcher = launcher
        self.database_url = database_url or f"sqlite:///{data_dir / 'sellerverify.db'}"
        self.extra = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.port = 0
        self.log = data_dir / "server.log"

    def start(self, port: int = 0, timeout: float = 120.0, wait: bool = True) -> float:
        """Start the server; returns seconds until it was serving. With `wait=False` (a
        restart on a known port) it returns at once: the caller polls health, which says
        SERVING before the campaigns' Temporal engine has finished starting (the ready
        file is written only after it)."""
        ready = self.data_dir / f"ready-{uuid.uuid4().hex}.json"
        env = {
            **os.environ,
            "SELLERVERIFY_DATA_DIR": str(self.data_dir),
            "SELLERVERIFY_DATABASE_URL": self.database_url,
            "SELLERVERIFY_API_TOKENS": TOKEN_SPEC,
            "SELLERVERIFY_ENCRYPTION_KEY_FILE": str(self.data_dir / "keys" / "master.key"),
            "SELLERVERIFY_PURGE_INTERVAL_SECONDS": "3600",
            **self.extra,
        }
        cli = [sys.executable, *self.launcher] if self.launcher else [str(Path(sys.executable).parent / "sellerverify")]
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*cli, "serve", "--port", str(port), "--ready-file", str(ready)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        if not wait:
            self.port = port
            return 0.0
        while True:
            # The file can be seen before its content is written: wait for whole JSON (a
            # half-written one once failed a run and left its server running).
            try:
                info = json.loads(ready.read_text())
                break
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None or time.monotonic() - started > timeout:
                self.proc.kill()
                raise RuntimeError(f"server did not start (exit {self.proc.returncode}); see {self.log}")
            time.sleep(0.02)
        self.address, self.port = info["address"], info["port"]
        return time.monotonic() - started

    def rss_mb(self, peak: bool = False) -> float:
        """Resident memory now (or the peak, VmHWM) in MB, 0 when not running."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        key = "VmHWM" if peak else "VmRSS"
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
        except OSError:
            return 0.0
        return 0.0

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
