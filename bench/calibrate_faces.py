"""Calibrate face-match thresholds on the shared face set; writes
services/identity/calibration/<engine>.json and prints the table as JSON.

FMR points: 1%, 0.1%, 0.01%. A point needs at least 1/FMR impostor pairs to be
measured at all; with fewer, the threshold is set conservatively (the highest impostor
score seen plus a margin) and marked `"measured": false`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.face_data import FaceSet, auc, build, photo_scores, portrait_scores, threshold_at
from services.identity.face_match import CalibrationTable, FaceMatcher, Operating, PairType
from services.vision.faces import default_engine

FMRS = (0.01, 0.001, 0.0001)
UNMEASURED_MARGIN = 0.03
OUT = Path(__file__).resolve().parents[1] / "services" / "identity" / "calibration"


def operating_entry(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    points = []
    for fmr in FMRS:
        measured = len(impostor) * fmr >= 1.0
        t = threshold_at(impostor, fmr) if measured else float(impostor.max() + UNMEASURED_MARGIN)
        points.append(
            {
                "fmr": fmr,
                "threshold": round(t, 4),
                "measured": measured,
                "tar": round(float(np.mean(genuine >= t)), 4),
            }
        )
    grid = np.round(np.linspace(-0.2, 0.8, 101), 3)
    curve = [[float(s), float(np.mean(impostor >= s))] for s in grid]
    return {
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "auc": round(auc(genuine, impostor), 5),
        "points": points,
        "curve": curve,
    }


def main() -> None:
    engine = default_engine()
    # A placeholder table is enough to build templates (thresholds are not used here).
    dummy = Operating({0.01: 0.3, 0.001: 0.4}, [(0.0, 1.0), (1.0, 0.0)], 1, 1)
    matcher = FaceMatcher(
        engine, CalibrationTable(engine.info.engine, engine.info.version, {p: dummy for p in PairType}, "-")
    )
    started = time.time()
    fs: FaceSet = build(matcher)
    pg, pi = photo_scores(fs)
    qg, qi = portrait_scores(fs)
    table = {
        "engine": engine.info.engine,
        "model": engine.info.model,
        "model_version": engine.info.version,
        "data": "shared/data/faces (25 people, 79 photos; ID portraits derived by tests/portraits.py)",
        "detection_failures": {"photo": fs.photo_failures, "id_portrait": fs.portrait_failures},
        "pair_types": {
            PairType.PHOTO_VS_PHOTO.value: operating_entry(pg, pi),
            PairType.ID_PORTRAIT_VS_PHOTO.value: operating_entry(qg, qi),
        },
        "note": "In-sample: thresholds are set on the same pairs their TAR is reported on. "
        "bench/faces.py reports identity-disjoint cross-validated figures.",
        "seconds": round(time.time() - started, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{engine.info.engine}.json").write_text(json.dumps(table, indent=1) + "\n")
    summary = {k: v for k, v in table.items() if k != "pair_types"}
    summary["pair_types"] = {
        k: {kk: vv for kk, vv in v.items() if kk != "curve"} for k, v in table["pair_types"].items()
    }
    json.dump(summary, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
