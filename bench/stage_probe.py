"""`sellerverify serve` with a CPU-time meter per stage of a call (benchmarks only).

    python -m bench.stage_probe serve --port 0 --ready-file ...

Wraps the functions each stage of MatchFace and SubmitDocument runs (decode, detect,
align, embed, quality, 1:N search, database reads and writes, trust refresh, sealing,
audit and events, validation, logging, OCR) with a meter of the calling thread's CPU time
(`time.thread_time`), counted exclusively: a stage's time excludes the stages it calls.
What runs on threads of a library's own (OpenVINO's or onnxruntime's pools, gRPC's core)
is not seen by it and lands in the remainder bench/serving.py reports (process CPU minus
the stages). Calls run one at a time there (`--stages`). On SIGUSR1 the totals
are written as JSON to `$SV_STAGE_FILE` and reset.

Nothing here changes what the server does; it is never imported by the product.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from functools import wraps
from typing import Any

_totals: dict[str, float] = defaultdict(float)
_counts: dict[str, int] = defaultdict(int)
_local = threading.local()
_lock = threading.Lock()


def _metered(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack: list[list[float]] = getattr(_local, "stack", None) or []
        _local.stack = stack
        frame = [time.thread_time(), 0.0]
        stack.append(frame)
        try:
            return fn(*args, **kwargs)
        finally:
            stack.pop()
            elapsed = time.thread_time() - frame[0]
            if stack:
                stack[-1][1] += elapsed
            with _lock:
                _totals[stage] += elapsed - frame[1]
                _counts[stage] += 1

    wrapper.__sv_metered__ = True  # type: ignore[attr-defined]
    return wrapper


def _patch_method(cls: type, name: str, stage: str) -> None:
    fn = cls.__dict__.get(name)
    if fn is None:
        raise AttributeError(f"{cls.__name__}.{name}")
    if isinstance(fn, staticmethod):
        setattr(cls, name, staticmethod(_metered(stage, fn.__func__)))
    else:
        setattr(cls, name, _metered(stage, fn))


def _patch_function(module: Any, name: str, stage: str) -> None:
    """Replace a module function everywhere it was imported by name."""
    orig = getattr(module, name)
    new = _metered(stage, orig)
    for mod in list(sys.modules.values()):
        if mod is None:
            continue
        try:
            if getattr(mod, name, None) is orig:
                setattr(mod, name, new)
        except Exception:  # noqa: BLE001 - odd modules refuse setattr
            continue


def install() -> None:
    """Import every module the calls pass through, then meter their stages."""
    import logging

    import services.identity.servicer
    import services.liveness.servicer
    import services.server
    import services.trust.review_servicer  # noqa: F401
    from services.core import images
    from services.identity import convert, duplicates, enrolment, face_flow, subjects
    from services.identity.documents import ocr, presence, reader
    from services.platform import crypto, events, records, validation
    from services.trust import results, snapshots
    from services.vision import face_quality, faces, ppocr, second_opinion, sface, yunet

    _patch_function(images, "decode_image", "decode")
    _patch_function(images, "encode_jpeg", "encode_jpeg")
    _patch_method(faces.YuNetSFaceEngine, "detect", "detect")
    _patch_method(yunet.YuNet, "detect", "detect")
    _patch_function(faces, "align_crop", "align")
    _patch_method(sface.SFace, "embed", "embed")
    _patch_function(face_quality, "assess", "face_quality")
    _patch_method(second_opinion.DlibDescriber, "describe", "second_opinion_dlib")
    _patch_function(presence, "is_selfie", "card_portrait_check")
    _patch_function(presence, "portrait_of_card", "card_portrait_check")
    _patch_method(duplicates.TemplateIndex, "search", "search_1n")
    _patch_function(duplicates, "find_duplicates", "search_1n")
    _patch_method(face_flow.FaceFlow, "_duplicates_and_known", "db_read_duplicates")
    _patch_function(enrolment, "same_id_templates", "db_read_duplicates")
    _patch_method(face_flow.FaceFlow, "_portrait_blob", "db_read_portrait")
    _patch_function(subjects, "get_subject", "db_read_subject")
    _patch_method(records.Idempotency, "lookup", "db_idempotency_lookup")
    _patch_method(records.Idempotency, "commit_once", "db_write_transaction")
    _patch_method(records.BlobStore, "put", "db_write_blobs")
    _patch_method(records.VerificationLog, "add", "db_write_verification")
    _patch_method(snapshots.TrustProjection, "_before_commit", "trust_refresh")
    _patch_function(results, "settle", "trust_settle_case")
    _patch_method(records.AuditLog, "record", "audit")
    _patch_function(events, "emit", "events")
    _patch_method(crypto.KeyRing, "seal", "crypto")
    _patch_method(crypto.KeyRing, "open", "crypto")
    _patch_method(crypto.KeyRing, "keyed_hash", "crypto")
    _patch_function(validation, "validate", "validate_request")
    _patch_function(convert, "match_response", "proto_build")
    _patch_method(logging.Logger, "_log", "log")
    _patch_method(reader.DocumentReader, "read", "document_read_other")
    _patch_method(ocr.TesserocrEngine, "read", "ocr_tesseract")
    _patch_method(ocr.TesserocrEngine, "find_words", "ocr_tesseract")
    _patch_method(ocr.Tesseract, "read", "ocr_tesseract")
    _patch_method(ppocr.TextLineRecogniser, "recognise_at", "ocr_ppocr")


def _dump(_sig: int, _frame: Any) -> None:
    path = os.environ.get("SV_STAGE_FILE")
    with _lock:
        data = {
            "cpu_s": {k: round(v, 6) for k, v in _totals.items()},
            "calls": dict(_counts),
            "process_cpu_s": round(time.process_time(), 6),
        }
        _totals.clear()
        _counts.clear()
    if path:
        tmp = f"{path}.part"
        with open(tmp, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)


def main() -> int:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # as `sellerverify serve` does, before numeric imports
    install()
    signal.signal(signal.SIGUSR1, _dump)
    from sellerverify.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
