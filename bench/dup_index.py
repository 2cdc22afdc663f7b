"""1:N duplicate search at scale: build time, single-query latency, recall of planted
duplicates, memory. Synthetic templates: random unit vectors (like unrelated faces,
whose SFace similarities sit near 0) with planted near-duplicates at similarity ~0.6-0.8
(like the same face in two photos).

    python -m bench.dup_index [--sizes 100000 1000000] [--queries 500] [--pgvector 100000]

`--pgvector N` also measures the shared PostgreSQL index (services/identity/pgvector_index.py)
with N templates on an embedded PostgreSQL 16 + pgvector (the PyPI `pgserver` package):
exact scan, one query at a time over a pooled connection, as an identity replica runs it.
"""

from __future__ import annotations

import os

# Measure what the server runs: `sellerverify serve` sets this before OpenMP loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import argparse
import gc
import json
import time

import numpy as np

from services.identity.duplicates import DIM, SearchIndex, TemplateIndex


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _planted_probes(rng: np.random.Generator, vectors: np.ndarray, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Which templates get a planted near-duplicate, and the probes (cosine to the original ~0.74)."""
    planted = rng.choice(len(vectors), size=queries, replace=False)
    probes = vectors[planted] + 0.9 * _unit_rows(rng, queries)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    return planted, probes


def _query_stats(index: SearchIndex, planted: np.ndarray, probes: np.ndarray) -> dict[str, float]:
    """One query at a time: latency p50/p99 and the share of planted duplicates found."""
    times, hits = [], 0
    for i, probe in zip(planted.tolist(), probes, strict=True):
        t = time.perf_counter()
        found = index.search(probe, k=10, min_similarity=0.4)
        times.append((time.perf_counter() - t) * 1000)
        hits += any(c.template_id == f"t{i}" for c in found)
    return {
        "query_ms_p50": round(float(np.percentile(times, 50)), 3),
        "query_ms_p99": round(float(np.percentile(times, 99)), 3),
        "recall_planted": round(hits / len(planted), 4),
    }


def run_size(n: int, queries: int, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    gc.collect()
    before = _rss_mb()
    vectors = _unit_rows(rng, n)
    started = time.perf_counter()
    index = TemplateIndex()
    index.load((f"t{i}", f"s{i}", vectors[i]) for i in range(n))
    build_s = time.perf_counter() - started
    planted, probes = _planted_probes(rng, vectors, queries)
    del vectors
    gc.collect()
    return {
        "templates": n,
        "index": index.kind,
        "build_s": round(build_s, 2),
        "queries": queries,
        **_query_stats(index, planted, probes),
        "rss_mb_after_build": round(_rss_mb() - before, 1),
    }


def run(sizes: tuple[int, ...] = (100_000, 1_000_000), queries: int = 500) -> dict[str, object]:
    return {"one_to_n": [run_size(n, queries) for n in sizes]}


def run_pgvector(n: int, queries: int, seed: int = 0) -> dict[str, object]:
    import tempfile

    import pgserver

    from services.identity.pgvector_index import PgVectorIndex

    rng = np.random.default_rng(seed)
    vectors = _unit_rows(rng, n)
    with tempfile.TemporaryDirectory(prefix="sv-pgvector-") as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            index = PgVectorIndex(server.get_uri(), b"bench-pepper", model="bench:v1")
            started = time.perf_counter()
            for lo in range(0, n, 10_000):
                index.load((f"t{i}", f"s{i}", vectors[i]) for i in range(lo, min(n, lo + 10_000)))
            load_s = time.perf_counter() - started
            planted, probes = _planted_probes(rng, vectors, queries)
            index.search(probes[0], k=10, min_similarity=0.4)  # warm the table into shared buffers
            stats = _query_stats(index, planted, probes)
            index.close()
        finally:
            server.cleanup()
    return {
        "templates": n,
        "index": "pgvector (exact scan)",
        "load_s": round(load_s, 2),
        "queries": queries,
        **stats,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--pgvector", type=int, default=0, metavar="N")
    args = parser.parse_args()
    result = run(tuple(args.sizes), args.queries)
    if args.pgvector:
        result["pgvector"] = run_pgvector(args.pgvector, min(args.queries, 200))
    print(json.dumps(result, indent=1))
