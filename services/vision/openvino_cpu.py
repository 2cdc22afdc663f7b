"""The bundled face models run on OpenVINO's CPU runtime (Apache-2.0, from PyPI).

Measured on 2 cores (docs/face-calibration.md): SFace 6 ms per face against OpenCV DNN's
10.6 and onnxruntime's 19; YuNet at 640x640 7.8 ms against onnxruntime's 8.8 (with the
float conversion and layout change done inside the compiled graph). One `ov.Core` serves
the process; a compiled model is shared by all threads, each thread gets its own
inference request (requests are not thread-safe).

Precision is pinned to fp32: on CPUs with AMX or AVX-512 BF16 OpenVINO would otherwise
compute in bfloat16, and the same picture would give slightly different scores on
different hardware than the calibration measured.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

THREADS = 2


@cache
def _core() -> Any:
    import openvino as ov

    return ov.Core()


def read(onnx_bytes: bytes) -> Any:
    """An ov.Model from an ONNX graph held in memory."""
    return _core().read_model(onnx_bytes)


class CompiledCpu:
    """A model compiled for the CPU, for low latency, with a request per calling thread."""

    def __init__(self, model: Any) -> None:
        self._compiled = _core().compile_model(
            model,
            "CPU",
            {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": THREADS},
        )
        self.outputs = list(self._compiled.outputs)
        self._local = threading.local()

    def infer(self, tensor: Any) -> Any:
        """Outputs (indexable by `self.outputs[i]`) for the model's single input."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request.infer({0: tensor})
