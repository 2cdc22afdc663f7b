"""`sellerverify serve` with SELLERVERIFY_WORKERS=N (N > 1): N server processes on one port.

Python runs one thread of Python at a time per process, and the face and document calls
spend a fifth to a third of their CPU in Python (the database, protobuf, the event loop):
one process cannot keep two cores busy. This supervisor starts N ordinary server
processes (`serve` with SELLERVERIFY_WORKER_INDEX set), each with its own models, event
loop and worker threads, all listening on the same address with SO_REUSEPORT: the
kernel spreads new connections over them. They share the database (SQLite in WAL mode
or PostgreSQL) and the keys; each worker's 1:N index catches up with the templates the
others stored before every search (services/identity/enrolment.py `SharedIndex`).

What runs once, here: migrations and the first-run key before any worker starts; the
port (with `--port 0` it is chosen here and held, so a restarted worker gets the same
one); the embedded Temporal dev server (workers reach it as `remote`; only worker 0 runs
the campaign worker and the review console); `endpoint.json` and the ready file once every
worker is serving. A worker that dies is started again at once (the others serve
meanwhile); every worker dies with the supervisor (parent-death signal), so a kill -9 of
`serve` leaves no orphan holding the port. SIGTERM/SIGINT is passed on to every worker,
which drains as a lone server does (`SELLERVERIFY_SHUTDOWN_GRACE_SECONDS`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from services.platform.settings import Settings

log = logging.getLogger("sellerverify.supervisor")

# A worker that keeps dying is started again at most this often.
RESTART_BACKOFF_S = 0.5


def _die_with_parent(argv: list[str]) -> list[str]:
    """`argv` under util-linux `setpriv --pdeathsig KILL` (a kill -9 of the supervisor
    takes its workers with it; not a preexec_fn, see services/reverify/engine.py)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    ready_file: Path | None = None
    started_at: float = 0.0
    restarts: int = 0


