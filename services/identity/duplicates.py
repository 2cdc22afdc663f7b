"""1:N duplicate identities: one face behind several ID numbers, one ID number behind
several faces.

The embedded index searches L2-normalised templates by inner product (= cosine) with
faiss, rebuilt from the database at start. Up to `EXACT_LIMIT` templates it stores
float32 vectors (IndexFlatIP) and scans them all. Larger indexes search in two stages
over the same labels:
1. every template is scored from 4-bit product-quantisation codes (IndexPQFastScan, 64
   sub-quantisers of 16 centroids, 32 bytes a template, scored with SIMD table lookups:
   about 1 ms for 1M), and the best `REFINE_CANDIDATES` per wanted result (at least
   `MIN_CANDIDATES`) are kept;
2. those are re-scored from 8-bit scalar-quantised codes (IndexScalarQuantizer QT_8bit,
   128 bytes a template; similarity within 0.01 of float32), and the best returned.
The first stage still looks at every template (no probe can miss a cluster, unlike IVF);
its coarse scores only have to rank a duplicate above the 1,000th best unrelated face.
On 1M random templates that held for every planted duplicate at or above the duplicate
threshold (docs/duplicates.md). Before 2026-11-23 the 8-bit codes were scanned in full:
33 ms a query on this host, over the 20 ms budget. Graph (HNSW) and inverted-list (IVF)
indexes were measured and rejected: on 1M templates their recall of planted duplicates
was 0.12-0.59. bench/dup_index.py measures recall, latency and memory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

from services.core.reasons import Reason

DIM = 128


_LIMIT = os.environ.get("OMP_THREAD_LIMIT", "").strip()
# OpenMP reads OMP_THREAD_LIMIT once, when it loads: parsing it once here matches that.
_OMP_THREADS = int(_LIMIT) if _LIMIT.isdigit() and int(_LIMIT) > 0 else 0


def _respect_omp_thread_limit() -> None:
    """faiss splits a scan into omp_get_max_threads() slices; under OMP_THREAD_LIMIT=1
    (set for Tesseract) only one thread runs and the other slices are silently skipped,
    so half the templates would never be searched. Pin faiss to the limit.

    OpenMP keeps this setting per thread, and a thread it has not seen starts from the
    default (the core count): the pin must be made in every thread that calls faiss (the
    server's worker threads), not once at import; and other libraries in the process may
    set it again later. So it is set before every faiss call (it only writes a setting)."""
    if _OMP_THREADS:
        faiss.omp_set_num_threads(_OMP_THREADS)


_respect_omp_thread_limit()
EXACT_LIMIT = 200_000
# Two-stage search (more than EXACT_LIMIT templates): coarse candidates kept per result.
REFINE_CANDIDATES = 100
MIN_CANDIDATES = 1000


@dataclass(frozen=True)
class Candidate:
    template_id: str
    subject_id: str
    similarity: float


@dataclass(frozen=True)
class DuplicateFinding:
    reason: Reason
    other_subject_id: str
    similarity: float
    detail: str


class SearchIndex(Protocol):
    """What duplicate search needs of a template index (faiss in process, or pgvector)."""

    @property
    def kind(self) -> str: ...

    def __len__(self) -> int: ...

    def load(self, rows: Iterable[tuple[str, str, np.ndarray]]) -> None: ...

    def add(self, template_id: str, subject_id: str, vector: np.ndarray) -> None: ...

    def remove(self, template_id: str) -> None: ...

    def remove_many(self, template_ids: Iterable[str]) -> None: ...

    def search(self, vector: np.ndarray, k: int = 10, min_similarity: float = -1.0) -> list[Candidate]: ...


class TemplateIndex:
    """Thread-safe cosine search over enrolled templates (see the module docstring)."""

    def __init__(self, dim: int = DIM, exact_limit: int = EXACT_LIMIT) -> None:
        self._dim = dim
        self._exact_limit = exact_limit
        # Exact mode: float32 vectors. Two-stage mode: the 8-bit codes that re-score.
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._coarse: faiss.Index | None = None  # two-stage mode: the 4-bit PQ codes
        self._lock = threading.RLock()
        self._next = 0
        self._by_label: dict[int, tuple[str, str]] = {}  # label -> (template_id, subject_id)
        self._label_of: dict[str, int] = {}

    @property
    def kind(self) -> str:
        return "exact" if self._coarse is None else "pq4+sq8"

    def _two_stage_for(self, vectors: np.ndarray) -> tuple[faiss.Index, faiss.Index]:
        """Empty (coarse, fine) indexes trained on (a sample of) `vectors`."""
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(len(vectors), size=min(len(vectors), 200_000), replace=False)]
        coarse = faiss.IndexPQFastScan(self._dim, self._dim // 2, 4, faiss.METRIC_INNER_PRODUCT)
        coarse.train(sample[:65_536])
        fine = faiss.IndexScalarQuantizer(self._dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        fine.train(sample)
        return faiss.IndexIDMap2(coarse), faiss.IndexIDMap2(fine)

    def __len__(self) -> int:
        return len(self._by_label)

    def load(self, rows: Iterable[tuple[str, str, np.ndarray]]) -> None:
        """Bulk-add (template_id, subject_id, vector) rows."""
        ids, subs, vecs = [], [], []
        for template_id, subject_id, vector in rows:
            ids.append(template_id)
            subs.append(subject_id)
            vecs.append(np.asarray(vector, np.float32).reshape(self._dim))
        if not ids:
            return
        matrix = np.stack(vecs)
        with self._lock:
            _respect_omp_thread_limit()
            labels = np.arange(self._next, self._next + len(ids), dtype=np.int64)
            self._next += len(ids)
            if self._coarse is None and len(self) + len(ids) > self._exact_limit and len(ids) > 1:
                # Bulk load past the exact limit: rebuild in two stages, trained on everything held.
                existing = self._vectors_held()
                all_vectors = np.concatenate([existing[1], matrix]) if len(existing[0]) else matrix
                all_labels = np.concatenate([existing[0], labels]) if len(existing[0]) else labels
                coarse, fine = self._two_stage_for(all_vectors)
                coarse.add_with_ids(all_vectors, all_labels)
                fine.add_with_ids(all_vectors, all_labels)
                self._coarse, self._index = coarse, fine
            else:
                self._index.add_with_ids(matrix, labels)
                if self._coarse is not None:
                    self._coarse.add_with_ids(matrix, labels)
            for label, tid, sid in zip(labels.tolist(), ids, subs, strict=True):
                self._by_label[label] = (tid, sid)
                self._label_of[tid] = label

    def _vectors_held(self) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array(sorted(self._by_label), dtype=np.int64)
        if not len(labels):
            return labels, np.empty((0, self._dim), np.float32)
        return labels, self._index.reconstruct_batch(labels)

    def add(self, template_id: str, subject_id: str, vector: np.ndarray) -> None:
        self.load([(template_id, subject_id, vector)])

    def holds(self, template_id: str) -> bool:
        """Whether the template is in the index."""
        return template_id in self._label_of

    def remove(self, template_id: str) -> None:
        self.remove_many([template_id])

    def remove_many(self, template_ids: Iterable[str]) -> None:
        """Drop templates (unknown ids are ignored); one pass over the index for all."""
        with self._lock:
            _respect_omp_thread_limit()
            labels = [label for tid in template_ids if (label := self._label_of.pop(tid, None)) is not None]
            if not labels:
                return
            selector = np.array(labels, dtype=np.int64)
            self._index.remove_ids(selector)  # type: ignore[arg-type]
            if self._coarse is not None:
                self._coarse.remove_ids(selector)  # type: ignore[arg-type]
            for label in labels:
                del self._by_label[label]

    def search(self, vector: np.ndarray, k: int = 10, min_similarity: float = -1.0) -> list[Candidate]:
        query = np.asarray(vector, np.float32).reshape(1, self._dim)
        with self._lock:
            _respect_omp_thread_limit()
            if not self._by_label:
                return []
            k = min(k, len(self))
            if self._coarse is None:
                sims, found = self._index.search(query, k)
                pairs = zip(sims[0].tolist(), found[0].tolist(), strict=True)
            else:
                _, coarse = self._coarse.search(query, min(len(self), max(k * REFINE_CANDIDATES, MIN_CANDIDATES)))
                candidates = coarse[0][coarse[0] >= 0]
                rescored = self._index.reconstruct_batch(candidates) @ query[0]
                best = np.argsort(-rescored, kind="stable")[:k]
                pairs = zip(rescored[best].tolist(), candidates[best].tolist(), strict=True)
            out = []
            for sim, label in pairs:
                if label < 0 or sim < min_similarity:
                    continue
                tid, sid = self._by_label[label]
                out.append(Candidate(tid, sid, float(sim)))
            return out


def find_duplicates(
    *,
    subject_id: str,
    id_number_hash: str | None,
    vector: np.ndarray,
    index: SearchIndex,
    id_hash_of: dict[str, str | None],
    same_id_templates: list[tuple[str, np.ndarray]],
    same_face_threshold: float,
    different_face_threshold: float,
    k: int = 10,
    candidates: list[Candidate] | None = None,
) -> list[DuplicateFinding]:
    """Findings for a subject about to be enrolled.

    - DUPLICATE_FACE: another subject's template is at least `same_face_threshold`
      similar and that subject holds a different (or unknown) ID number.
    - ID_REUSED_BY_OTHER_FACE: another subject holds the same ID number hash and none
      of its templates reaches `different_face_threshold` against this face.

    `id_hash_of` maps candidate subject ids to their ID-number hashes;
    `same_id_templates` lists (subject_id, vector) of other subjects with this hash.
    `candidates`: the result of `index.search(vector, k, same_face_threshold)` when the
    caller has it already (the search is not run again).
    """
    findings: list[DuplicateFinding] = []
    seen: set[str] = set()
    if candidates is None:
        candidates = index.search(vector, k=k, min_similarity=same_face_threshold)
    for cand in candidates:
        if cand.subject_id == subject_id or cand.subject_id in seen:
            continue
        other_hash = id_hash_of.get(cand.subject_id)
        if id_number_hash is not None and other_hash == id_number_hash:
            continue  # same person, same ID: a second account, not a borrowed identity
        seen.add(cand.subject_id)
        detail = (
            "the same face is enrolled under another ID number"
            if id_number_hash is not None and other_hash is not None
            else "the same face is already enrolled for another subject"
        )
        findings.append(DuplicateFinding(Reason.DUPLICATE_FACE, cand.subject_id, cand.similarity, detail))
    if id_number_hash is not None:
        best: dict[str, float] = {}
        for other_subject, other_vector in same_id_templates:
            if other_subject == subject_id:
                continue
            sim = float(np.dot(vector, np.asarray(other_vector, np.float32)))
            best[other_subject] = max(best.get(other_subject, -1.0), sim)
        for other_subject, sim in best.items():
            if sim < different_face_threshold:
                findings.append(
                    DuplicateFinding(
                        Reason.ID_REUSED_BY_OTHER_FACE,
                        other_subject,
                        sim,
                        "this ID number is already enrolled with a different face",
                    )
                )
    return findings
