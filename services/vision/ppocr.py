"""PP-OCRv4 Chinese text-line recogniser, run by OpenVINO's CPU runtime.

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
- the dictionary is in the model's metadata_props under `character`, one per line
  (OpenVINO exposes it as the model's rt_info `framework/character`).

Run by OpenVINO (services/vision/openvino_cpu.py, already the face models' runtime) rather
than onnxruntime: measured 2026-12-04 on one thread, the same outputs (largest difference
1e-5 in a probability) at 7.5 against 11.9 ms for a 240 px wide line and 14 against 32 ms
at 480 px; a width never seen before costs OpenVINO some 10 ms more once (its kernels are
prepared per shape and kept), still below onnxruntime's time for it.
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

    Loads once (see `shared()`); `recognise` is safe to call from several threads (each
    thread has its own inference request; inferences take turns, see `_infer`)."""

    def __init__(self, path: Path) -> None:
        from services.vision import openvino_cpu

        model = openvino_cpu.read(path.read_bytes())
        self.info = ModelInfo(engine="ppocr", model=path.stem, version=_file_version(path))
        try:
            dictionary = model.get_rt_info(["framework", "character"]).astype(str)
        except RuntimeError as err:
            raise ValueError(f"{path} carries no `character` dictionary in its metadata") from err
        # CTC blank first, the dictionary, then the space PP-OCR appends.
        self._chars = ["", *dictionary.split("\n"), " "]
        classes = model.outputs[0].get_partial_shape()[-1]
        if classes.is_static and classes.get_length() != len(self._chars):
            raise ValueError(f"{path}: {classes} output classes but {len(self._chars)} dictionary entries")
        # Any width: as with YuNet's any-size model, inferences of a dynamic-shape model
        # from two threads at once are not risked (one deadlocked OpenVINO under load).
        self._compiled = openvino_cpu.CompiledCpu(model, one_at_a_time=True)
        self._lock = threading.Lock()
        self._masks: dict[str, np.ndarray] = {}

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """N x T x classes probabilities for an N x 3 x 48 x W input (a copy: the request's
        output buffer is reused by the thread's next inference)."""
        return np.array(self._compiled.infer(x)[self._compiled.outputs[0]])

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
