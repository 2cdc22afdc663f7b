"""MRZ document benchmark (TD3 passports, TD1 ID cards), beside PassportEye; prints JSON.

    python -m bench.ocr_mrz [--n 30] [--seed 0] [--styles margin,...] [--no-passporteye] [--no-hint]

For documents rendered by tests/docgen/passport.py at the three capture tiers
(tests/docgen/capture.py: clean / photo / hard), per kind and tier: document-found rate
(read without a quality-gate refusal or MRZ_NOT_FOUND), MRZ all-fields-correct rate (code,
issuing state, surname, given names, number, nationality, birth date, sex, expiry), the
verdict mix on valid documents, the number of invalid documents (bad check digit, expired,
visual/MRZ mismatch, impossible date) accepted as valid (must be 0), and p50/p90 ms per
document end to end through DocumentReader, as the service runs it (kind hint given), both
wall clock and CPU (this process and its children: on a machine shared with other work the
wall clock is inflated, the CPU time much less).

In the same run, the same MRZ images (the passport page; the card's back) go through
PassportEye's `read_mrz` (pytesseract + scikit-image): found rate, all-fields-correct rate
and times. PassportEye reads only the MRZ (no visual zone, no portrait), so its times are
a lower bound of what a full read would cost with it.

`--layouts` renders the documents in several print runs (tests/docgen/passport.py) and
`--styles` captures them in several styles (tests/docgen/capture.py; margin keeps the seeds
it always had). Cells of the held-out layout or style are reported apart under "held_out".
Per cell it also counts the reason codes that sent valid documents to review or fail, what
each invalid defect ended as, and the p50 per reading stage. `--no-hint` reads without a
kind hint (the classifier routes).
"""

from __future__ import annotations

import os

# Measure what the server runs: `sellerverify serve` sets this before OpenMP loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import argparse
import io
import json
import random
import time
from datetime import date
from typing import Any

import cv2
import numpy as np

from bench.face_data import document_portraits
from services.core.errors import DomainError
from services.identity.documents.model import DocumentKind, DocumentResult
from services.identity.documents.reader import DocumentReader
from services.vision.faces import default_engine
from tests.docgen.capture import HELD_OUT_STYLE, STYLES, TIERS, capture_style
from tests.docgen.passport import (
    ALL_LAYOUTS,
    HELD_OUT_LAYOUT,
    INVALID_KINDS,
    KINDS,
    MrzDocument,
    random_document,
    render_layout,
)

TODAY = date(2026, 11, 22)
HINTS = {"passport_td3": DocumentKind.PASSPORT_TD3, "id_card_td1": DocumentKind.ID_CARD_TD1}
FIELDS = ("document_code", "issuing_state", "surname", "given_names", "document_number", "nationality", "sex")


def _iso(yymmdd: str, birth: bool) -> str:
    yy, mm, dd = int(yymmdd[:2]), yymmdd[2:4], yymmdd[4:6]
    year = (2000 + yy if 2000 + yy <= TODAY.year else 1900 + yy) if birth else (2000 + yy if yy < 70 else 1900 + yy)
    return f"{year}-{mm}-{dd}"


def ours_correct(doc: MrzDocument, result: DocumentResult) -> bool:
    """Every MRZ field the reader returns equals what was printed."""
    t = doc.truth
    ok = all(result.value(k) == t[k] for k in FIELDS)
    return (
        ok
        and result.value("birth_date") == _iso(t["birth_date"], True)
        and (result.value("expiry_date") == _iso(t["expiry_date"], False))
    )


def _pe_text(value: Any) -> str:
    return " ".join(str(value or "").replace("<", " ").split())


def passporteye_correct(doc: MrzDocument, m: Any) -> bool:
    """PassportEye's parsed MRZ against the truth (same fields as ours)."""
    t = doc.truth
    return (
        m.type.replace("<", "") == t["document_code"]
        and m.country.replace("<", "") == t["issuing_state"]
        and _pe_text(m.surname) == t["surname"]
        and _pe_text(m.names) == t["given_names"]
        and m.number.replace("<", "") == t["document_number"]
        and m.nationality.replace("<", "") == t["nationality"]
        and m.date_of_birth == t["birth_date"]
        and m.sex.replace("<", "X") == t["sex"]
        and m.expiration_date == t["expiry_date"]
    )


