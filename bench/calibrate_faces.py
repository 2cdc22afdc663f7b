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

from bench.face_data import (
    FaceSet,
    auc,
    build,
    photo_pairs,
    photo_scores,
    portrait_pairs,
    portrait_scores,
    second_distances,
    threshold_at,
)
from services.identity.face_match import CalibrationTable, FaceMatcher, Fusion, Operating, PairType
from services.vision.faces import default_engine
from services.vision.second_opinion import default_describer

FMRS = (0.01, 0.001, 0.0001)
UNMEASURED_MARGIN = 0.03
# Pairs whose SFace similarity is at or above the impostor score exceeded by this share of
# impostors ask for a second opinion (up to the FMR-0.01% threshold, above every impostor).
BAND_LOW_FMR = 0.30
FUSED_MARGIN = 0.3  # in fused (z-score) units, for the unmeasurable FMR-0.01% point
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


def cascade_scores(sim: np.ndarray, dist: np.ndarray, fusion: Fusion) -> np.ndarray:
    """What the matcher decides on: below the band -inf (SFace says no), above it +inf
    (SFace says yes), inside it the fused score."""
    out = np.where(sim >= fusion.band_high, np.inf, -np.inf)
    band = (sim >= fusion.band_low) & (sim < fusion.band_high) & ~np.isnan(dist)
    for i in np.flatnonzero(band):
        out[i] = fusion.score(float(sim[i]), float(dist[i]))
    return out


def fusion_entry(gs: np.ndarray, gd: np.ndarray, imp_s: np.ndarray, imp_d: np.ndarray, band_high: float) -> dict:
    """Calibrate the second-opinion cascade: band, z-normalisation, fused thresholds whose
    FMR counts every impostor (those the band never sends to the second engine included)."""
    ok = ~np.isnan(imp_d)
    base = Fusion(
        band_low=min(threshold_at(imp_s, BAND_LOW_FMR), threshold_at(imp_s, 0.01)),
        band_high=band_high,
        primary_mean=float(imp_s.mean()),
        primary_std=float(imp_s.std()),
        second_mean=float(imp_d[ok].mean()),
        second_std=float(imp_d[ok].std()),
        thresholds={},
        curve=[],
        impostor_pairs=len(imp_s),
    )
    ci = cascade_scores(imp_s, imp_d, base)
    cg = cascade_scores(gs, gd, base)
    finite = ci[np.isfinite(ci)]
    floor = float(finite.min()) if len(finite) else 0.0
    points = []
    for fmr in FMRS:
        measured = len(ci) * fmr >= 1.0
        t = threshold_at(ci, fmr) if measured else (float(finite.max()) + FUSED_MARGIN if len(finite) else 0.0)
        t = max(t, floor) if np.isfinite(t) else floor
        points.append(
            {"fmr": fmr, "threshold": round(t, 4), "measured": measured, "tar": round(float(np.mean(cg >= t)), 4)}
        )
    grid = np.round(np.linspace(-3.0, 8.0, 111), 2)
    return {
        "band": [round(base.band_low, 4), round(base.band_high, 4)],
        "primary_impostor": [round(base.primary_mean, 5), round(base.primary_std, 5)],
        "second_impostor": [round(base.second_mean, 5), round(base.second_std, 5)],
        "impostor_pairs": len(imp_s),
        "genuine_pairs": len(gs),
        "share_in_band": {
            "genuine": round(float(np.mean((gs >= base.band_low) & (gs < band_high))), 4),
            "impostor": round(float(np.mean((imp_s >= base.band_low) & (imp_s < band_high))), 4),
        },
        "points": points,
        "curve": [[float(v), float(np.mean(ci >= v))] for v in grid],
    }


def main() -> None:
    engine = default_engine()
    # A placeholder table is enough to build templates (thresholds are not used here).
    dummy = Operating({0.01: 0.3, 0.001: 0.4}, [(0.0, 1.0), (1.0, 0.0)], 1, 1)
    second = default_describer()
    matcher = FaceMatcher(
        engine,
        CalibrationTable(engine.info.engine, engine.info.version, {p: dummy for p in PairType}, "-"),
        second_opinion=second,
    )
    started = time.time()
    fs: FaceSet = build(matcher)
    pg, pi = photo_scores(fs)
    qg, qi = portrait_scores(fs)
    photo_entry, portrait_entry = operating_entry(pg, pi), operating_entry(qg, qi)
    if second is not None:
        (g_pairs, i_pairs), (qg_pairs, qi_pairs) = photo_pairs(fs), portrait_pairs(fs)
        for entry, (gs, imp_s), (a2, b2), (gp, ip) in (
            (photo_entry, (pg, pi), (fs.photo_second, fs.photo_second), (g_pairs, i_pairs)),
            (portrait_entry, (qg, qi), (fs.portrait_second, fs.photo_second), (qg_pairs, qi_pairs)),
        ):
            band_high = max(p["threshold"] for p in entry["points"])
            entry["fusion"] = fusion_entry(
                gs, second_distances(a2, b2, gp), imp_s, second_distances(a2, b2, ip), band_high
            )
            entry["fusion"]["second_model"] = second.info.model
    table = {
        "engine": engine.info.engine,
        "model": engine.info.model,
        "model_version": engine.info.version,
        "data": "data/faces (25 people, 79 photos; ID portraits derived by tests/portraits.py)",
        "detection_failures": {"photo": fs.photo_failures, "id_portrait": fs.portrait_failures},
        "pair_types": {
            PairType.PHOTO_VS_PHOTO.value: photo_entry,
            PairType.ID_PORTRAIT_VS_PHOTO.value: portrait_entry,
        },
        "note": "In-sample: thresholds are set on the same pairs their TAR is reported on. "
        "bench/faces.py reports identity-disjoint cross-validated figures.",
        "seconds": round(time.time() - started, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{engine.info.engine}.json").write_text(json.dumps(table, indent=1) + "\n")
    summary = {k: v for k, v in table.items() if k != "pair_types"}
    summary["pair_types"] = {
        k: {
            kk: ({x: y for x, y in vv.items() if x != "curve"} if kk == "fusion" else vv)
            for kk, vv in v.items()
            if kk != "curve"
        }
        for k, v in table["pair_types"].items()
    }
    json.dump(summary, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
