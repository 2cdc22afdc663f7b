"""Business-licence reading benchmark; prints one JSON object.

    python -m bench.ocr_licence [--n 30] [--invalid 15] [--seed 0] [--layouts horizontal,...]

For 营业执照 rendered by tests/docgen/business_licence.py in every layout (horizontal,
vertical, duplicate 副本, individual business 个体工商户; `layouts`) and, apart under
`held_out`, the held-out layout nobody tunes on, at three capture tiers (clean, photo,
hard), as counts out of `licences`: documents found (read without a quality-gate refusal), exact
rates of the credit code (and exact with status VALID/CORRECTED, i.e. not sent to review
as unreadable), company name and legal representative, the verdict mix on
valid licences, the number of invalid licences accepted as valid (must be 0), and p50/p90
ms per licence through DocumentReader with no kind hint (classification included), as the
service runs it.
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

from services.core.errors import DomainError
from services.identity.documents.model import DocumentKind
from services.identity.documents.reader import DocumentReader
from services.vision.faces import default_engine
from tests.docgen.business_licence import HELD_OUT, INVALID_KINDS, LAYOUTS, random_licence, render
from tests.docgen.capture import TIERS, capture

TODAY = date(2026, 11, 22)


FIELDS = (
    "credit_code",
    "company_name",
    "legal_representative",
    "establishment_date",
    "company_type",
    "registered_capital",
    "address",
)


def run(
    n: int = 30, seed: int = 0, n_invalid: int | None = None, layouts: tuple[str, ...] = (*LAYOUTS, HELD_OUT)
) -> dict[str, Any]:
    """Per layout and tier: rates over `n` valid licences, and `n_invalid` (default n // 2)
    invalid ones. The held-out layout is reported apart, under `held_out`."""
    reader = DocumentReader(default_engine())
    result: dict[str, Any] = {
        "kind": DocumentKind.CN_BUSINESS_LICENCE.value,
        "today": TODAY.isoformat(),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "layouts": {},
    }
    for layout in layouts:
        out = run_layout(reader, layout, n, seed, n // 2 if n_invalid is None else n_invalid)
        if layout == HELD_OUT:
            result["held_out"] = {"layout": layout, "tiers": out}
        else:
            result["layouts"][layout] = {"tiers": out}
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return result


def _key(layout: str, seed: int, tier: str, i: int | str) -> str:
    # the horizontal layout keeps the keys it always had (the tuning seeds' licences stay the same)
    return f"{seed}-{tier}-{i}" if layout == "horizontal" else f"{seed}-{layout}-{tier}-{i}"


def run_layout(reader: DocumentReader, layout: str, n: int, seed: int, n_invalid: int) -> dict[str, Any]:
    """One layout at every tier."""
    result: dict[str, Any] = {}
    for tier in TIERS:
        stats = {"found": 0, "credit_code_accepted": 0, "classified": 0, **{k: 0 for k in FIELDS}}
        verdicts = {"pass": 0, "review": 0, "fail": 0}
        refusals: dict[str, int] = {}
        times: list[float] = []
        cpu: list[float] = []  # this process's CPU time: what the load of other processes does not inflate
        misses: list[dict[str, str]] = []
        for i in range(n):
            rng = random.Random(_key(layout, seed, tier, i))
            lic = random_licence(rng, TODAY, None, layout)
            image = capture(render(lic, rng), tier, rng.randrange(1 << 30)).image
            t, c = time.perf_counter(), time.process_time()
            try:
                doc = reader.read(image, None, None, TODAY)
            except DomainError as err:
                refusals[err.reason.value] = refusals.get(err.reason.value, 0) + 1
                continue
            finally:
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            stats["found"] += 1
            stats["classified"] += doc.kind is DocumentKind.CN_BUSINESS_LICENCE
            for key in FIELDS:
                hit = doc.value(key) == lic.truth[key]
                stats[key] += hit
                if not hit and len(misses) < 12 and key in ("credit_code", "legal_representative"):
                    misses.append({"i": str(i), "field": key, "truth": lic.truth[key], "read": doc.value(key)})
            stats["credit_code_accepted"] += doc.value("credit_code") == lic.credit_code and doc.fields[
                "credit_code"
            ].status.value in ("valid", "corrected")
            verdicts[doc.verdict] += 1
        accepted: dict[str, int] = {}
        invalid_verdicts = {"pass": 0, "review": 0, "fail": 0, "refused": 0}
        for j in range(n_invalid):
            defect = INVALID_KINDS[j % len(INVALID_KINDS)]
            rng = random.Random(_key(layout, seed, tier, f"bad-{j}"))
            lic = random_licence(rng, TODAY, defect, layout)
            image = capture(render(lic, rng), tier, rng.randrange(1 << 30)).image
            try:
                doc = reader.read(image, None, None, TODAY)
            except DomainError:
                invalid_verdicts["refused"] += 1
                continue
            invalid_verdicts[doc.verdict] += 1
            if doc.verdict == "pass":
                accepted[defect] = accepted.get(defect, 0) + 1
        result[tier] = {
            "licences": n,
            "document_found": stats["found"],
            "classified_as_licence": stats["classified"],
            "credit_code_exact_and_accepted": stats["credit_code_accepted"],
            **{f"{k}_exact": stats[k] for k in FIELDS},
            "verdicts_on_valid": verdicts,
            "refused_by_quality_gate": refusals,
            "invalid_licences": n_invalid,
            "verdicts_on_invalid": invalid_verdicts,
            "invalid_accepted": sum(accepted.values()),
            "invalid_accepted_by_defect": accepted,
            "ms_per_document": {
                "p50": round(float(np.percentile(times, 50)), 1) if times else None,
                "p90": round(float(np.percentile(times, 90)), 1) if times else None,
            },
            "cpu_ms_per_document": {
                "p50": round(float(np.percentile(cpu, 50)), 1) if cpu else None,
                "p90": round(float(np.percentile(cpu, 90)), 1) if cpu else None,
            },
            "first_misses": misses,
        }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--invalid", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layouts", default=",".join((*LAYOUTS, HELD_OUT)))
    args = parser.parse_args()
    started = time.time()
    out = run(args.n, args.seed, args.invalid, tuple(args.layouts.split(",")))
    out["seconds"] = round(time.time() - started, 1)
    print(json.dumps(out, indent=1, ensure_ascii=False))
