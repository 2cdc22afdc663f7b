"""Document-kind classification without a hint; prints one JSON object.

    python -m bench.classify [--n 30] [--seed 0]

Per kind (business licences in every layout, the held-out one apart; TD3 passport pages;
TD1 cards, front and back; Chinese ID card fronts; ID card backs sent alone) and capture
tier: how often `DocumentReader.classify` (no OCR) routes the photo to the right reader,
what it took the others for, and its p50/p90 ms. A Chinese ID card's front or back is
right when nothing else claims it (None: the ID card reader).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import date
from typing import Any

import numpy as np

from bench.face_data import document_portraits
from services.identity.documents.model import DocumentKind
from services.identity.documents.reader import DocumentReader
from services.vision.faces import default_engine
from tests.docgen import business_licence, cn_id_card, passport
from tests.docgen.capture import TIERS, capture

TODAY = date(2026, 11, 22)
KINDS = (
    "licence",
    "licence_held_out",
    "passport_td3",
    "id_card_td1",
    "cn_id_front",
    "cn_id_back_alone",
)
EXPECTED = {
    "licence": DocumentKind.CN_BUSINESS_LICENCE,
    "licence_held_out": DocumentKind.CN_BUSINESS_LICENCE,
    "passport_td3": DocumentKind.PASSPORT_TD3,
    "id_card_td1": DocumentKind.ID_CARD_TD1,
    "cn_id_front": None,
    "cn_id_back_alone": None,
}


def _sample(kind: str, rng: random.Random, tier: str, portraits: list[np.ndarray]) -> tuple[Any, Any]:
    seed = rng.randrange(1 << 30)
    if kind.startswith("licence"):
        layout = business_licence.HELD_OUT if kind == "licence_held_out" else rng.choice(business_licence.LAYOUTS)
        lic = business_licence.random_licence(rng, TODAY, None, layout)
        return capture(business_licence.render(lic, rng), tier, seed).image, None
    if kind in ("passport_td3", "id_card_td1"):
        doc = passport.random_document(rng, TODAY, kind, rng.choice(portraits))
        front, back = passport.render(doc, rng)
        return capture(front, tier, seed).image, capture(back, tier, seed + 1).image if back is not None else None
    card = cn_id_card.random_card(rng, TODAY, rng.choice(portraits))
    if kind == "cn_id_front":
        return capture(cn_id_card.render_front(card, rng), tier, seed).image, None
    return capture(cn_id_card.render_back(card, rng), tier, seed).image, None


def run(n: int = 30, seed: int = 0, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    portraits = document_portraits(default_engine())
    out: dict[str, Any] = {"load_average_before": [round(v, 2) for v in os.getloadavg()], "kinds": {}}
    for kind in kinds:
        out["kinds"][kind] = {}
        for tier in TIERS:
            rng = random.Random(f"classify-{seed}-{kind}-{tier}")
            right, taken_for, times = 0, {}, []
            for _ in range(n):
                front, back = _sample(kind, rng, tier, portraits)
                t = time.perf_counter()
                got = DocumentReader.classify(front, back)
                times.append((time.perf_counter() - t) * 1000)
                if got is EXPECTED[kind]:
                    right += 1
                else:
                    name = got.value if got else "cn_resident_id"
                    taken_for[name] = taken_for.get(name, 0) + 1
            out["kinds"][kind][tier] = {
                "documents": n,
                "routed_right": right,
                "taken_for": taken_for,
                "ms": {
                    "p50": round(float(np.percentile(times, 50)), 1),
                    "p90": round(float(np.percentile(times, 90)), 1),
                },
            }
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.seed, tuple(args.kinds.split(","))), indent=1))
