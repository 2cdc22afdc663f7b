"""Trust at scale: GetTrustScore and DecideShopOpening latency on a warm server over a
big database, and the identity-graph sweep over every subject with planted clusters.

    python -m bench.trust [--backend postgres|sqlite] [--subjects 1000000] [--signals 10000000]
                          [--clusters 2000] [--queries 3000] [--decisions 1000]

PostgreSQL: a throwaway database on SELLERVERIFY_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) filled with COPY and dropped at the end.
SQLite: a file in a temporary folder. Schema by the real migrations. Data: subjects
(most verified, some not), platform signals spread over them (ages 0-2 years, every
kind), a trust snapshot per subject holding the facts the writers would have stored
(built with services.trust.facts' format from the same rows), and planted clusters:
groups of 2-6 subjects sharing an ID number or linked by a face (`duplicate.found`).
The server runs in a child process (its own GIL); the client calls one RPC at a time.
Prints one JSON object; `load` is the machine's 1-minute load average at each step.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import multiprocessing as mp
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.trust.policy import PolicySet

NOW = datetime.now(UTC)
NULL = "\\N"  # COPY's NULL
SIGNAL_NAMES = ["penalty_record", "policy_violation", "user_credibility", "positive_behaviour", "suspicious_report"]


def _load() -> float:
    return os.getloadavg()[0]


def sid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012x}"


def sig_id(i: int) -> str:
    return f"51000000-0000-4000-8000-{i:012x}"


def ts(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


# ---- data ------------------------------------------------------------------------


def plant(n: int, clusters: int, rng: random.Random) -> tuple[dict[int, str], list[tuple[int, int]], list[set[int]]]:
    """Planted clusters: id-number sharing and face links. Returns id hash per subject,
    face links, and the planted member sets."""
    id_hash = {i: f"h{i:063x}"[:64] for i in range(n) if i % 10 != 0}  # 10% have no ID number yet
    face_links: list[tuple[int, int]] = []
    planted: list[set[int]] = []
    members = rng.sample(range(n), clusters * 6)
    pos = 0
    for c in range(clusters):
        size = rng.randint(2, 6)
        group = members[pos : pos + size]
        pos += size
        kind = c % 3
        if kind == 0:  # one ID number behind several subjects (faces)
            shared = f"c{c:063x}"[:64]
            for m in group:
                id_hash[m] = shared
        elif kind == 1:  # one face behind several ID numbers: a chain of face links
            for a, b in itertools.pairwise(group):
                face_links.append((a, b))
        else:  # mixed: half share an ID number, the rest joined by a face link
            shared = f"m{c:063x}"[:64]
            half = group[: max(1, size // 2)]
            for m in half:
                id_hash[m] = shared
            for m in group[len(half) :]:
                face_links.append((half[0], m))
        planted.append(set(group))
    return id_hash, face_links, planted


def subject_facts(i: int, verified: bool, signals: list[dict[str, Any]]) -> dict[str, Any]:
    """The facts a subject's snapshot holds (the shape services/trust/facts.py builds)."""
    at = ts(30 + i % 300)
    passed = {k: at if verified else None for k in ("document", "face", "liveness")}
    latest = {
        k: {"id": f"v-{i}-{k}", "verdict": "pass" if verified else "fail", "reasons": [], "at": at}
        for k in ("document", "face_match", "liveness")
    }
    return {
        "kind": "subject",
        "subject_id": sid(i),
        "status": "verified" if verified else "pending",
        "passed": passed,
        "verified_at": at if verified else None,
        "reverify_required_at": None,
        "latest": latest,
        "cases": {"open": [], "approved": [], "rejected": []},
        "approved_verifications": [],
        "reverify_task": None,
        "cluster": None,
        "signals": signals,
    }


