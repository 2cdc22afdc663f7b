"""Where the document reader's CPU goes, per document and stage; prints JSON.

    python -m bench.reader_cpu [--kinds cn_id,passport_td3,id_card_td1,licence] [--n 10]
                               [--tiers clean,photo,hard] [--seed 0] [--style margin]

Renders `--n` valid documents per kind and tier (tests/docgen, as bench.ocr renders them),
reads each once through DocumentReader as the service does (no kind hint for Chinese ID
cards, as bench.serving submits them; the kind hint for MRZ documents; none for licences),
and reports per kind and tier the process CPU ms per document (all threads:
`time.process_time`, p50 / p90 / mean) and, summed over the documents, the CPU of each stage
on the thread that ran it (`time.thread_time`, exclusive: a stage's time excludes the
stages it calls), how many Tesseract and PP-OCR calls a document makes and the pixel sizes
they are given. A warm-up document is read first and not counted (model loading).

Nothing here changes what the reader does; it is never imported by the product.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # as `sellerverify serve` sets it

import argparse
import json
import random
import threading
import time
from collections import defaultdict
from datetime import date
from typing import Any

import numpy as np

from bench import stage_probe

TODAY = date(2026, 11, 22)
_sizes: dict[str, list[tuple[int, ...]]] = defaultdict(list)
_sizes_lock = threading.Lock()


def _note(what: str, shape: tuple[int, ...]) -> None:
    with _sizes_lock:
        _sizes[what].append(shape)


def install() -> None:
    """Meter the reader's stages (see bench.stage_probe) and note the OCR inputs' sizes."""
    from services.identity.documents import (
        cn_labels,
        cn_reader,
        doc_quality,
        licence_reader,
        mrz_find,
        mrz_reader,
        ocr,
        rectify,
        viz_labels,
    )
    from services.vision import faces, ppocr

    p_fn, p_m = stage_probe._patch_function, stage_probe._patch_method
    p_m(ocr.TesserocrEngine, "read", "tesseract")
    p_m(ocr.TesserocrEngine, "find_words", "tesseract_find_words")
    p_fn(ocr, "_prepare", "tesseract_prepare")
    p_m(faces.YuNetSFaceEngine, "detect", "face_detect")
    p_fn(doc_quality, "gate", "gate_find")
    p_fn(rectify, "warp", "warp")
    p_fn(cn_labels, "front_fields", "cn_labels")
    p_fn(cn_labels, "back_fields", "cn_labels")
    p_fn(cn_reader, "line_image", "line_images")
    p_fn(cn_reader, "ink_crop", "line_images")
    p_fn(licence_reader, "looks_like_licence", "classify_licence")
    p_fn(mrz_reader, "looks_like_mrz_document", "classify_mrz")
    for name in ("candidate_quads",):
        if hasattr(mrz_find, name):
            p_fn(mrz_find, name, "mrz_find")
    for name in ("find_fields",):
        if hasattr(viz_labels, name):
            p_fn(viz_labels, name, "viz_labels")

    orig_read = ocr.TesserocrEngine.read  # already metered

    def read(self: Any, regions: list[Any], lang: str, psm: int = 6, whitelist: str | None = None) -> Any:
        _note("tesseract_calls", (len(regions),))
        for r in regions:
            _note(f"tesseract_region_{lang}", tuple(r.image.shape[:2]))
        return orig_read(self, regions, lang, psm, whitelist)

    ocr.TesserocrEngine.read = read  # type: ignore[method-assign]

    rec = ppocr.TextLineRecogniser
    orig_infer = rec._infer

    def infer(self: Any, x: np.ndarray) -> np.ndarray:
        _note("ppocr_input", tuple(x.shape))
        return orig_infer(self, x)

    rec._infer = stage_probe._metered("ppocr_infer", infer)  # type: ignore[method-assign]


def _samples(kind: str, tier: str, style: str, seed: int, n: int, portraits: list[np.ndarray]) -> list[Any]:
    """(front, back, hint) per document, rendered as the accuracy benches render them."""
    from services.identity.documents.model import DocumentKind
    from tests.docgen.capture import capture, capture_style

    out: list[Any] = []
    for i in range(n):
        rng = random.Random(f"cpu-{seed}-{kind}-{style}-{tier}-{i}")
        if kind == "cn_id":
            from tests.docgen.cn_id_card import random_card, render_back, render_front

            card = random_card(rng, TODAY, rng.choice(portraits))
            front = capture_style(render_front(card, rng), tier, style, rng.randrange(1 << 30)).image
            back = capture_style(render_back(card, rng), tier, style, rng.randrange(1 << 30)).image
            out.append((front, back, None))
        elif kind in ("passport_td3", "id_card_td1"):
            from tests.docgen.passport import random_document, render_layout

            doc = random_document(rng, TODAY, kind, rng.choice(portraits), None)
            page, other = render_layout(doc, rng, "reference")
            front = capture_style(page, tier, style, rng.randrange(1 << 30)).image
            back = capture_style(other, tier, style, rng.randrange(1 << 30)).image if other is not None else None
            hint = DocumentKind.PASSPORT_TD3 if kind == "passport_td3" else DocumentKind.ID_CARD_TD1
            out.append((front, back, hint))
        elif kind == "licence":
            from tests.docgen.business_licence import random_licence, render

            lic = random_licence(rng, TODAY, None, "horizontal")
            out.append((capture(render(lic, rng), tier, rng.randrange(1 << 30)).image, None, None))
        else:
            raise SystemExit(f"unknown kind {kind}")
    return out


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def run(kinds: list[str], tiers: list[str], n: int, seed: int, style: str) -> dict[str, Any]:
    install()
    from bench.face_data import document_portraits
    from services.core.errors import DomainError
    from services.identity.documents.reader import DocumentReader
    from services.vision.faces import default_engine

    engine = default_engine()
    reader = DocumentReader(engine)
    portraits = document_portraits(engine)
    result: dict[str, Any] = {"load_average_before": [round(v, 2) for v in os.getloadavg()], "cells": {}}
    for kind in kinds:
        for tier in tiers:
            docs = _samples(kind, tier, style, seed, n + 1, portraits)
            try:  # warm-up, not counted
                reader.read(docs[0][0], docs[0][1], docs[0][2], TODAY)
            except DomainError:
                pass
            with stage_probe._lock:
                stage_probe._totals.clear()
                stage_probe._counts.clear()
            _sizes.clear()
            cpu, verdicts = [], defaultdict(int)
            for front, back, hint in docs[1:]:
                c0 = time.process_time()
                try:
                    verdicts[reader.read(front, back, hint, TODAY).verdict] += 1
                except DomainError as err:
                    verdicts[f"refused:{err.reason.value}"] += 1
                cpu.append((time.process_time() - c0) * 1000)
            stages = {k: round(v * 1000 / n, 1) for k, v in sorted(stage_probe._totals.items(), key=lambda kv: -kv[1])}
            sizes = {}
            for what, shapes in _sizes.items():
                arr = np.array(shapes)
                sizes[what] = {
                    "per_doc": round(len(shapes) / n, 2),
                    "median_shape": [int(v) for v in np.median(arr, axis=0)],
                    "max_shape": [int(v) for v in arr.max(axis=0)],
                }
            result["cells"][f"{kind}/{style}/{tier}"] = {
                "docs": n,
                "verdicts": dict(verdicts),
                "cpu_ms": {"p50": _pct(cpu, 50), "p90": _pct(cpu, 90), "mean": round(float(np.mean(cpu)), 1)},
                "stage_cpu_ms_per_doc": stages,
                "stage_calls_per_doc": {k: round(v / n, 2) for k, v in stage_probe._counts.items()},
                "ocr_inputs": sizes,
            }
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="cn_id")
    ap.add_argument("--tiers", default="clean,photo,hard")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--style", default="margin")
    args = ap.parse_args()
    print(
        json.dumps(
            run(args.kinds.split(","), args.tiers.split(","), args.n, args.seed, args.style),
            indent=1,
            ensure_ascii=False,
        )
    )
