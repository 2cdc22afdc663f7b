"""The bundled face models run on OpenVINO's CPU runtime (Apache-2.0, from PyPI).

Measured on 2 cores (docs/face-calibration.md): SFace 6 ms per face against OpenCV DNN's
10.6 and onnxruntime's 19; YuNet at 640x640 7.8 ms against onnxruntime's 8.8 (with the
float conversion and layout change done inside the compiled graph). One `ov.Core` serves
the process; a compiled model is shared by all threads, each thread gets its own
inference request (requests are not thread-safe).

Precision is pinned to fp32 by default: on CPUs with AMX or AVX-512 BF16 OpenVINO would
otherwise compute in bfloat16, and the same picture would give slightly different scores
on different hardware than the calibration measured. The recogniser (SFace) may be run
in bfloat16 on purpose (`SELLERVERIFY_EMBEDDING_PRECISION=bf16`): on the shared face set
its embeddings stay within cosine 0.9998 of fp32 ones (docs/hardening.md) for about 45 %
of the CPU; a CPU without bfloat16 support computes in fp32 as before.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

# Threads one inference uses. One: a call's two images run side by side on two worker
# threads instead (services/identity/face_flow.py), and with several calls in flight each
# inference keeps one core busy without the hand-offs and spin-waits of a two-thread
# team. Set by `set_inference_threads` (SELLERVERIFY_INFERENCE_THREADS) before the first
# model compiles.
THREADS = 1


def set_inference_threads(threads: int) -> None:
    """Threads per inference for models compiled from now on (1 or more)."""
    global THREADS
    THREADS = max(1, int(threads))


PRECISIONS = ("f32", "bf16")
# Inference precision of the embedding model (SFace), set by `set_embedding_precision`
# (SELLERVERIFY_EMBEDDING_PRECISION) before it compiles. The detector stays fp32: its
# landmarks place the aligned crop, and the embedding moves more with a landmark's
# tenth of a pixel than with bfloat16 arithmetic.
EMBEDDING_PRECISION = "f32"


def set_embedding_precision(precision: str) -> None:
    """`f32` or `bf16` for the embedding model compiled from now on."""
    global EMBEDDING_PRECISION
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    EMBEDDING_PRECISION = precision


# Where prepared graphs and OpenVINO's compiled blobs are kept between runs (None: not
# kept). A restart then skips importing `onnx`, folding the weights and most of the
# compilation: the face engine is ready in about 0.8 s instead of 2.5-3.1 s, which is
# what a MatchFace arriving just after a restart waits for.
_cache_dir: Path | None = None


def set_cache_dir(path: Path | None) -> None:
    """Keep prepared models under `path` (created 0700); call before the first model loads."""
    global _cache_dir
    _cache_dir = path
    if path is not None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _core.cache_info().currsize:
            _core().set_property({"CACHE_DIR": str(path)})


@cache
def _core() -> Any:
    import openvino as ov

    core = ov.Core()
    if _cache_dir is not None:
        core.set_property({"CACHE_DIR": str(_cache_dir)})
    return core


def _owner_only_cache() -> None:
    """OpenVINO writes its blobs with the process umask; like every file under the data
    folder (docs/operations.md) they are made owner-only."""
    if _cache_dir is None:
        return
    for entry in _cache_dir.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mode & 0o077:
                entry.chmod(0o600)
        except OSError:  # another process replaced it meanwhile
            continue


def prepared_graph(source: Path, recipe: str, build: Callable[[], bytes]) -> bytes:
    """`build()`'s ONNX bytes for the model file `source`, kept in the cache directory
    under a name derived from the file's bytes and `recipe` (the name and version of the
    preparation): a changed file or recipe gets a new entry, never a stale one."""
    if _cache_dir is None:
        return build()
    digest = hashlib.sha256(source.read_bytes() + b"\0" + recipe.encode()).hexdigest()[:32]
    kept = _cache_dir / f"graph-{digest}.onnx"
    try:
        return kept.read_bytes()
    except OSError:
        pass
    data = build()
    partial = kept.with_suffix(f".{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(partial, kept)  # whole or absent: a crash mid-write leaves no half graph
    return data


def read(onnx_bytes: bytes) -> Any:
    """An ov.Model from an ONNX graph held in memory."""
    return _core().read_model(onnx_bytes)


class CompiledCpu:
    """A model compiled for the CPU, for low latency, with a request per calling thread."""

    def __init__(self, model: Any, *, one_at_a_time: bool = False, precision: str = "f32") -> None:
        """`one_at_a_time`: inferences of this model never overlap (see YuNet's dynamic-shape
        model: two threads inferring it at once hung a server, intermittently, under load).
        `precision`: `f32`, or `bf16` where the CPU has it (f32 elsewhere)."""
        self._serial = threading.Lock() if one_at_a_time else None
        self._compiled = _core().compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": precision,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": THREADS,
                # Never pin to cores: several worker processes (SELLERVERIFY_WORKERS) and
                # concurrent requests would all pin to the same first cores.
                "ENABLE_CPU_PINNING": False,
            },
        )
        self.outputs = list(self._compiled.outputs)
        _owner_only_cache()
        self._local = threading.local()

    def infer(self, tensor: Any) -> Any:
        """Outputs (indexable by `self.outputs[i]`) for the model's single input."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        if self._serial is None:
            return request.infer({0: tensor})
        with self._serial:
            return request.infer({0: tensor})