def rows(n: int, n_signals: int, id_hash: dict[int, str], seed: int):  # type: ignore[no-untyped-def]
    """Yields (subject line, snapshot line, [signal lines]) per subject, tab-separated for COPY."""
    rng = random.Random(seed)
    policy = PolicySet.load().active
    # The snapshot's stored score only tells the next writer whether the score moved (reads
    # re-score the facts); the load leaves it unscored rather than spend minutes scoring 1M.
    per = n_signals // n
    extra = n_signals - per * n
    k = 0
    for i in range(n):
        verified = i % 7 != 0
        count = per + (1 if i < extra else 0)
        sigs = []
        lines = []
        for _ in range(count):
            name = SIGNAL_NAMES[rng.randrange(5)] if rng.random() < 0.3 else "positive_behaviour"
            value = round(rng.random(), 3) if name == "user_credibility" else 1.0
            weight = rng.choice((0.5, 1.0, 2.0)) if name == "suspicious_report" else 1.0
            at = ts(rng.uniform(0, 730))
            sigs.append({"id": sig_id(k), "name": name, "value": value, "weight": weight, "at": at})
            lines.append(f"{sig_id(k)}\t{sid(i)}\t\\N\t{name}\t{value}\t{weight}\tbench\tbench\t{at}\t{at}\n")
            k += 1
        sigs.sort(key=lambda s: s["at"], reverse=True)
        facts = subject_facts(i, verified, sigs[:200])
        stamp = facts["verified_at"] or NULL
        h = id_hash.get(i) or NULL
        subject = (
            f"{sid(i)}\tbench-{i}\tindividual\t{facts['status']}\t{h}\t\\N\t\\N\t\\N\t{ts(400)}\t{ts(30)}\t"
            f"{stamp}\t{stamp}\t{stamp}\t{stamp}\t\\N\n"
        )
        snap = (
            f"{sid(i)}\tsubject\t{_copy_text(json.dumps(facts, separators=(',', ':')))}\t-1\tunscored\t"
            f"UNSCORED\t{policy.version}\t{NOW.isoformat()}\n"
        )
        yield subject, snap, lines


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


SUBJECT_COLS = (
    "id, external_ref, kind, status, id_number_hash, id_number_masked, name_sealed, reference_blob_id, created_at, "
    "updated_at, verified_at, document_verified_at, face_verified_at, liveness_verified_at, reverify_required_at"
)
SIGNAL_COLS = "id, subject_id, enterprise_id, name, value, weight, source, client_id, observed_at, recorded_at"
SNAP_COLS = "target_id, target_kind, facts, score, band, decision, policy_version, computed_at"


def load_postgres(
    url: str, n: int, n_signals: int, id_hash: dict[int, str], face_links: list[tuple[int, int]]
) -> dict[str, float]:
    import psycopg

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP INDEX ix_trust_signals_subject_at")
        conn.execute("DROP INDEX ix_trust_signals_enterprise_at")
        conn.execute("DROP INDEX ix_subjects_id_number_hash")
        with conn.cursor() as cur:
            with cur.copy(f"COPY subjects ({SUBJECT_COLS}) FROM STDIN") as c_sub:
                buf_s, buf_sig, buf_snap = io.StringIO(), [], []
                # Three COPY streams cannot be open on one connection at once: stage signal
                # and snapshot lines to temporary files while subjects stream.
                sig_file = tempfile.TemporaryFile("w+")
                snap_file = tempfile.TemporaryFile("w+")
                for i, (subject, snap, lines) in enumerate(rows(n, n_signals, id_hash, 7)):
                    buf_s.write(subject)
                    buf_sig.extend(lines)
                    buf_snap.append(snap)
                    if i % 20000 == 19999:
                        c_sub.write(buf_s.getvalue())
                        buf_s = io.StringIO()
                        sig_file.write("".join(buf_sig))
                        snap_file.write("".join(buf_snap))
                        buf_sig, buf_snap = [], []
                c_sub.write(buf_s.getvalue())
                sig_file.write("".join(buf_sig))
                snap_file.write("".join(buf_snap))
            timings["subjects_s"] = round(time.perf_counter() - started, 1)
            for fh, table, cols in (
                (sig_file, "trust_signals", SIGNAL_COLS),
                (snap_file, "trust_snapshots", SNAP_COLS),
            ):
                fh.seek(0)
                t = time.perf_counter()
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as c:
                    while chunk := fh.read(8 << 20):
                        c.write(chunk)
                fh.close()
                timings[f"{table}_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            with cur.copy(
                "COPY domain_events (event_id, kind, subject_id, enterprise_id, payload, actor, at) FROM STDIN"
            ) as c:
                for a, b in face_links:
                    payload = json.dumps(
                        {
                            "verification_id": str(uuid.uuid4()),
                            "other_subject_ids": [sid(b)],
                            "kinds": ["DUPLICATE_FACE"],
                        }
                    )
                    c.write(f"{uuid.uuid4()}\tduplicate.found\t{sid(a)}\t\\N\t{payload}\tbench\t{NOW.isoformat()}\n")
        t = time.perf_counter()
        conn.execute("CREATE INDEX ix_trust_signals_subject_at ON trust_signals (subject_id, observed_at)")
        conn.execute("CREATE INDEX ix_trust_signals_enterprise_at ON trust_signals (enterprise_id, observed_at)")
        conn.execute("CREATE INDEX ix_subjects_id_number_hash ON subjects (id_number_hash)")
        conn.execute("ANALYZE")
        timings["indexes_s"] = round(time.perf_counter() - t, 1)
    timings["load_total_s"] = round(time.perf_counter() - started, 1)
    return timings


