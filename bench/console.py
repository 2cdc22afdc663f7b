"""Review console speed with many open cases, on the embedded server; prints JSON.

    PYTHONPATH=clients:. python -m bench.console [--cases 10000] [--runs 100] [--database-url URL]

Targets (issue 14): the case view fully rendered <= 300 ms p95 with 10k open cases;
the queue page <= 200 ms p95.

The data set: a handful of real subjects made through the gRPC API (an ID card read by
SubmitDocument, a selfie attached with AttachEvidence so every case view shows the ID
portrait, the selfie and both document sides), then the 10k open cases created in bulk
through the domain layer (`services.trust.cases.open_case`, 1,000 per transaction) in
this one process: the same rows, events and queue rows the RPCs write, without 10k
round trips. The embedded server is a gRPC server over SQLite (or `--database-url`)
with the console on an ephemeral port, both in this process, as `sellerverify serve`.

Measured:
- `queue`: GET /queue (open cases, oldest first, 50 per page) as a signed-in rep, and
  the same with filters (kind, unclaimed, hide snoozed).
- `case_http`: GET /cases/<id> and then every image it shows, one after the other
  (an upper bound: a browser fetches the images in parallel).
- `case_browser`: Chromium (Debian's, headless) navigating to a case page until the
  `load` event: HTML, CSS, JS and every image decoded. This is "fully rendered"
  (wall time around Playwright's goto; `navigation_timing` is the browser's own
  startTime -> loadEventStart; `floor_healthz_navigation` is the same browser loading a
  tiny JSON page, i.e. what the browser and the machine cost before the console does
  anything).
The machine is shared: `load` holds os.getloadavg() before and after each measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CASE_KINDS = ("face_match", "liveness", "duplicate", "document", "reverification", "video_call")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 1)


def _stats(ms: list[float]) -> dict[str, Any]:
    return {
        "count": len(ms),
        "p50_ms": _pct(ms, 50),
        "p95_ms": _pct(ms, 95),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--browser-runs", type=int, default=60)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    import requests
    from sellerverify.v1 import common_pb2, review_pb2

    from services.console.server import start_console
    from services.platform.auth import Caller, Role
    from services.platform.models import CaseEvidenceRow
    from services.server import ServerThread
    from services.trust.cases import open_case
    from tests.conftest import FACES, TOKENS, LiveServer, id_card_subjects, make_settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    url = args.database_url or f"sqlite:///{tmp / 'sv.db'}"
    out: dict[str, Any] = {"cases_open": 0, "database": url.split(":")[0], "targets": {}}
    with ServerThread(make_settings(tmp, url)) as thread:
        live = LiveServer(thread, out["database"])
        make = id_card_subjects(live, 7, "bench-console")
        selfie = (FACES / "barack_obama" / "facerec_obama2.jpg").read_bytes()
        t0 = time.perf_counter()
        subjects = [make() for _ in range(args.subjects)]
        evidence: dict[str, tuple[str, str]] = {}
        with live.client("cs_rep") as rep:
            for sid in subjects:
                case = rep.review.OpenCase(
                    review_pb2.OpenCaseRequest(subject_id=sid, kind=review_pb2.CASE_KIND_FACE_MATCH, note="bench")
                ).review_case
                attached = rep.review.AttachEvidence(
                    review_pb2.AttachEvidenceRequest(
                        case_id=case.case_id, label="selfie", images=[common_pb2.Image(content=selfie)]
                    )
                ).evidence[0]
                with thread.app.db.read() as session:
                    row = session.get(CaseEvidenceRow, attached.evidence_id)
                    assert row is not None and row.blob_id
                    evidence[sid] = (row.blob_id, row.media_type)
        out["setup_api_seconds"] = round(time.perf_counter() - t0, 1)

        t0 = time.perf_counter()
        system = Caller("bench-loader", Role.ADMIN)
        rng = random.Random(14)
        remaining = args.cases - len(subjects)
        while remaining > 0:
            batch = min(1000, remaining)
            with thread.app.db.transaction() as session:
                for _ in range(batch):
                    sid = rng.choice(subjects)
                    blob_id, media = evidence[sid]
                    open_case(
                        session,
                        subject_id=sid,
                        kind=rng.choice(CASE_KINDS),
                        opened_by=system,
                        reasons=[{"code": "FACE_MATCH_UNCERTAIN", "message": "bench", "field": ""}],
                        checks=[
                            {
                                "name": "face_match",
                                "verdict": "review",
                                "score": 0.3,
                                "detail": "similarity 0.300, match at >= 0.318",
                                "reasons": [],
                            }
                        ],
                        evidence=[(blob_id, "selfie", media)],
                    )
            remaining -= batch
        out["setup_bulk_seconds"] = round(time.perf_counter() - t0, 1)
        with live.client("cs_rep") as rep:
            listing = rep.review.ListCases(review_pb2.ListCasesRequest(page=common_pb2.PageRequest(page_size=500)))
            open_ids = [c.case_id for c in listing.cases]
        with thread.app.db.read() as session:
            from sqlalchemy import func, select

            from services.platform.models import ReviewCaseRow

            out["cases_open"] = int(session.scalar(select(func.count()).where(ReviewCaseRow.state == "open")) or 0)

        console = start_console(f"127.0.0.1:{thread.port}", port=0)
        try:
            http = requests.Session()
            page = http.get(f"{console.url}/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            http.post(f"{console.url}/login", data={"csrf": csrf.group(1), "token": TOKENS["cs_rep"], "next": "/queue"})

            def timed(fn: Any, n: int) -> list[float]:
                fn()  # warm
                ms = []
                for _ in range(n):
                    t = time.perf_counter()
                    fn()
                    ms.append((time.perf_counter() - t) * 1000)
                return ms

            def queue_default() -> None:
                r = http.get(f"{console.url}/queue")
                assert r.status_code == 200 and "data-case" in r.text

            def queue_filtered() -> None:
                r = http.get(f"{console.url}/queue?kind=face_match&assignee=unclaimed&hide_snoozed=1")
                assert r.status_code == 200

            load0 = _load()
            out["queue"] = {**_stats(timed(queue_default, args.runs)), "load_before_after": [load0, _load()]}
            load0 = _load()
            out["queue_filtered"] = {**_stats(timed(queue_filtered, args.runs)), "load_before_after": [load0, _load()]}

            picks = [rng.choice(open_ids) for _ in range(args.runs + 1)]
            images_per_page: list[int] = []

            def case_http() -> None:
                case_id = picks.pop()
                r = http.get(f"{console.url}/cases/{case_id}")
                assert r.status_code == 200, r.status_code
                srcs = re.findall(r'src="(/cases/[^"]+/images/[^"]+)"', r.text)
                images_per_page.append(len(srcs))
                for src in srcs:
                    img = http.get(f"{console.url}{src}")
                    assert img.status_code == 200

            load0 = _load()
            out["case_http"] = {
                **_stats(timed(case_http, args.runs)),
                "images_per_page": statistics.median(images_per_page),
                "load_before_after": [load0, _load()],
            }
            out["case_browser"] = _browser(console.url, TOKENS["cs_rep"], open_ids, rng, args.browser_runs)
        finally:
            console.stop()
    out["targets"] = {
        "case_view_p95_ms<=300": out["case_browser"].get("p95_ms", out["case_http"]["p95_ms"]) <= 300,
        "queue_p95_ms<=200": out["queue"]["p95_ms"] <= 200,
    }
    print(json.dumps(out, indent=2))


def _browser(base: str, token: str, case_ids: list[str], rng: random.Random, runs: int) -> dict[str, Any]:
    """Chromium navigating to case pages until `load` (every image decoded)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright not installed"}
    from tests.browser.chromium import ARGS, CHROMIUM

    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} not installed"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/login")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile("/queue"))
        page.goto(f"{base}/cases/{case_ids[0]}", wait_until="load")  # warm
        nav = (
            "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventStart - n.startTime; }"
        )
        # The floor: the browser loading the console's smallest page (same CSS and JS).
        floor = []
        for _ in range(max(10, runs // 3)):
            page.goto(f"{base}/static/waiting.svg", wait_until="load")
            t = time.perf_counter()
            page.goto(f"{base}/healthz", wait_until="load")
            floor.append((time.perf_counter() - t) * 1000)
        ms = []
        in_browser = []
        load0 = _load()
        for _ in range(runs):
            case_id = rng.choice(case_ids)
            t = time.perf_counter()
            page.goto(f"{base}/cases/{case_id}", wait_until="load")
            in_browser.append(float(page.evaluate(nav)))
            ok = page.evaluate("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            ms.append((time.perf_counter() - t) * 1000)
            assert ok, "an image did not render"
        images = page.evaluate("() => document.images.length")
        browser.close()
    return {
        **_stats(ms),
        "navigation_timing": _stats(in_browser),
        "floor_healthz_navigation": _stats(floor),
        "images_per_page": images,
        "load_before_after": [load0, _load()],
    }


if __name__ == "__main__":
    main()
