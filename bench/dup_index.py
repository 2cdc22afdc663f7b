"""1:N duplicate search at scale: build time, single-query latency, recall of planted
duplicates, memory. Synthetic templates: random unit vectors (like unrelated faces,
whose SFace similarities sit near 0) with planted near-duplicates at similarity ~0.6-0.8
(like the same face in two photos) and, separately, just above the duplicate threshold
(0.42-0.55). `recall_of_exact_results`: of what a float32 exact scan returns for those
queries (top 10, similarity >= 0.4), the share the index returned too.

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


def _near_threshold_probes(
    rng: np.random.Generator, vectors: np.ndarray, queries: int
) -> tuple[np.ndarray, np.ndarray]:
    """Planted duplicates just above the duplicate threshold: cosine 0.42-0.55 exactly."""
    planted = rng.choice(len(vectors), size=queries, replace=False)
    base = vectors[planted]
    noise = _unit_rows(rng, queries)
    noise -= np.sum(noise * base, axis=1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    cos = rng.uniform(0.42, 0.55, size=(queries, 1)).astype(np.float32)
    return planted, cos * base + np.sqrt(1 - cos**2) * noise


def _exact_top(vectors: np.ndarray, probes: np.ndarray, k: int = 10, floor: float = 0.4) -> list[set[int]]:
    """Per probe, the rows a float32 exact scan returns (top k, similarity >= floor)."""
    out = []
    for lo in range(0, len(probes), 50):
        sims = vectors @ probes[lo : lo + 50].T
        for j in range(sims.shape[1]):
            top = np.argpartition(-sims[:, j], k)[:k]
            out.append({int(t) for t in top if sims[t, j] >= floor})
    return out


def _query_stats(
    index: SearchIndex, planted: np.ndarray, probes: np.ndarray, truth: list[set[int]] | None = None
) -> dict[str, float]:
    """One query at a time: latency p50/p99, the share of planted duplicates found and,
    given the exact scan's answers, the share of those the index returned too."""
    times, hits, wanted, returned = [], 0, 0, 0
    for n, (i, probe) in enumerate(zip(planted.tolist(), probes, strict=True)):
        t = time.perf_counter()
        found = index.search(probe, k=10, min_similarity=0.4)
        times.append((time.perf_counter() - t) * 1000)
        hits += any(c.template_id == f"t{i}" for c in found)
        if truth is not None:
            ids = {c.template_id for c in found}
            wanted += len(truth[n])
            returned += sum(f"t{r}" in ids for r in truth[n])
    stats = {
        "query_ms_p50": round(float(np.percentile(times, 50)), 3),
        "query_ms_p99": round(float(np.percentile(times, 99)), 3),
        "recall_planted": round(hits / len(planted), 4),
    }
    if truth is not None:
        stats["exact_results"] = wanted
        stats["exact_results_returned"] = returned
    return stats


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
    near_planted, near_probes = _near_threshold_probes(rng, vectors, queries)
    truth = _exact_top(vectors, probes) + _exact_top(vectors, near_probes)
    del vectors
    gc.collect()
    rss = round(_rss_mb() - before, 1)
    far = _query_stats(index, planted, probes, truth[:queries])
    near = _query_stats(index, near_planted, near_probes, truth[queries:])
    return {
        "templates": n,
        "index": index.kind,
        "build_s": round(build_s, 2),
        "queries": queries,
        **{k: v for k, v in far.items() if k.startswith("query_ms")},
        "recall_planted": far["recall_planted"],
        "recall_planted_near_threshold": near["recall_planted"],
        "near_threshold_query_ms_p99": near["query_ms_p99"],
        "exact_results": (wanted := int(far["exact_results"] + near["exact_results"])),
        "recall_of_exact_results": round((far["exact_results_returned"] + near["exact_results_returned"]) / wanted, 4),
        "rss_mb_after_build": rss,
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