def load_sqlite(
    path: Path, n: int, n_signals: int, id_hash: dict[int, str], face_links: list[tuple[int, int]]
) -> dict[str, float]:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("DROP INDEX ix_trust_signals_subject_at")
    conn.execute("DROP INDEX ix_trust_signals_enterprise_at")

    def parse(line: str) -> list[Any]:
        out: list[Any] = []
        for v in line.rstrip("\n").split("\t"):
            out.append(None if v == "\\N" else v.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\"))
        return out

    subs, sigs, snaps = [], [], []

    def flush() -> None:
        conn.executemany(f"INSERT INTO subjects ({SUBJECT_COLS}) VALUES ({','.join('?' * 15)})", subs)
        conn.executemany(f"INSERT INTO trust_signals ({SIGNAL_COLS}) VALUES ({','.join('?' * 10)})", sigs)
        conn.executemany(f"INSERT INTO trust_snapshots ({SNAP_COLS}) VALUES ({','.join('?' * 8)})", snaps)
        subs.clear()
        sigs.clear()
        snaps.clear()

    for i, (subject, snap, lines) in enumerate(rows(n, n_signals, id_hash, 7)):
        subs.append(parse(subject))
        snaps.append(parse(snap))
        sigs.extend(parse(x) for x in lines)
        if i % 20000 == 19999:
            flush()
    flush()
    conn.executemany(
        "INSERT INTO domain_events (event_id, kind, subject_id, enterprise_id, payload, actor, at) "
        "VALUES (?,?,?,?,?,?,?)",
        [
            (
                str(uuid.uuid4()),
                "duplicate.found",
                sid(a),
                None,
                json.dumps(
                    {"verification_id": str(uuid.uuid4()), "other_subject_ids": [sid(b)], "kinds": ["DUPLICATE_FACE"]}
                ),
                "bench",
                NOW.isoformat(),
            )
            for a, b in face_links
        ],
    )
    conn.commit()
    conn.execute("CREATE INDEX ix_trust_signals_subject_at ON trust_signals (subject_id, observed_at)")
    conn.execute("CREATE INDEX ix_trust_signals_enterprise_at ON trust_signals (enterprise_id, observed_at)")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return {"load_total_s": round(time.perf_counter() - started, 1)}


# ---- server in a child process -------------------------------------------------------


def _serve(url: str, data_dir: str, pipe: Any) -> None:
    from services.platform.settings import Settings
    from services.server import ServerThread

    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=Path(data_dir),
        database_url=url,
        api_tokens="bench-risk:risk:bench-token-risk-0123456789,bench-admin:admin:bench-token-admin-0123456789",
        encryption_key_file=Path(data_dir) / "keys" / "master.key",
        services=["trust", "review"],
        # Steady state: no face models loading in the background while scores are timed
        # (the bench calls nothing that needs them; a served host loads them once at start).
        warm_models=False,
    )
    with ServerThread(settings) as server:
        pipe.send(server.port)
        pipe.recv()  # stop


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 3)


