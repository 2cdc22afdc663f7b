"""Fuzz every RPC of a real server process for a while; prints one JSON object.

    python -m bench.fuzz [--seconds 300] [--clients 4] [--backend sqlite|postgres]

The same generators as tests/fuzz/test_fuzz_rpcs.py (request messages from the
descriptors, images from tests/fuzz/corpus and mutations of it), drawn by Hypothesis in
one thread and sent by `--clients` threads. Reports requests sent, statuses by code,
INTERNAL/UNKNOWN count, per-RPC counts, whether the server stayed SERVING, the server's
peak RSS (VmHWM) and the machine load (`uptime`: the host is shared, timings are contended).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings

from bench.serverproc import ServerProcess
from tests.conftest import TOKENS
from tests.fuzz.requests import FAULTS, call, corpus_images, methods, mutate, requests_for, seed_pool


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--database-url", default="")
    ap.add_argument(
        "--seed-seconds", type=float, default=60, help="Hypothesis draws seeds this long; then seeds are mutated"
    )
    args = ap.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sv-fuzz-") as tmp:
        server = ServerProcess(Path(tmp), args.database_url)
        server.start()
        from sellerverify import Client

        pool = seed_pool(lambda role: Client(server.address, token=TOKENS[role]))
        ms = methods()
        work: queue.Queue[Any] = queue.Queue(maxsize=args.clients * 4)
        counts: dict[str, int] = {}
        per_method: dict[str, dict[str, int]] = {}
        faults: list[str] = []
        lock = threading.Lock()
        ends = time.monotonic() + args.seconds
        rss_peak = [0.0]
        crashed = [False]

        def sender() -> None:
            channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", 64 << 20)])
            while True:
                item = work.get()
                if item is None:
                    break
                m, messages = item
                outcome = call(channel, m, messages, TOKENS[m.roles[0]], timeout=30)
                with lock:
                    counts[outcome.code] = counts.get(outcome.code, 0) + 1
                    codes = per_method.setdefault(m.name, {})
                    codes[outcome.code] = codes.get(outcome.code, 0) + 1
                    if outcome.code in FAULTS:
                        faults.append(f"{m.name}: {outcome.code}: {[str(x)[:200] for x in messages]}")
            channel.close()

        def watcher() -> None:
            while time.monotonic() < ends + 5:
                rss_peak[0] = max(rss_peak[0], server.rss_mb(peak=True))
                if server.proc and server.proc.poll() is not None:
                    crashed[0] = True
                    return
                time.sleep(1)

        threads = [threading.Thread(target=sender, daemon=True) for _ in range(args.clients)]
        for t in threads:
            t.start()
        threading.Thread(target=watcher, daemon=True).start()

        class TimeUpError(Exception):
            pass

        images = corpus_images()
        seeds: list[Any] = []
        seeding_ends = time.monotonic() + min(args.seed_seconds, args.seconds)

        # Seeds go round the RPCs in turn, a few Hypothesis draws each per round (one random
        # pick over all RPCs left one of 50 undrawn in 960 seeds on a slow run).
        def drawer(m: Any) -> Any:
            @settings(
                max_examples=4,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(requests_for(m, pool, images))
            def produce(messages: Any) -> None:
                if time.monotonic() > seeding_ends or crashed[0]:
                    raise TimeUpError
                seeds.append((m, messages))
                work.put((m, messages))

            return produce

        drawers = [drawer(m) for m in ms]
        started = time.monotonic()
        try:
            while True:
                for produce in drawers:
                    produce()
        except TimeUpError:
            pass
        # Volume: copies of the seeds with one to three fields changed (protobuf-level mutation).
        rng = random.Random(18)
        mutated = 0
        while seeds and time.monotonic() < ends and not crashed[0]:
            m, messages = rng.choice(seeds)
            copies = []
            for original in messages:
                copy = type(original)()
                copy.CopyFrom(original)
                mutate(copy, rng, pool, images)
                copies.append(copy)
            work.put((m, copies))
            mutated += 1
        for _ in threads:
            work.put(None)
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
        serving = False
        try:
            with grpc.insecure_channel(server.address) as ch:
                serving = (
                    health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status
                    == health_pb2.HealthCheckResponse.SERVING
                )
        except grpc.RpcError:
            serving = False
        rss_peak[0] = max(rss_peak[0], server.rss_mb(peak=True))
        server.stop()
        total = sum(counts.values())
        print(
            json.dumps(
                {
                    "seconds": round(elapsed, 1),
                    "clients": args.clients,
                    "requests": total,
                    "hypothesis_seeds": len(seeds),
                    "mutated_copies": mutated,
                    "requests_per_s": round(total / elapsed, 1),
                    "rpcs_covered": len(per_method),
                    "rpcs_in_contract": len(ms),
                    "statuses": dict(sorted(counts.items())),
                    "internal_or_unknown": sum(counts.get(c, 0) for c in FAULTS),
                    "server_crashed": crashed[0],
                    "serving_after": serving,
                    "server_max_rss_mb": round(rss_peak[0], 1),
                    "per_rpc": {
                        name: {"requests": sum(codes.values()), **dict(sorted(codes.items()))}
                        for name, codes in sorted(per_method.items())
                    },
                    "faults_sample": faults[:5],
                    "load_avg_before": [round(x, 2) for x in load_before],
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared 2-core host, 4 other engineers: timings contended",
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
