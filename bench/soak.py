"""Soak: a mixed load at a fraction of measured capacity, with kill -9 of the server at
random moments; prints one JSON object.

    python -m bench.soak [--minutes 10] [--kills 20] [--fraction 0.8] [--database-url URL]

1. Capacity: closed loop with 4 clients for `--calibrate-seconds` over the mix (MatchFace
   with two images, CreateSubject, GetSubject, GetVerification), calls/s measured.
2. Soak: open loop at `--fraction` of that rate for `--minutes`; `--kills` times at
   random moments the server gets SIGKILL and is restarted on the same port.
3. Integrity: every acknowledged CreateSubject is in the database exactly once with the
   id the client was given; every acknowledged MatchFace has its verification row once;
   a retried request id returned the first answer (client retries keep the id).

Reports errors by status (split: while the server was down vs while it was up), p50/p99
per RPC while up, seconds from each kill to SERVING again, RSS over time and load
averages. The host is shared with other engineers: every timing is contended.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.serverproc import ServerProcess
from tests.conftest import FACES, TOKENS

PROBE = (FACES / "barack_obama" / "facerec_obama2.jpg").read_bytes()
REFERENCE = (FACES / "barack_obama" / "facerec_obama.jpg").read_bytes()


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else 0.0


class Mix:
    """The calls of the mixed load, and what was acknowledged."""

    def __init__(self, address: str) -> None:
        from sellerverify import Client

        self.client = Client(address, token=TOKENS["onboarding"], retries=3, timeout=30)
        self.subjects: list[str] = []
        self.verifications: list[str] = []
        self.acked_subjects: dict[str, str] = {}  # external_ref -> subject_id
        self.acked_verifications: set[str] = set()
        self.lock = threading.Lock()

    def seed(self) -> None:
        for _ in range(4):
            self.create()
        self.match()

    def create(self) -> None:
        from sellerverify.v1 import identity_pb2

        ref = f"soak-{uuid.uuid4().hex[:12]}"
        sid = self.client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref=ref)).subject.subject_id
        with self.lock:
            self.acked_subjects[ref] = sid
            self.subjects.append(sid)

    def match(self) -> None:
        from sellerverify.v1 import common_pb2, identity_pb2

        sid = random.choice(self.subjects)
        res = self.client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=sid, probe=common_pb2.Image(content=PROBE), reference=common_pb2.Image(content=REFERENCE)
            )
        )
        with self.lock:
            self.acked_verifications.add(res.verification_id)
            self.verifications.append(res.verification_id)

    def get_subject(self) -> None:
        from sellerverify.v1 import identity_pb2

        self.client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=random.choice(self.subjects)))

    def get_verification(self) -> None:
        from sellerverify.v1 import identity_pb2

        self.client.identity.GetVerification(
            identity_pb2.GetVerificationRequest(verification_id=random.choice(self.verifications))
        )

    def pick(self, rng: random.Random) -> tuple[str, Any]:
        r = rng.random()
        if r < 0.4:
            return "MatchFace", self.match
        if r < 0.6:
            return "CreateSubject", self.create
        if r < 0.8:
            return "GetSubject", self.get_subject
        return "GetVerification", self.get_verification


def _serving(address: str) -> bool:
    try:
        with grpc.insecure_channel(address) as ch:
            return (
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1).status
                == health_pb2.HealthCheckResponse.SERVING
            )
    except grpc.RpcError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--fraction", type=float, default=0.8)
    ap.add_argument("--calibrate-seconds", type=float, default=30)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    rng = random.Random(18)
    out: dict[str, Any] = {"load_avg_start": [round(x, 2) for x in os.getloadavg()]}

    with tempfile.TemporaryDirectory(prefix="sv-soak-") as tmp:
        server = ServerProcess(Path(tmp), args.database_url)
        server.start()
        mix = Mix(server.address)
        mix.seed()

        # 1. capacity, closed loop
        done = 0
        ends = time.monotonic() + args.calibrate_seconds
        lock = threading.Lock()

        def closed() -> None:
            nonlocal done
            local = random.Random()
            while time.monotonic() < ends:
                _, fn = mix.pick(local)
                fn()
                with lock:
                    done += 1

        threads = [threading.Thread(target=closed) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        capacity = done / args.calibrate_seconds
        rate = capacity * args.fraction
        out["capacity_calls_per_s"] = round(capacity, 2)
        out["offered_calls_per_s"] = round(rate, 2)
        out["load_avg_calibration"] = round(os.getloadavg()[0], 2)

        # 2. soak, open loop, kills at random moments
        duration = args.minutes * 60
        kill_at = sorted(rng.uniform(0.05 * duration, 0.95 * duration) for _ in range(args.kills))
        down = threading.Event()
        latencies: dict[str, list[float]] = {}
        errors_up: Counter[str] = Counter()
        errors_down: Counter[str] = Counter()
        ok = 0
        restarts: list[float] = []
        rss: list[tuple[float, float]] = []
        started = time.monotonic()

        kills_so_far = [0]

        def run_one(name: str, fn: Any) -> None:
            # A call that overlapped a kill or a restart (even by its retries) counts as "down".
            nonlocal ok
            was_down, epoch = down.is_set(), kills_so_far[0]
            t = time.perf_counter()
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - tallied by status
                code = getattr(getattr(exc, "code", None), "name", type(exc).__name__)
                with lock:
                    clean = not (was_down or down.is_set() or kills_so_far[0] != epoch)
                    (errors_up if clean else errors_down)[f"{name}:{code}"] += 1
                return
            with lock:
                ok += 1
                if not (was_down or down.is_set() or kills_so_far[0] != epoch):
                    latencies.setdefault(name, []).append(time.perf_counter() - t)

        def killer() -> None:
            for at in kill_at:
                time.sleep(max(0.0, started + at - time.monotonic()))
                down.set()
                kills_so_far[0] += 1
                killed = time.monotonic()
                server.kill9()
                server.start(port=server.port, wait=False)  # time to SERVING is health's answer
                while not _serving(server.address):
                    if time.monotonic() - killed > 120 or (server.proc is not None and server.proc.poll() is not None):
                        raise RuntimeError(f"the server did not come back after a kill; see {server.log}")
                    time.sleep(0.05)
                restarts.append(round(time.monotonic() - killed, 2))
                down.clear()

        def sampler() -> None:
            while time.monotonic() - started < duration:
                rss.append((round(time.monotonic() - started, 1), round(server.rss_mb(), 1)))
                time.sleep(10)

        threading.Thread(target=killer, daemon=True).start()
        threading.Thread(target=sampler, daemon=True).start()
        with ThreadPoolExecutor(max_workers=16) as pool:
            n = 0
            while time.monotonic() - started < duration:
                n += 1
                target = started + n / rate
                time.sleep(max(0.0, target - time.monotonic()))
                name, fn = mix.pick(rng)
                pool.submit(run_one, name, fn)
        time.sleep(1)
        while down.is_set():
            time.sleep(0.1)

        # 3. integrity, read straight from the database
        from sqlalchemy import func, select

        from services.platform.database import Database, make_engine
        from services.platform.models import SubjectRow, VerificationRow

        server.stop()
        db = Database(make_engine(server.database_url))
        with db.read() as session:
            rows = dict(session.execute(select(SubjectRow.external_ref, SubjectRow.id)).all())
            repeated = select(SubjectRow.external_ref).group_by(SubjectRow.external_ref).having(func.count() > 1)
            dup_refs = session.scalar(select(func.count()).select_from(repeated.subquery()))
            ver_ids = Counter(session.scalars(select(VerificationRow.id)))
        db.dispose()
        lost_subjects = [r for r, sid in mix.acked_subjects.items() if rows.get(r) != sid]
        lost_verifications = [v for v in mix.acked_verifications if ver_ids.get(v, 0) != 1]
        out.update(
            {
                "minutes": args.minutes,
                "calls_ok": ok,
                "errors_while_up": dict(errors_up),
                "errors_of_calls_overlapping_a_kill": dict(errors_down),
                "latency_while_up": {
                    k: {"calls": len(v), "p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99)} for k, v in latencies.items()
                },
                "kills": len(restarts),
                "seconds_to_serving_after_kill": restarts,
                "max_seconds_to_serving": max(restarts, default=0.0),
                "acknowledged_subjects": len(mix.acked_subjects),
                "lost_acknowledged_subjects": len(lost_subjects),
                "duplicate_external_refs": int(dup_refs or 0),
                "acknowledged_verifications": len(mix.acked_verifications),
                "lost_or_duplicated_verifications": len(lost_verifications),
                "rss_mb_over_time": rss,
                "load_avg_end": [round(x, 2) for x in os.getloadavg()],
                "note": "shared 2-core host (4 other engineers): every timing is contended",
            }
        )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
