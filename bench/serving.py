"""Throughput, latency and CPU per call of MatchFace and SubmitDocument; prints JSON.

    python -m bench.serving [--workers 1,2] [--calls 120] [--concurrency 6] [--stages]
                            [--rpcs MatchFace,MatchFace_vs_portrait,SubmitDocument]

For each worker count (SELLERVERIFY_WORKERS) a real `sellerverify serve` process tree
is started on SQLite (campaign engine off: its Temporal server is not part of the path),
warmed, then for each RPC:

- alone: calls one at a time: p50/p90/p99;
- loaded: `--concurrency` clients in flight: calls/s, p50/p90/p99, statuses;
- CPU ms per call: user+system CPU of the server's processes (the parent and its worker
  processes, from /proc) over the loaded run, divided by the calls: the figure that does
  not depend on what else the host runs (the 2 cores are shared: `uptime` load is
  printed beside every timing).

MatchFace sends two images (a selfie and a reference photo of the same person, from
data/faces, one subject per person so that the subject's history stays that of a real
seller) with 1:N duplicate search and enrolment on; `MatchFace_vs_portrait` sends the
selfie only, against the ID portrait SubmitDocument stored. `--stages` also starts the
server under bench.stage_probe and reports CPU ms per call for each stage (decode,
detect, align, embed, database, 1:N search, sealing, trust refresh, gRPC and the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bench.serverproc import ServerProcess
from tests.conftest import FACES, TOKENS

CLK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def server_pids(root: int) -> list[int]:
    """The server process and its Python child processes (a supervisor's workers; a
    worker's own children are not counted: a fork on its way to exec a helper binary
    still shows Python's executable for a moment)."""
    pids = [root]
    for child in sorted(_children(root)):
        try:
            exe = os.readlink(f"/proc/{child}/exe")
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if "python" in exe and b"serve" in cmdline:
            pids.append(child)
    return pids


def tree_cpu_s(root: int) -> float:
    return sum(_proc_cpu_s(p) for p in server_pids(root))


def pct_ms(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else 0.0


def run_calls(calls: list[Callable[[], Any]], concurrency: int) -> tuple[list[float], float, dict[str, int]]:
    lat: list[float] = []
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    it = iter(calls)

    def worker() -> None:
        while True:
            with lock:
                fn = next(it, None)
            if fn is None:
                return
            t = time.perf_counter()
            try:
                fn()
                code = "OK"
            except Exception as exc:  # noqa: BLE001 - counted by kind
                status = getattr(exc, "code", None)
                status = status() if callable(status) else status
                code = getattr(status, "name", type(exc).__name__)
            with lock:
                lat.append(time.perf_counter() - t)
                codes[code] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, time.perf_counter() - started, dict(codes)


def _people() -> list[tuple[bytes, bytes]]:
    """(selfie, reference) JPEG pairs: two photos of each person of data/faces."""
    pairs = []
    for person in sorted(p for p in FACES.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jp*g"))
        if len(photos) >= 2:
            pairs.append((photos[1].read_bytes(), photos[0].read_bytes()))
    return pairs


def _documents(n: int) -> list[tuple[bytes, bytes]]:
    """`n` CN ID cards (front, back) rendered around portraits of data/faces."""
    import cv2

    from services.vision.faces import default_engine
    from tests import attackgen
    from tests.docgen.capture import capture
    from tests.docgen.cn_id_card import random_card, render_back, render_front
    from tests.portraits import id_portrait

    rng = random.Random(3)
    photo = cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg"))
    portrait = id_portrait(photo, default_engine())
    out = []
    for i in range(n):
        card = random_card(rng, date.today(), portrait)
        out.append(
            (
                attackgen.jpeg(capture(render_front(card, rng), "clean", i).image),
                attackgen.jpeg(capture(render_back(card, rng), "clean", i + 1).image),
            )
        )
    return out


def _load() -> float:
    return round(os.getloadavg()[0], 2)


class Bench:
    def __init__(self, server: ServerProcess, calls: int, concurrency: int) -> None:
        from sellerverify import Client

        self.server = server
        self.calls = calls
        self.concurrency = concurrency
        self.client = Client(server.address, token=TOKENS["onboarding"], retries=0, timeout=120)
        self._local = threading.local()
        self._metadata = [("authorization", f"Bearer {TOKENS['onboarding']}")]

    def stub(self) -> Any:
        """This thread's own connection: worker processes share the port by connection
        (SO_REUSEPORT), so one channel for every client thread would reach one worker."""
        stub = getattr(self._local, "stub", None)
        if stub is None:
            import grpc
            from sellerverify.v1 import identity_pb2_grpc

            channel = grpc.insecure_channel(
                self.server.address,
                [
                    ("grpc.use_local_subchannel_pool", 1),
                    ("grpc.max_send_message_length", 64 << 20),
                    ("grpc.max_receive_message_length", 64 << 20),
                ],
            )
            stub = self._local.stub = identity_pb2_grpc.IdentityServiceStub(channel)
        return stub

    def subject(self) -> str:
        from sellerverify.v1 import identity_pb2

        req = identity_pb2.CreateSubjectRequest(external_ref=f"bench-{uuid.uuid4().hex[:10]}")
        return str(self.client.identity.CreateSubject(req).subject.subject_id)

    def match(self, sid: str, probe: bytes, reference: bytes | None) -> Callable[[], Any]:
        from sellerverify.v1 import common_pb2, identity_pb2

        req = identity_pb2.MatchFaceRequest(subject_id=sid, probe=common_pb2.Image(content=probe))
        if reference is not None:
            req.reference.CopyFrom(common_pb2.Image(content=reference))

        def call() -> Any:
            r = identity_pb2.MatchFaceRequest()
            r.CopyFrom(req)
            r.request_id = str(uuid.uuid4())
            return self.stub().MatchFace(r, timeout=120, metadata=self._metadata)

        return call

    def submit(self, sid: str, front: bytes, back: bytes) -> Callable[[], Any]:
        from sellerverify.v1 import common_pb2, identity_pb2

        def call() -> Any:
            return self.stub().SubmitDocument(
                identity_pb2.SubmitDocumentRequest(
                    subject_id=sid,
                    front=common_pb2.Image(content=front),
                    back=common_pb2.Image(content=back),
                    request_id=str(uuid.uuid4()),
                ),
                timeout=120,
                metadata=self._metadata,
            )

        return call

    def measure(self, name: str, make: Callable[[int], Callable[[], Any]], n: int) -> dict[str, Any]:
        pid = self.server.proc.pid  # type: ignore[union-attr]
        alone, _, codes_alone = run_calls([make(i) for i in range(max(8, n // 3))], 1)
        load_alone = _load()
        pids = server_pids(pid)
        per0 = {p: _proc_cpu_s(p) for p in pids}
        cpu0 = tree_cpu_s(pid)
        loaded, wall, codes = run_calls([make(i) for i in range(n)], self.concurrency)
        cpu = tree_cpu_s(pid) - cpu0
        per_process = [round(_proc_cpu_s(p) - per0[p], 2) for p in pids]
        return {
            "calls_alone": len(alone),
            "p50_ms_alone": pct_ms(alone, 0.5),
            "p90_ms_alone": pct_ms(alone, 0.9),
            "p99_ms_alone": pct_ms(alone, 0.99),
            "statuses_alone": codes_alone,
            "load_1m_alone": load_alone,
            "calls_loaded": len(loaded),
            "in_flight": self.concurrency,
            "calls_per_s": round(len(loaded) / wall, 2),
            "p50_ms": pct_ms(loaded, 0.5),
            "p90_ms": pct_ms(loaded, 0.9),
            "p99_ms": pct_ms(loaded, 0.99),
            "statuses": codes,
            "server_cpu_ms_per_call": round(1000 * cpu / max(len(loaded), 1), 1),
            "cpu_bound_calls_per_s_on_2_cores": round(2 * len(loaded) / cpu, 1) if cpu else None,
            "server_cpu_s_by_process": per_process,
            "load_1m": _load(),
        }

    def stages(self, make: Callable[[int], Callable[[], Any]], n: int, stage_file: Path) -> dict[str, Any]:
        """CPU ms per call by stage, calls one at a time (needs bench.stage_probe)."""
        pid = self.server.proc.pid  # type: ignore[union-attr]

        def dump() -> dict[str, Any]:
            stage_file.unlink(missing_ok=True)
            os.kill(pid, signal.SIGUSR1)
            for _ in range(500):
                if stage_file.exists():
                    return dict(json.loads(stage_file.read_text()))
                time.sleep(0.01)
            raise RuntimeError("the stage probe did not answer")

        calls = [make(i) for i in range(n)]
        dump()
        cpu0 = tree_cpu_s(pid)
        _, _, codes = run_calls(calls, 1)
        cpu = tree_cpu_s(pid) - cpu0
        data = dump()
        per_call = {k: round(1000 * v / n, 2) for k, v in sorted(data["cpu_s"].items(), key=lambda kv: -kv[1])}
        metered = sum(data["cpu_s"].values())
        per_call["grpc_proto_loop_and_rest"] = round(1000 * (cpu - metered) / n, 2)
        return {
            "calls": n,
            "statuses": codes,
            "server_cpu_ms_per_call": round(1000 * cpu / n, 1),
            "cpu_ms_per_call_by_stage": per_call,
            "load_1m": _load(),
        }


def run_one(workers: int, args: argparse.Namespace, tmp: Path, data: dict[str, Any]) -> dict[str, Any]:
    env = {"SELLERVERIFY_REVERIFY_ENGINE": "off", "SELLERVERIFY_CONSOLE_ENABLED": "false"}
    if workers > 1:
        env["SELLERVERIFY_WORKERS"] = str(workers)
    stage_file = tmp / f"stages-{workers}.json"
    stages = args.stages and workers == 1  # the probe meters one process: the lone server
    if stages:
        env["SV_STAGE_FILE"] = str(stage_file)
    server = ServerProcess(tmp / f"w{workers}", launcher=["-m", "bench.stage_probe"] if stages else None, **env)
    server.data_dir.mkdir()
    started = server.start()
    out: dict[str, Any] = {"workers": workers, "start_s": round(started, 2)}
    try:
        bench = Bench(server, args.calls, args.concurrency)
        people = data["people"]
        rpcs = args.rpcs.split(",")
        person_subjects = [bench.subject() for _ in people]
        doc_subjects = [bench.subject() for _ in range(8)]
        docs = data["docs"]
        # Warm every path (models load on first use; the portrait subjects get their card).
        bench.match(person_subjects[0], *people[0])()
        for i, sid in enumerate(doc_subjects):
            bench.submit(sid, *docs[i % len(docs)])()
        bench.match(doc_subjects[0], people[0][0], None)()
        makers: dict[str, tuple[Callable[[int], Callable[[], Any]], int]] = {
            "MatchFace": (
                lambda i: bench.match(person_subjects[i % len(people)], *people[i % len(people)]),
                args.calls,
            ),
            "MatchFace_vs_portrait": (
                lambda i: bench.match(doc_subjects[i % len(doc_subjects)], people[0][0], None),
                args.calls,
            ),
            "SubmitDocument": (
                lambda i: bench.submit(doc_subjects[i % len(doc_subjects)], *docs[i % len(docs)]),
                max(12, args.calls // 4),
            ),
        }
        for name in rpcs:
            make, n = makers[name]
            out[name] = bench.measure(name, make, n)
            if stages:
                out[name]["stages_one_at_a_time"] = bench.stages(make, max(12, n // 2), stage_file)
        out["server_peak_rss_mb"] = round(sum(_rss_peak_mb(p) for p in server_pids(server.proc.pid)), 1)  # type: ignore[union-attr]
        bench.client.close()
    finally:
        server.stop()
    return out


def _rss_peak_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1", help="comma-separated worker-process counts to measure, e.g. 1,2")
    ap.add_argument("--calls", type=int, default=120, help="MatchFace calls per loaded run (SubmitDocument: a quarter)")
    ap.add_argument("--concurrency", type=int, default=6, help="client threads, each on its own connection")
    ap.add_argument(
        "--stages", action="store_true", help="also CPU ms per stage, 1 worker only (server under bench.stage_probe)"
    )
    ap.add_argument("--rpcs", default="MatchFace,MatchFace_vs_portrait,SubmitDocument")
    args = ap.parse_args()
    out: dict[str, Any] = {
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    data = {"people": _people(), "docs": _documents(4)}
    with tempfile.TemporaryDirectory(prefix="sv-serving-") as tmp:
        out["runs"] = [run_one(int(w), args, Path(tmp), data) for w in args.workers.split(",")]
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["note"] = "server_cpu_ms_per_call is the load-independent figure; latencies depend on the host's load"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
