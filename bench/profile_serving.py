"""Profile MatchFace and SubmitDocument end to end on a real server; prints one JSON object.

    python -m bench.profile_serving [--calls 40] [--concurrency 4] [--no-py-spy]

Starts `sellerverify serve`, warms the models, then for each RPC: latency alone
(sequential calls, p50/p90), throughput with `--concurrency` clients, and a py-spy
sample of the server during the sequential calls (collapsed stacks, all threads),
summarised as the share of samples under each of a few buckets: model work (OpenVINO /
onnxruntime / dlib / OCR), image decode, database, gRPC and the event loop, and the
rest. The host is shared: load averages are printed beside every timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.serverproc import ServerProcess
from bench.serving import pct_ms, run_calls
from tests.conftest import FACES, TOKENS

BUCKETS = [
    ("model:openvino", ("openvino",)),
    ("model:onnxruntime", ("onnxruntime",)),
    ("model:dlib", ("dlib", "second_opinion")),
    ("model:ocr", ("pytesseract", "ocr", "paddle")),
    ("image_decode", ("images.py", "PIL", "decode_image")),
    ("faiss_search", ("faiss", "template_index", "duplicates")),
    ("vision_other", ("services/vision", "cv2")),
    ("database", ("sqlalchemy", "sqlite3", "psycopg")),
    ("crypto", ("crypto.py", "cryptography")),
    ("grpc_and_loop", ("grpc", "asyncio", "selectors")),
]


def _bucket(stack: str) -> str:
    # The innermost recognisable frame decides.
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in BUCKETS:
            if any(n in frame for n in needles):
                return name
    return "other"


def _idle(stack: str) -> bool:
    last = stack.split(";")[-1]
    idle = ("wait (threading.py", "_worker (concurrent", "select (selectors", "poll", "_wait_for_tstate_lock")
    return any(s in last for s in idle)


def _summarise(raw: Path) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    top: Counter[str] = Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        k = int(n)
        if _idle(stack):
            continue
        busy += k
        counts[_bucket(stack)] += k
        top[stack.split(";")[-1][:140]] += k
    return {
        "busy_samples": busy,
        "share_by_bucket": {b: round(c / max(busy, 1), 3) for b, c in counts.most_common()},
        "top_leaf_frames": [[f, round(c / max(busy, 1), 3)] for f, c in top.most_common(12)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--no-py-spy", action="store_true")
    ap.add_argument("--overload", type=int, default=16, help="MatchFace clients in flight past the lane (0: skip)")
    args = ap.parse_args()

    import random
    from datetime import date

    import cv2
    from sellerverify import Client
    from sellerverify.v1 import common_pb2, identity_pb2

    from services.vision.faces import default_engine
    from tests import attackgen
    from tests.docgen.capture import capture
    from tests.docgen.cn_id_card import random_card, render_back, render_front
    from tests.portraits import id_portrait

    probe = (FACES / "barack_obama" / "facerec_obama2.jpg").read_bytes()
    reference = (FACES / "barack_obama" / "facerec_obama.jpg").read_bytes()
    rng = random.Random(3)
    photo = cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg"))
    card = random_card(rng, date.today(), id_portrait(photo, default_engine()))
    front = attackgen.jpeg(capture(render_front(card, rng), "clean", 1).image)
    back = attackgen.jpeg(capture(render_back(card, rng), "clean", 2).image)

    out: dict[str, Any] = {"load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="sv-prof-") as tmp:
        # Default admission lanes (2 running + 8 queued per model): the 4-in-flight runs
        # stay inside them, the overload run below goes past them on purpose.
        server = ServerProcess(Path(tmp))
        server.start()
        client = Client(server.address, token=TOKENS["onboarding"], retries=0, timeout=120)
        subjects = [
            client.identity.CreateSubject(
                identity_pb2.CreateSubjectRequest(external_ref=f"prof-{uuid.uuid4().hex[:8]}")
            ).subject.subject_id
            for _ in range(4)
        ]

        def match(sid: str) -> Any:
            return lambda: client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(
                    subject_id=sid, probe=common_pb2.Image(content=probe), reference=common_pb2.Image(content=reference)
                )
            )

        def submit(sid: str) -> Any:
            return lambda: client.identity.SubmitDocument(
                identity_pb2.SubmitDocumentRequest(
                    subject_id=sid, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
                )
            )

        def match_portrait(sid: str) -> Any:
            # The usual flow: the selfie against the ID portrait stored by SubmitDocument.
            return lambda: client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(subject_id=sid, probe=common_pb2.Image(content=probe))
            )

        for fn in (match(subjects[0]), submit(subjects[0]), match(subjects[0])):
            fn()  # warm: models load on first use
        for sid in subjects[1:]:
            submit(sid)()
        runs = (("MatchFace", match), ("MatchFace_vs_stored_portrait", match_portrait), ("SubmitDocument", submit))
        for name, make in runs:
            n = args.calls if name.startswith("MatchFace") else max(8, args.calls // 3)
            spy = None
            raw = Path(tmp) / f"{name}.txt"
            if not args.no_py_spy and shutil.which("py-spy"):
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "--pid",
                        str(server.proc.pid),
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--threads",
                        "--output",
                        str(raw),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)
            alone, _, codes_alone = run_calls([make(subjects[i % 4]) for i in range(n)], 1)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(timeout=30)
            load_alone = round(os.getloadavg()[0], 2)
            conc, wall, codes_conc = run_calls([make(subjects[i % 4]) for i in range(n * 2)], args.concurrency)
            out[name] = {
                "calls_alone": len(alone),
                "p50_ms_alone": pct_ms(alone, 0.5),
                "p90_ms_alone": pct_ms(alone, 0.9),
                "statuses_alone": codes_alone,
                "load_avg_1m_alone": load_alone,
                f"calls_at_{args.concurrency}_in_flight": len(conc),
                f"calls_per_s_at_{args.concurrency}": round(len(conc) / wall, 2),
                f"p50_ms_at_{args.concurrency}": pct_ms(conc, 0.5),
                f"p99_ms_at_{args.concurrency}": pct_ms(conc, 0.99),
                "statuses_concurrent": codes_conc,
                "load_avg_1m_concurrent": round(os.getloadavg()[0], 2),
                "profile": _summarise(raw) if raw.exists() else None,
            }
        if args.overload:
            # Past the lane: the calls beyond 2 running + 8 queued must be refused at once
            # with a retry hint, and the admitted ones must not slow down with the crowd.
            hints: list[float] = []
            ok_lat: list[float] = []

            def overloaded(sid: str) -> Any:
                def call() -> None:
                    started = time.perf_counter()
                    try:
                        match(sid)()
                        ok_lat.append(time.perf_counter() - started)
                    except Exception as exc:
                        hint = getattr(exc, "retry_after_s", None)
                        if hint is not None:
                            hints.append(hint)
                        raise

                return call

            n = args.overload * 4
            lat, wall, codes = run_calls([overloaded(subjects[i % 4]) for i in range(n)], args.overload)
            out[f"MatchFace_overload_{args.overload}_in_flight"] = {
                "calls": n,
                "statuses": codes,
                "calls_per_s_ok": round(codes.get("OK", 0) / wall, 2),
                "p50_ms_admitted": pct_ms(ok_lat, 0.5),
                "p99_ms_admitted": pct_ms(ok_lat, 0.99),
                "p50_ms_refused_and_admitted": pct_ms(lat, 0.5),
                "retry_hint_s_min_max": [round(min(hints), 3), round(max(hints), 3)] if hints else None,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        client.close()
        out["server_peak_rss_mb"] = round(server.rss_mb(peak=True), 1)
        server.stop()
    out["note"] = "shared 2-core host (4 other engineers): every timing is contended"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
