"""YuNet on onnxruntime (services/vision/yunet.py) gives what OpenCV's FaceDetectorYN gives
for the same shipped model: same faces, boxes, landmarks and scores, on real photos of
every size class in the shared face set, and nothing on an image without a face."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from services.core.images import ImageLimits, decode_image
from services.vision.faces import DETECT_MAX_SIDE, YUNET_FILE, model_path
from services.vision.yunet import FIXED_SHAPES, YuNet
from tests.conftest import FACES

LIMITS = ImageLimits(max_side=10000, max_pixels=60_000_000, max_bytes=50 << 20)


def _images() -> list[tuple[str, np.ndarray]]:
    out = []
    for row in csv.DictReader(open(FACES / "images.csv")):
        bgr = decode_image((FACES / row["path"]).read_bytes(), LIMITS).bgr
        h, w = bgr.shape[:2]
        s = min(1.0, DETECT_MAX_SIDE / max(h, w))
        if s < 1.0:
            bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        out.append((row["path"], bgr))
    return out


@pytest.fixture(scope="module")
def detectors() -> tuple[YuNet, cv2.FaceDetectorYN]:
    path = model_path(YUNET_FILE)
    return YuNet(path, 0.6, 0.3, 50), cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.6, 0.3, 50)


def test_same_faces_as_opencv_on_the_shared_photos(detectors: tuple[YuNet, cv2.FaceDetectorYN]) -> None:
    ours, opencv = detectors
    images = _images()
    sizes = {bgr.shape[:2] for _, bgr in images}
    assert len(sizes) > 5  # odd sizes (not multiples of 32) included
    compared = 0
    for path, bgr in images:
        opencv.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, theirs = opencv.detect(bgr)
        theirs = np.zeros((0, 15), np.float32) if theirs is None else theirs
        mine = ours.detect(bgr)
        assert len(mine) == len(theirs), path
        order_a, order_b = np.argsort(-mine[:, 14]), np.argsort(-theirs[:, 14])
        np.testing.assert_allclose(mine[order_a, :14], theirs[order_b, :14], atol=0.5, err_msg=path)
        np.testing.assert_allclose(mine[order_a, 14], theirs[order_b, 14], atol=2e-3, err_msg=path)
        compared += len(mine)
    assert compared >= len(images)  # every photo has at least its face


def test_no_face_in_a_plain_or_noisy_picture(detectors: tuple[YuNet, cv2.FaceDetectorYN]) -> None:
    ours, _ = detectors
    assert ours.detect(np.full((240, 333, 3), 128, np.uint8)).shape == (0, 15)
    noise = np.random.default_rng(0).integers(0, 256, (97, 61, 3), dtype=np.uint8)
    assert ours.detect(noise).shape == (0, 15)


def test_the_documented_alignment_is_the_one_used() -> None:
    # insightface's norm_crop; its import once failed silently for want of `requests`, and
    # OpenCV's robust estimate took its place unnoticed.
    from services.vision.faces import _ARCFACE_DST, _norm_crop, align_crop

    assert _norm_crop() is not None
    # Landmarks already on the template come out where the template says.
    image = np.zeros((200, 200, 3), np.uint8)
    for x, y in _ARCFACE_DST + 40:
        cv2.circle(image, (round(x), round(y)), 2, (255, 255, 255), -1)
    crop = align_crop(image, _ARCFACE_DST + 40)
    ys, xs = np.nonzero(crop[:, :, 0] > 128)
    assert abs(xs.mean() - _ARCFACE_DST[:, 0].mean()) < 1.0 and abs(ys.mean() - _ARCFACE_DST[:, 1].mean()) < 1.0


def test_fixed_shape_graphs_find_what_the_any_size_graph_finds(
    detectors: tuple[YuNet, cv2.FaceDetectorYN],
) -> None:
    ours, _ = detectors
    fixed = dict(ours._fixed)
    assert set(fixed) == set(FIXED_SHAPES)
    for (_, bgr), (h, w) in zip(_images()[:12], FIXED_SHAPES * 4, strict=False):
        frame = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        with_fixed = ours.detect(frame)
        ours._fixed = {}
        try:
            any_size = ours.detect(frame)
        finally:
            ours._fixed = fixed
        assert len(with_fixed) == len(any_size) >= 1
        np.testing.assert_allclose(with_fixed, any_size, atol=1e-3)