@dataclass
class Supervisor:
    settings: Settings
    tokens_file: Path | None
    worker_argv: list[str] = field(default_factory=lambda: [sys.executable, "-m", "sellerverify.cli"])
    workers: list[Worker] = field(default_factory=list)
    port: int = 0
    _holder: socket.socket | None = None
    _stopping: bool = False
    _stopped: bool = False
    _dev: object | None = None
    _temporal_address: str = ""
    _temporal_port: int = 0

    def prepare(self) -> None:
        """Migrations, the key file and the port, before any worker starts."""
        s = self.settings
        if not self._ready_to_share():
            from services.app import App

            App.build(s).close()  # migrates; creates the embedded key on first run
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        holder = socket.socket(family, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Bound, never listening: the kernel hands connections only to listening sockets,
        # and the port stays this server's while a worker restarts.
        holder.bind((self.settings.host, self.settings.port))
        self._holder = holder
        self.port = int(holder.getsockname()[1])
        if "reverify" in s.enabled_services() and s.reverify_engine == "embedded" and not s.temporal_address:
            # Its port now (the workers are told it); the server itself starts once the
            # workers are on their way (start()), so its boot does not delay theirs.
            self._temporal_port = s.temporal_port or _free_port()
            self._temporal_address = f"127.0.0.1:{self._temporal_port}"

    def _ready_to_share(self) -> bool:
        """Whether the database is at the latest schema and the key is there already (a
        restart): then the workers start at once, without building an app here first."""
        s = self.settings
        if not (s.encryption_key or s.resolved_key_file().is_file()):
            return False
        if not s.migrate_on_start:
            return True
        url = s.resolved_database_url()
        if url.startswith("sqlite:///"):
            # The standard library's sqlite3 answers without loading SQLAlchemy here.
            import sqlite3

            from services.platform.migrations_head import head_revisions

            try:
                with sqlite3.connect(f"file:{url[len('sqlite:///') :]}?mode=ro", uri=True, timeout=30) as conn:
                    stored = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
            except sqlite3.Error:
                return False
            return bool(stored) and stored == set(head_revisions())
        from services.platform.database import at_head, make_engine

        engine = make_engine(url)
        try:
            return at_head(engine)
        finally:
            engine.dispose()

    def _env(self, index: int) -> dict[str, str]:
        s = self.settings
        env = {
            **os.environ,
            "SELLERVERIFY_WORKER_INDEX": str(index),
            "SELLERVERIFY_PORT": str(self.port),
            "SELLERVERIFY_MIGRATE_ON_START": "false",
        }
        if self.tokens_file is not None:
            env["SELLERVERIFY_API_TOKENS_FILE"] = str(self.tokens_file)
        if index > 0:
            env["SELLERVERIFY_CONSOLE_ENABLED"] = "false"
        if self._temporal_address:
            env["SELLERVERIFY_REVERIFY_ENGINE"] = "remote"
            env["SELLERVERIFY_TEMPORAL_ADDRESS"] = self._temporal_address
        if index > 0 or not s.reverify_worker:
            env["SELLERVERIFY_REVERIFY_WORKER"] = "false"
        return env

    def _spawn(self, worker: Worker) -> None:
        worker.ready_file = self.settings.data_dir / f".worker-{worker.index}-{uuid.uuid4().hex[:8]}.ready"
        argv = [*self.worker_argv, "serve", "--ready-file", str(worker.ready_file)]
        worker.process = subprocess.Popen(_die_with_parent(argv), env=self._env(worker.index), stdin=subprocess.DEVNULL)
        worker.started_at = time.monotonic()
        log.info("worker started", extra={"worker": worker.index, "pid": worker.process.pid})

    def start(self, timeout: float = 120.0) -> dict[str, object]:
        """Start every worker and wait until each is serving; returns worker 0's ready info."""
        self.workers = [Worker(i) for i in range(self.settings.workers)]
        for w in self.workers:
            self._spawn(w)
        if self._temporal_port:
            from services.reverify.engine import DevServer

            dev = DevServer(self.settings.data_dir / "temporal.db", self._temporal_port, nice=10)
            self._dev = dev
            # From this (the main) thread, which lives as long as the supervisor: the dev
            # server's parent-death signal is tied to the thread that started it. At a
            # lower priority: the workers' start, not the campaign engine's, is what
            # callers wait for (they connect to it when it is up).
            dev.start()
        deadline = time.monotonic() + timeout
        info: dict[str, object] = {}
        for w in self.workers:
            assert w.ready_file is not None and w.process is not None
            while not w.ready_file.exists():
                if w.process.poll() is not None:
                    raise RuntimeError(f"worker {w.index} exited during start (code {w.process.returncode})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {w.index} did not start within {timeout:.0f} s")
                time.sleep(0.02)
            if w.index == 0:
                info = json.loads(w.ready_file.read_text())  # written whole (renamed into place)
            w.ready_file.unlink(missing_ok=True)
        return info

    def _on_signal(self, _sig: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def supervise(self) -> None:
        """Restart workers that die until SIGTERM/SIGINT, then stop them all."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        while not self._stopping:
            for w in self.workers:
                if w.process is not None and w.process.poll() is not None and not self._stopping:
                    log.warning(
                        "worker exited; starting it again",
                        extra={"worker": w.index, "pid": w.process.pid, "code": w.process.returncode},
                    )
                    if time.monotonic() - w.started_at < RESTART_BACKOFF_S:
                        time.sleep(RESTART_BACKOFF_S)
                    w.restarts += 1
                    self._spawn(w)
                if w.ready_file is not None and w.ready_file.exists():
                    w.ready_file.unlink(missing_ok=True)
            time.sleep(0.05)
        self.stop()

    def stop(self) -> None:
        """SIGTERM to every worker (each drains its calls), then the dev server."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.shutdown_grace_seconds + 10.0
        for w in self.workers:
            if w.process is not None and w.process.poll() is None:
                w.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for w in self.workers:
            if w.process is None:
                continue
            try:
                w.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait(5)
        if self._dev is not None:
            self._dev.stop()  # type: ignore[attr-defined]
        if self._holder is not None:
            self._holder.close()
        log.info("stopped")