def measure(
    port: int, n: int, queries: int, decisions: int, planted: list[set[int]], rng: random.Random
) -> dict[str, Any]:
    from sellerverify import Client
    from sellerverify.v1 import trust_pb2

    out: dict[str, Any] = {}
    with Client(f"127.0.0.1:{port}", token="bench-token-risk-0123456789") as client:
        for _ in range(300):  # warm-up: connections, caches
            client.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id=sid(rng.randrange(n))))
        lat = []
        load_before = _load()
        for _ in range(queries):
            req = trust_pb2.GetTrustScoreRequest(subject_id=sid(rng.randrange(n)))
            t = time.perf_counter()
            client.trust.GetTrustScore(req)
            lat.append((time.perf_counter() - t) * 1000)
        out["get_trust_score_ms"] = {
            "count": queries,
            "p50": _pct(lat, 0.5),
            "p95": _pct(lat, 0.95),
            "p99": _pct(lat, 0.99),
            "mean": round(statistics.fmean(lat), 3),
            "load": [round(load_before, 2), round(_load(), 2)],
        }
        lat = []
        load_before = _load()
        for _ in range(decisions):
            req = trust_pb2.DecideShopOpeningRequest(
                request_id=str(uuid.uuid4()), subject_id=sid(rng.randrange(n)), shop_ref="bench-shop"
            )
            t = time.perf_counter()
            client.trust.DecideShopOpening(req)
            lat.append((time.perf_counter() - t) * 1000)
        out["decide_shop_opening_ms"] = {
            "count": decisions,
            "p50": _pct(lat, 0.5),
            "p95": _pct(lat, 0.95),
            "p99": _pct(lat, 0.99),
            "mean": round(statistics.fmean(lat), 3),
            "load": [round(load_before, 2), round(_load(), 2)],
        }
    with Client(f"127.0.0.1:{port}", token="bench-token-admin-0123456789", timeout=600) as admin:
        load_before = _load()
        t = time.perf_counter()
        stats = admin.trust.SweepIdentityGraph(trust_pb2.SweepIdentityGraphRequest(), timeout=600)
        wall = time.perf_counter() - t
        found = 0
        sample = planted
        for group in sample:
            got = admin.trust.GetIdentityCluster(trust_pb2.GetIdentityClusterRequest(subject_id=sid(min(group))))
            if {sid(m) for m in group} <= set(got.subject_ids):
                found += 1
        out["sweep"] = {
            "subjects": stats.subjects,
            "clusters": stats.clusters,
            "clustered_subjects": stats.clustered_subjects,
            "server_ms": stats.duration_ms,
            "rpc_s": round(wall, 2),
            "planted": len(planted),
            "planted_found": found,
            "load": [round(load_before, 2), round(_load(), 2)],
        }
    return out


def in_process(url: str, data_dir: str, n: int, queries: int, rng: random.Random) -> dict[str, Any]:
    """GetTrustScore's domain work alone (one point read + scoring), without gRPC: where the time goes."""
    from services.app import App
    from services.platform.settings import Settings

    app = App.build(
        Settings(database_url=url, data_dir=Path(data_dir), encryption_key_file=Path(data_dir) / "keys" / "master.key")
    )
    try:
        lat = []
        for k in range(queries + 300):
            t = time.perf_counter()
            app.trust.read_now(app.db, "subject", sid(rng.randrange(n)))  # what GetTrustScore calls
            if k >= 300:
                lat.append((time.perf_counter() - t) * 1000)
        return {"count": queries, "p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99), "load": round(_load(), 2)}
    finally:
        app.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--signals", type=int, default=10_000_000)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--decisions", type=int, default=1000)
    ap.add_argument("--keep-db", action="store_true", help="PostgreSQL: keep the loaded database (prints its name)")
    ap.add_argument("--reuse-db", help="PostgreSQL: measure a database kept by --keep-db (same counts) and drop it")
    args = ap.parse_args()
    rng = random.Random(3)
    id_hash, face_links, planted = plant(args.subjects, args.clusters, rng)
    from services.platform.database import make_engine, migrate

    tmp = tempfile.TemporaryDirectory(prefix="sv-bench-trust-")
    result: dict[str, Any] = {
        "backend": args.backend,
        "subjects": args.subjects,
        "signals": args.signals,
        "planted_clusters": args.clusters,
        "cpus": os.cpu_count(),
        "load_at_start": round(_load(), 2),
    }
    admin_url = os.environ.get("SELLERVERIFY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = args.reuse_db or f"sv_bench_trust_{uuid.uuid4().hex[:10]}"
    if args.backend == "postgres":
        import psycopg

        if not args.reuse_db:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        result["database"] = name
    else:
        url = f"sqlite:///{tmp.name}/bench.db"
    try:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        if args.reuse_db:
            result["load"] = {"reused": args.reuse_db}
        elif args.backend == "postgres":
            result["load"] = load_postgres(url, args.subjects, args.signals, id_hash, face_links)
        else:
            result["load"] = load_sqlite(Path(f"{tmp.name}/bench.db"), args.subjects, args.signals, id_hash, face_links)
        check = make_engine(url)
        with check.connect() as conn:
            from sqlalchemy import text

            result["rows"] = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("subjects", "trust_signals", "trust_snapshots", "domain_events")
            }
        check.dispose()
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(target=_serve, args=(url, tmp.name, child), daemon=True)
        proc.start()
        port = parent.recv()
        try:
            result.update(measure(port, args.subjects, args.queries, args.decisions, planted, rng))
            result["get_trust_score_in_process_ms"] = in_process(url, tmp.name, args.subjects, args.queries, rng)
        finally:
            parent.send("stop")
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
    finally:
        if args.backend == "postgres" and not args.keep_db:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmp.cleanup()
    result["targets"] = {
        "get_trust_score_p99_ms": 5,
        "decide_shop_opening_p99_ms": 10,
        "sweep_s": 60,
        "every_planted_cluster_found": True,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
