"""Fuzz the image gate (header checks + OpenCV decode) in a child process; prints JSON.

    python -m bench.fuzz_images [--seconds 120] [--seed 1]

Mutations of tests/fuzz/corpus and of the face photos (byte edits concentrated in the
header, truncations, splices, chunk-length and dimension rewrites) go through
`decode_image`. Every outcome must be pixels of the declared size or a DomainError with
an image reason; anything else is counted as an escape (an INTERNAL on the wire). The
work runs in a child process so that a decoder crash (a signal) is seen and counted
rather than ending the run. Reports the child's peak RSS and the load average.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import time
from collections import Counter
from typing import Any


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        where = rng.randrange(min(len(b), 700)) if rng.random() < 0.7 else rng.randrange(len(b))
        b[where] = rng.randrange(256)
    roll = rng.random()
    if roll < 0.15:
        b = b[: rng.randrange(1, len(b))]
    elif roll < 0.25:
        at = rng.randrange(len(b))
        b[at:at] = os.urandom(rng.randrange(1, 64))
    elif roll < 0.35 and len(b) > 24:  # a plausible big dimension or chunk length
        at = rng.randrange(min(len(b) - 4, 400))
        b[at : at + 4] = rng.choice((0, 1, 0xFFFF, 0x7FFF, 8192, 65500, 0xFFFFFFFF)).to_bytes(4, "big")
    return bytes(b)


def _child(seconds: float, seed: int, out: Any) -> None:
    from services.core.errors import DomainError
    from services.core.images import ImageLimits, decode_image
    from tests.conftest import FACES
    from tests.fuzz.requests import corpus_images

    seeds = corpus_images() + [p.read_bytes() for p in sorted(FACES.glob("*/*.jpg"))[:10]]
    rng = random.Random(seed)
    limits = ImageLimits()
    outcomes: Counter[str] = Counter()
    escapes: list[str] = []
    slowest = 0.0
    ends = time.monotonic() + seconds
    n = 0
    while time.monotonic() < ends:
        data = _mutate(rng, rng.choice(seeds))
        started = time.perf_counter()
        try:
            img = decode_image(data, limits)
            ok = img.bgr.ndim == 3 and img.bgr.shape[2] == 3 and img.width * img.height <= limits.max_pixels
            outcomes["decoded" if ok else "escape:bad_array"] += 1
        except DomainError as err:
            outcomes[err.reason.name] += 1
        except Exception as exc:  # noqa: BLE001 - what the run is looking for
            outcomes["escape"] += 1
            if len(escapes) < 10:
                escapes.append(f"{type(exc).__name__}: {str(exc)[:120]}")
        slowest = max(slowest, time.perf_counter() - started)
        n += 1
    out.put(
        {
            "inputs": n,
            "outcomes": dict(outcomes.most_common()),
            "escapes": escapes,
            "slowest_ms": round(slowest * 1000, 1),
            "child_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(args.seconds, args.seed, q))
    load_start = [round(x, 2) for x in os.getloadavg()]
    proc.start()
    try:
        result: dict[str, Any] = q.get(timeout=args.seconds + 120)
    except Exception:  # noqa: BLE001 - the child died without reporting
        result = {"crashed": True}
    proc.join(timeout=30)
    result["child_exit_code"] = proc.exitcode
    result["load_avg_start"] = load_start
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
