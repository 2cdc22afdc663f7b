"""Document reading benchmark; prints one JSON object.

    python -m bench.ocr [--n 60] [--invalid 30] [--seed 0]

Every kind (CN ID cards, MRZ passports and TD1 cards, business licences) is rendered with
`--n` valid and `--invalid` invalid documents per tier from the same `--seed`; report a
seed nobody tuned on.

For Chinese resident ID cards rendered by tests/docgen at three capture tiers (clean,
photo, hard): document-found rate (read without a quality-gate refusal), exact-match
rates of the citizen number, name and birth date, the verdict mix on valid cards, the
number of invalid cards accepted as valid (must be 0), and p50/p90 ms per card (front and
back) through the reader, as the service runs it.
"""

from __future__ import annotations

import os

# Measure what the server runs: `sellerverify serve` sets this before OpenMP loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import argparse
import json
import random
import time
from datetime import date
from typing import Any

import numpy as np

from bench import ocr_licence, ocr_mrz
from bench.face_data import document_portraits
from services.core.errors import DomainError
from services.identity.documents.model import DocumentKind
from services.identity.documents.reader import DocumentReader
from services.vision.faces import default_engine
from tests.docgen.capture import TIERS, capture
from tests.docgen.cn_id_card import INVALID_KINDS, random_card, render_back, render_front


def run(n: int, n_invalid: int, seed: int = 0) -> dict[str, Any]:
    engine = default_engine()
    reader = DocumentReader(engine)
    portraits = document_portraits(engine)
    today = date(2026, 11, 22)
    result: dict[str, Any] = {"kind": DocumentKind.CN_RESIDENT_ID.value, "today": today.isoformat(), "tiers": {}}
    for tier in TIERS:
        stats = {"cards": 0, "found": 0, "number": 0, "name": 0, "birth_date": 0, "pass": 0, "review": 0, "fail": 0}
        refusals: dict[str, int] = {}
        times: list[float] = []
        for i in range(n):
            rng = random.Random(f"{seed}-{tier}-{i}")
            card = random_card(rng, today, rng.choice(portraits))
            front = capture(render_front(card, rng), tier, rng.randrange(1 << 30)).image
            back = capture(render_back(card, rng), tier, rng.randrange(1 << 30)).image
            stats["cards"] += 1
            t = time.perf_counter()
            try:
                doc = reader.read(front, back, None, today)
            except DomainError as err:
                refusals[err.reason.value] = refusals.get(err.reason.value, 0) + 1
                continue
            finally:
                times.append((time.perf_counter() - t) * 1000)
            stats["found"] += 1
            stats["number"] += doc.value("citizen_number") == card.number
            stats["name"] += doc.value("name") == card.name
            stats["birth_date"] += doc.value("birth_date") == card.truth["birth_date"]
            stats[doc.verdict] += 1
        accepted_invalid: dict[str, int] = {}
        for j in range(n_invalid):
            defect = INVALID_KINDS[j % len(INVALID_KINDS)]
            rng = random.Random(f"{seed}-{tier}-bad-{j}")
            card = random_card(rng, today, rng.choice(portraits), defect)
            front = capture(render_front(card, rng), tier, rng.randrange(1 << 30)).image
            back = capture(render_back(card, rng), tier, rng.randrange(1 << 30)).image
            try:
                doc = reader.read(front, back, None, today)
            except DomainError:
                continue
            if doc.verdict == "pass":
                accepted_invalid[defect] = accepted_invalid.get(defect, 0) + 1
        cards = stats["cards"]
        result["tiers"][tier] = {
            "cards": cards,
            "document_found_rate": round(stats["found"] / cards, 4),
            "citizen_number_exact": round(stats["number"] / cards, 4),
            "name_exact": round(stats["name"] / cards, 4),
            "birth_date_exact": round(stats["birth_date"] / cards, 4),
            "verdicts_on_valid_cards": {k: stats[k] for k in ("pass", "review", "fail")},
            "refused_by_quality_gate": refusals,
            "invalid_cards": n_invalid,
            "invalid_accepted": sum(accepted_invalid.values()),
            "invalid_accepted_by_defect": accepted_invalid,
            "ms_per_card": {
                "p50": round(float(np.percentile(times, 50)), 1),
                "p90": round(float(np.percentile(times, 90)), 1),
            },
        }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--invalid", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.time()
    out = run(args.n, args.invalid, args.seed)
    out["seed"] = args.seed
    # Passports (TD3) and TD1 cards beside PassportEye (n valid, n // 2 invalid per kind and tier).
    out["mrz_documents"] = ocr_mrz.run(args.n, args.seed)
    out["business_licences"] = ocr_licence.run(args.n, args.seed, args.invalid)  # 营业执照, same tiers
    out["seconds"] = round(time.time() - started, 1)
    print(json.dumps(out, indent=1, ensure_ascii=False))
