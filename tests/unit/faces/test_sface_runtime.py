"""SFace on OpenVINO (services/vision/sface.py) gives the embeddings OpenCV's
FaceRecognizerSF gives for the same shipped model, on the aligned faces of the shared
photos; and threads calling it at once each get their own face's embedding."""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import onnx
import pytest

from services.core.images import ImageLimits, decode_image
from services.vision.faces import SFACE_FILE, YuNetSFaceEngine, model_path
from services.vision.sface import SFace
from tests.conftest import FACES

LIMITS = ImageLimits(max_side=10000, max_pixels=60_000_000, max_bytes=50 << 20)


def _opencv_recogniser() -> cv2.FaceRecognizerSF:
    """OpenCV's own SFace on the shipped int8 graph; only the unused graph inputs that
    OpenCV 5 refuses are dropped (no folding: that is what is under test)."""
    model = onnx.load(str(model_path(SFACE_FILE)))
    used = {name for node in model.graph.node for name in node.input}
    keep = [i for i in model.graph.input if i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    graph = np.frombuffer(model.SerializeToString(), np.uint8)
    return cv2.FaceRecognizerSF.create("onnx", graph, np.array([], np.uint8))


@pytest.fixture(scope="module")
def aligned() -> list[tuple[str, np.ndarray]]:
    engine = YuNetSFaceEngine()
    out = []
    for row in csv.DictReader(open(FACES / "images.csv")):
        bgr = decode_image((FACES / row["path"]).read_bytes(), LIMITS).bgr
        faces = engine.detect(bgr)
        if faces:
            out.append((row["path"], engine.align(bgr, faces[0])))
    return out


def test_same_embeddings_as_opencv(aligned: list[tuple[str, np.ndarray]]) -> None:
    ours, opencv = SFace(model_path(SFACE_FILE)), _opencv_recogniser()
    assert len(aligned) >= 75  # the shared set: 79 photos with a face
    worst = 1.0
    for path, crop in aligned:
        mine = ours.embed(crop)
        theirs = opencv.feature(crop).reshape(-1).astype(np.float32)
        theirs /= np.linalg.norm(theirs)
        assert mine.shape == (128,) and mine.dtype == np.float32, path
        assert abs(float(np.linalg.norm(mine)) - 1.0) < 1e-5, path
        worst = min(worst, float(np.dot(mine, theirs)))
    assert worst > 0.99999


def test_threads_at_once_get_their_own_faces(aligned: list[tuple[str, np.ndarray]]) -> None:
    sface = SFace(model_path(SFACE_FILE))
    crops = [crop for _, crop in aligned[:24]]
    alone = [sface.embed(c) for c in crops]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(sface.embed, crops * 3))
    for i, vector in enumerate(together):
        np.testing.assert_allclose(vector, alone[i % len(crops)], atol=1e-5)
    # different faces really differ, so a mix-up between threads would show
    assert float(np.dot(alone[0], alone[-1])) < 0.9
