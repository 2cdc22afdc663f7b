"""The 1:N duplicate rules over an exact index."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from services.core.reasons import Reason
from services.identity.duplicates import TemplateIndex, find_duplicates


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _near(v: np.ndarray, rng: np.random.Generator, noise: float = 0.15) -> np.ndarray:
    w = v + noise * _unit(rng)
    return (w / np.linalg.norm(w)).astype(np.float32)


def test_same_face_under_other_id_and_same_id_with_other_face() -> None:
    rng = np.random.default_rng(7)
    alice, bob = _unit(rng), _unit(rng)
    index = TemplateIndex()
    index.load([(f"t{i}", f"s{i}", _unit(rng)) for i in range(500)])
    index.add("t-alice", "alice-1", alice)
    index.add("t-bob", "bob-1", bob)
    hashes = {"alice-1": "hash-A", "bob-1": "hash-B"}
    # Alice opens a second shop with Carol's ID card.
    found = find_duplicates(
        subject_id="alice-2",
        id_number_hash="hash-C",
        vector=_near(alice, rng),
        index=index,
        id_hash_of=hashes,
        same_id_templates=[],
        same_face_threshold=0.5,
        different_face_threshold=0.3,
    )
    assert [(f.reason, f.other_subject_id) for f in found] == [(Reason.DUPLICATE_FACE, "alice-1")]
    # Someone else uses Bob's ID card.
    found = find_duplicates(
        subject_id="mallory",
        id_number_hash="hash-B",
        vector=_unit(rng),
        index=index,
        id_hash_of=hashes,
        same_id_templates=[("bob-1", bob)],
        same_face_threshold=0.5,
        different_face_threshold=0.3,
    )
    assert [(f.reason, f.other_subject_id) for f in found] == [(Reason.ID_REUSED_BY_OTHER_FACE, "bob-1")]
    # Bob re-verifying is not a duplicate of himself.
    assert not find_duplicates(
        subject_id="bob-1",
        id_number_hash="hash-B",
        vector=_near(bob, rng),
        index=index,
        id_hash_of=hashes,
        same_id_templates=[("bob-1", bob)],
        same_face_threshold=0.5,
        different_face_threshold=0.3,
    )


def test_remove_and_reload_give_the_same_answers() -> None:
    rng = np.random.default_rng(3)
    rows = [(f"t{i}", f"s{i}", _unit(rng)) for i in range(200)]
    a = TemplateIndex()
    a.load(rows)
    b = TemplateIndex()
    for r in rows:
        b.add(*r)
    q = _near(rows[17][2], rng)
    assert [c.template_id for c in a.search(q, 3)] == [c.template_id for c in b.search(q, 3)]
    assert a.search(q, 1)[0].template_id == "t17"
    a.remove("t17")
    assert "t17" not in [c.template_id for c in a.search(q, 5)] and len(a) == 199


def test_large_index_switches_to_two_stage_search_and_still_finds_planted_duplicates() -> None:
    rng = np.random.default_rng(11)
    rows = [(f"t{i}", f"s{i}", _unit(rng)) for i in range(6000)]
    index = TemplateIndex(exact_limit=2000)
    index.load(rows)
    assert index.kind == "pq4+sq8" and len(index) == 6000
    probes = range(0, 6000, 60)
    found = [index.search(_near(rows[i][2], rng), 1, 0.5) for i in probes]
    assert [f[0].template_id if f else None for f in found] == [f"t{i}" for i in probes]
    index.remove("t0")
    assert all(c.template_id != "t0" for c in index.search(rows[0][2], 5))


def test_two_stage_search_returns_what_an_exact_scan_returns() -> None:
    """Probes near the duplicate threshold (true similarity 0.40-0.55 to a planted
    template) among 30,000 unrelated ones: the two-stage index returns the exact scan's
    top 5, each similarity within 0.01, including after removals and single adds."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30_000, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rows = [(f"t{i}", f"s{i}", x[i]) for i in range(len(x))]
    exact, staged = TemplateIndex(exact_limit=10**9), TemplateIndex(exact_limit=1000)
    exact.load(rows)
    staged.load(rows)
    assert (exact.kind, staged.kind) == ("exact", "pq4+sq8")
    gone = [f"t{i}" for i in range(0, 30_000, 7)]
    exact.remove_many(gone)
    staged.remove_many(gone)
    for i in range(3):
        extra = _unit(rng)
        exact.add(f"new{i}", f"n{i}", extra)
        staged.add(f"new{i}", f"n{i}", extra)
    assert len(exact) == len(staged) == 30_000 - len(gone) + 3
    checked = planted = 0
    for i in range(1, 30_000, 150):
        noise = rng.standard_normal(128).astype(np.float32)
        noise -= noise.dot(x[i]) * x[i]
        noise /= np.linalg.norm(noise)
        target = 0.40 + 0.15 * rng.random()
        probe = target * x[i] + np.sqrt(1 - target**2) * noise
        want, got = exact.search(probe, 5), staged.search(probe, 5)
        # The same ranking (neighbours closer than the 8-bit error may swap places) ...
        for a, b in zip(got, want, strict=True):
            assert abs(a.similarity - b.similarity) < 0.01, i
        # ... and the planted template is found whenever the exact scan finds it.
        if f"t{i}" in {c.template_id for c in want}:
            assert f"t{i}" in {c.template_id for c in got}, i
            planted += 1
        checked += 1
    assert checked == 200 and planted >= 150


# A fresh interpreter (OpenMP reads OMP_THREAD_LIMIT when it loads) holding 20,000 random
# templates; HITS counts how many of 100 of them find themselves.
_INDEX_OF_20000 = (
    "import numpy as np\n"
    "from services.identity.duplicates import TemplateIndex\n"
    "rng = np.random.default_rng(0)\n"
    "x = rng.standard_normal((20000, 128)).astype(np.float32)\n"
    "x /= np.linalg.norm(x, axis=1, keepdims=True)\n"
    "idx = TemplateIndex(); idx.load((f't{i}', f's{i}', x[i]) for i in range(len(x)))\n"
)
_HITS = "sum(idx.search(x[i], 1)[0].template_id == f't{i}' for i in range(0, 20000, 200))"


def _printed_under_omp_thread_limit_1(code: str) -> str:
    env = {"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    return out.stdout.strip()


def test_search_covers_every_template_under_omp_thread_limit() -> None:
    """Regression: under OMP_THREAD_LIMIT=1 faiss skipped half the database."""
    assert _printed_under_omp_thread_limit_1(_INDEX_OF_20000 + f"print({_HITS})\n") == "100"


def test_search_from_a_worker_thread_covers_every_template_under_omp_thread_limit() -> None:
    """Regression: OpenMP keeps the thread count per thread, so pinning faiss once at import
    left the server's worker threads (where every search runs) scanning half the index."""
    code = _INDEX_OF_20000 + (
        "from concurrent.futures import ThreadPoolExecutor\n"
        f"def hits():\n    return {_HITS}\n"
        "with ThreadPoolExecutor(2) as pool:\n"
        "    print(sum(pool.map(lambda _: hits(), range(2))))\n"
    )
    assert _printed_under_omp_thread_limit_1(code) == "200"
