"""Prepared face models are kept under the data folder between runs: a second start
reads them back (without importing `onnx` to fold the weights), finds the same faces
and computes the same embeddings, and every kept file is owner-only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FACES

ROOT = Path(__file__).resolve().parents[3]
PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"

_RUN = """
import json, sys, cv2
from pathlib import Path
from services.vision import openvino_cpu
openvino_cpu.set_cache_dir(Path(sys.argv[1]))
from services.vision.faces import YuNetSFaceEngine
engine = YuNetSFaceEngine()
onnx_at_load = "onnx" in sys.modules  # (the alignment imports insightface, and it onnx, later)
image = cv2.imread(sys.argv[2])
face = engine.detect(image)[0]
vector = engine.embed(engine.align(image, face))
print(json.dumps({"box": list(face.box), "vector": vector.tolist(), "onnx_imported": onnx_at_load}))
"""


def _run(cache: Path) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(cache), str(PHOTO)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_restart_reads_the_prepared_models_back_with_the_same_results(tmp_path: Path) -> None:
    cache = tmp_path / "model-cache"
    first, second = _run(cache), _run(cache)
    assert first["onnx_imported"] and not second["onnx_imported"]
    assert second["box"] == first["box"]
    assert max(abs(a - b) for a, b in zip(first["vector"], second["vector"], strict=True)) < 1e-6
    kept = [p for p in cache.iterdir() if p.is_file()]
    assert len([p for p in kept if p.name.startswith("graph-")]) == 2
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept), [(p.name, oct(p.stat().st_mode)) for p in kept]
    assert cache.stat().st_mode & 0o777 == 0o700