def _cpu() -> float:
    """CPU seconds of this process and its finished children (PassportEye runs Tesseract as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _pct(times: list[float]) -> dict[str, float]:
    if not times:
        return {"p50": 0.0, "p90": 0.0}
    return {"p50": round(float(np.percentile(times, 50)), 1), "p90": round(float(np.percentile(times, 90)), 1)}


def _sample(
    kind: str,
    tier: str,
    seed: int,
    i: int,
    portraits: list[np.ndarray],
    invalid: str | None,
    style: str = "margin",
    layout: str = "reference",
) -> tuple[MrzDocument, np.ndarray, np.ndarray | None]:
    # The margin style keeps the seeds it always had, so its numbers compare with older runs.
    key = f"{seed}-{kind}-{tier}-{i}-{invalid}" if style == "margin" else f"{seed}-{style}-{kind}-{tier}-{i}-{invalid}"
    if layout != "reference":
        key += f"-{layout}"
    rng = random.Random(key)
    doc = random_document(rng, TODAY, kind, rng.choice(portraits), invalid)
    front, back = render_layout(doc, rng, layout)
    front_img = capture_style(front, tier, style, rng.randrange(1 << 30)).image
    back_img = capture_style(back, tier, style, rng.randrange(1 << 30)).image if back is not None else None
    return doc, front_img, back_img


def _count(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def run(
    n: int,
    seed: int = 0,
    styles: tuple[str, ...] = ("margin",),
    passporteye: bool = True,
    hint: bool = True,
    n_invalid: int | None = None,
    layouts: tuple[str, ...] = ("reference",),
) -> dict[str, Any]:
    """n valid and n // 2 invalid documents per kind, style and tier; ours and PassportEye side by side."""
    read_mrz: Any = None
    if passporteye:
        try:
            from passporteye import read_mrz as pe_read
        except ImportError:  # the dev extra is not installed
            pe_read = None
        read_mrz = pe_read
    engine = default_engine()
    reader = DocumentReader(engine)
    portraits = document_portraits(engine)
    n_invalid = max(1, n // 2) if n_invalid is None else n_invalid
    out: dict[str, Any] = {
        "today": TODAY.isoformat(),
        "valid_per_tier": n,
        "invalid_per_tier": n_invalid,
        "hint": hint,
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "kinds": {},
    }
    for kind in KINDS:
        out["kinds"][kind] = {}
        for layout in layouts:
            for style in styles:
                cells = {
                    tier: _cell(reader, portraits, read_mrz, kind, style, layout, tier, seed, n, n_invalid, hint)
                    for tier in TIERS
                }
                if style == "margin" and styles == ("margin",) and layouts == ("reference",):
                    out["kinds"][kind].update(cells)  # the shape older runs printed
                    continue
                held_out = style == HELD_OUT_STYLE or layout == HELD_OUT_LAYOUT
                group = out["kinds"][kind].setdefault("held_out" if held_out else "tuned", {})
                group[f"{layout}/{style}"] = cells
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return out


def _cell(
    reader: DocumentReader,
    portraits: list[np.ndarray],
    read_mrz: Any,
    kind: str,
    style: str,
    layout: str,
    tier: str,
    seed: int,
    n: int,
    n_invalid: int,
    hint: bool,
) -> dict[str, Any]:
    stats = {"found": 0, "correct": 0, "pass": 0, "review": 0, "fail": 0}
    refusals: dict[str, int] = {}
    not_pass_reasons: dict[str, int] = {}
    wrong_fields: dict[str, int] = {}
    stages: dict[str, list[float]] = {}
    times: list[float] = []
    cpu: list[float] = []  # process CPU time (all threads): what the load of others cannot inflate
    pe = {"found": 0, "correct": 0, "valid_flag": 0}
    pe_times: list[float] = []
    pe_cpu: list[float] = []
    for i in range(n):
        doc, front, back = _sample(kind, tier, seed, i, portraits, None, style, layout)
        t, c = time.perf_counter(), _cpu()
        try:
            result = reader.read(front, back, HINTS[kind] if hint else None, TODAY)
        except DomainError as err:
            refusals[err.reason.value] = refusals.get(err.reason.value, 0) + 1
            result = None
        finally:
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((_cpu() - c) * 1000)
        if result is not None:
            stats["found"] += 1
            ok = ours_correct(doc, result)
            stats["correct"] += ok
            stats[result.verdict] += 1
            for k, v in result.timings_ms.items():
                stages.setdefault(k, []).append(v)
            if result.verdict != "pass":
                for code, _, where in result.reasons:
                    _count(not_pass_reasons, f"{code.value}@{where}")
            if not ok:
                for k in (*FIELDS, "birth_date", "expiry_date"):
                    want = doc.truth[k] if k in FIELDS else _iso(doc.truth[k], k == "birth_date")
                    if result.value(k) != want:
                        _count(wrong_fields, k)
        if read_mrz is not None:
            mrz_image = back if back is not None else front
            data = cv2.imencode(".png", mrz_image)[1].tobytes()
            t, c = time.perf_counter(), _cpu()
            m = read_mrz(io.BytesIO(data))
            pe_times.append((time.perf_counter() - t) * 1000)
            pe_cpu.append((_cpu() - c) * 1000)
            if m is not None:
                pe["found"] += 1
                pe["correct"] += passporteye_correct(doc, m)
                pe["valid_flag"] += bool(m.valid)
    accepted: dict[str, int] = {}
    outcomes: dict[str, dict[str, int]] = {}
    invalid_refused = 0
    for j in range(n_invalid):
        defect = INVALID_KINDS[j % len(INVALID_KINDS)]
        doc, front, back = _sample(kind, tier, seed, j, portraits, defect, style, layout)
        try:
            result = reader.read(front, back, HINTS[kind] if hint else None, TODAY)
        except DomainError as err:
            invalid_refused += 1
            _count(outcomes.setdefault(defect, {}), f"refused:{err.reason.value}")
            continue
        codes = sorted({c.value for c, _, _ in result.reasons})
        _count(outcomes.setdefault(defect, {}), f"{result.verdict}:{','.join(codes)}")
        if result.verdict == "pass":
            accepted[defect] = accepted.get(defect, 0) + 1
    entry: dict[str, Any] = {
        "valid_documents": n,
        "document_found_rate": round(stats["found"] / n, 4),
        "mrz_all_fields_correct_rate": round(stats["correct"] / n, 4),
        "verdicts_on_valid": {k: stats[k] for k in ("pass", "review", "fail")},
        "refused": refusals,
        "not_pass_reasons": not_pass_reasons,
        "wrong_fields": wrong_fields,
        "invalid_documents": n_invalid,
        "invalid_accepted": sum(accepted.values()),
        "invalid_accepted_by_defect": accepted,
        "invalid_refused_by_gate": invalid_refused,
        "invalid_outcomes": outcomes,
        "ms_per_document": _pct(times),
        "cpu_ms_per_document": _pct(cpu),
        "stage_ms_p50": {k: round(float(np.percentile(v, 50)), 1) for k, v in stages.items()},
    }
    if read_mrz is not None:
        entry["passporteye"] = {
            "found_rate": round(pe["found"] / n, 4),
            "mrz_all_fields_correct_rate": round(pe["correct"] / n, 4),
            "its_valid_flag_rate": round(pe["valid_flag"] / n, 4),
            "ms_per_document": _pct(pe_times),
            "cpu_ms_per_document": _pct(pe_cpu),
        }
    return entry


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--invalid", type=int, default=None, help="invalid documents per cell (default n // 2)")
    parser.add_argument("--styles", default="margin", help=f"comma-separated, of {(*STYLES, HELD_OUT_STYLE)}")
    parser.add_argument("--layouts", default="reference", help=f"comma-separated, of {ALL_LAYOUTS}")
    parser.add_argument("--no-passporteye", action="store_true")
    parser.add_argument("--no-hint", action="store_true")
    args = parser.parse_args()
    started = time.time()
    result = run(
        args.n,
        args.seed,
        tuple(args.styles.split(",")),
        passporteye=not args.no_passporteye,
        hint=not args.no_hint,
        n_invalid=args.invalid,
        layouts=tuple(args.layouts.split(",")),
    )
    result["seconds"] = round(time.time() - started, 1)
    print(json.dumps(result, indent=1, ensure_ascii=False))
