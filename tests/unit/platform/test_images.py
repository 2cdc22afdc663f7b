"""Uploaded bytes are decoded safely: limits are checked before pixels are allocated."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from services.core.errors import DomainError
from services.core.images import ImageLimits, decode_image
from tests import images
from tests.conftest import FACES

OBAMA = FACES / "barack_obama" / "facerec_obama.jpg"


def _refusal(data: bytes, limits: ImageLimits = ImageLimits()) -> DomainError:  # noqa: B008 - frozen
    with pytest.raises(DomainError) as err:
        decode_image(data, limits, "probe.content")
    assert [v.field for v in err.value.violations] == ["probe.content"]
    return err.value


def _reason(data: bytes, limits: ImageLimits = ImageLimits()) -> str:  # noqa: B008 - frozen
    return _refusal(data, limits).reason.value


def _encoded(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def test_real_photo_decodes_to_bgr() -> None:
    data = OBAMA.read_bytes()
    img = decode_image(data)
    reference = np.asarray(Image.open(OBAMA).convert("RGB"))
    assert img.bgr.dtype == np.uint8 and img.bgr.shape == (*reference.shape[:2], 3)
    assert img.media_type == "image/jpeg" and img.encoded_size == len(data)
    assert np.array_equal(img.bgr[:, :, ::-1], reference)  # channels really are B, G, R


def test_png_and_webp_are_accepted() -> None:
    face = Image.open(OBAMA).convert("RGB")
    for fmt, media_type in (("PNG", "image/png"), ("WEBP", "image/webp")):
        assert decode_image(_encoded(face, fmt)).media_type == media_type


def test_decompression_bomb_of_20000_px_is_refused_from_its_header() -> None:
    started = time.perf_counter()
    bomb = images.png_bomb(20000)
    assert len(bomb) < 200_000  # cheap to send: the harm is in the declared 1.2 GB canvas
    error = _refusal(bomb)
    assert error.reason.value == "IMAGE_TOO_LARGE_PIXELS"
    assert time.perf_counter() - started < 10  # generous: it must not have decoded 400 Mpx


def test_canvas_within_the_side_limit_but_over_the_pixel_limit() -> None:
    error = _refusal(images.png_bomb(7000))
    assert error.reason.value == "IMAGE_TOO_LARGE_PIXELS"
    assert "49,000,000 pixels" in str(error)  # says what was wrong and the limit


def test_pillows_own_bomb_guard_still_holds_when_operator_limits_are_lax() -> None:
    lax = ImageLimits(max_bytes=1 << 30, max_side=1 << 20, max_pixels=1 << 40)
    assert _reason(images.png_bomb(20000), lax) == "IMAGE_TOO_LARGE_PIXELS"


def test_truncated_jpeg_and_png() -> None:
    assert _reason(images.truncated_jpeg(OBAMA.read_bytes())) == "IMAGE_TRUNCATED"
    png = _encoded(Image.open(OBAMA).convert("RGB"), "PNG")
    assert _reason(png[: len(png) // 2]) == "IMAGE_TRUNCATED"


def test_oversized_noise_is_refused_by_size() -> None:
    error = _refusal(images.noise(50 * 1024 * 1024))
    assert error.reason.value == "IMAGE_TOO_LARGE_BYTES"
    assert "52,428,800 bytes" in str(error)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused_as_unsupported(fmt: str) -> None:
    data = _encoded(Image.new("RGB", (64, 64), (10, 200, 30)), fmt)
    error = _refusal(data)
    assert error.reason.value == "IMAGE_FORMAT_UNSUPPORTED"
    assert fmt in str(error) and "JPEG, PNG or WebP" in str(error)


def test_empty_noise_and_tiny_inputs() -> None:
    assert _reason(b"") == "IMAGE_EMPTY"
    assert _reason(images.noise(1000)) == "IMAGE_CORRUPT"
    assert _reason(b"\xff\xd8\xff" + images.noise(1000)) in {"IMAGE_CORRUPT", "IMAGE_TRUNCATED"}
    assert _reason(images.jpeg(16, 16)) == "IMAGE_TOO_SMALL"
    assert decode_image(images.jpeg(32, 32)).width == 32  # the minimum itself is fine


def test_exif_orientation_is_applied() -> None:
    # Stored 80x40 with red on the left and blue on the right; orientation 6 means
    # "rotate 90° clockwise to display", so the upright picture is 40x80, red on top.
    arr = np.zeros((40, 80, 3), dtype=np.uint8)
    arr[:, :40] = (255, 0, 0)
    arr[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_encoded(Image.fromarray(arr), "JPEG", exif=exif, quality=95))
    assert (decoded.height, decoded.width) == (80, 40)
    top, bottom = decoded.bgr[10, 20], decoded.bgr[70, 20]
    assert top[2] > 200 and top[0] < 60  # red (BGR)
    assert bottom[0] > 200 and bottom[2] < 60  # blue


WOZNIAK = FACES / "steve_wozniak" / "facerecpr1285_steve_wozniak1.jpg"  # 4098x2735, 2.5 MB


def test_a_large_jpeg_decodes_at_reduced_size_when_asked_and_looks_the_same() -> None:
    data = WOZNIAK.read_bytes()
    full = decode_image(data, reduce_to=1024)
    assert full.scale == pytest.approx(1025 / 4098)
    assert full.bgr.shape[:2] == (684, 1025)  # ceil(2735 / 4), ceil(4098 / 4)
    whole = decode_image(data)
    assert whole.scale == 1.0 and whole.at_full_size() is whole
    again = full.at_full_size()
    assert again.scale == 1.0 and again.bgr.shape == whole.bgr.shape
    assert np.array_equal(again.bgr, whole.bgr)
    # The DCT-reduced picture is the full one seen smaller (INTER_AREA is an average too).
    import cv2

    shrunk = cv2.resize(whole.bgr, (1025, 684), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert float(np.abs(full.bgr.astype(np.float32) - shrunk).mean()) < 3.0
    # Never reduced below `reduce_to`, and small pictures or other formats not at all.
    assert decode_image(data, reduce_to=1500).bgr.shape[:2] == (1368, 2049)
    assert decode_image(OBAMA.read_bytes(), reduce_to=1024).scale == 1.0  # 910x1137
    png = _encoded(Image.fromarray(np.zeros((600, 2400, 3), np.uint8)), "PNG")
    assert decode_image(png, reduce_to=600).scale == 1.0


def test_a_reduced_decode_keeps_every_check_and_the_exif_orientation() -> None:
    arr = np.zeros((400, 800, 3), dtype=np.uint8)
    arr[:, :400] = (255, 0, 0)
    arr[:, 400:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_encoded(Image.fromarray(arr), "JPEG", exif=exif, quality=95), reduce_to=200)
    assert decoded.scale == 0.25 and (decoded.height, decoded.width) == (200, 100)
    top, bottom = decoded.bgr[20, 50], decoded.bgr[180, 50]
    assert top[2] > 200 and top[0] < 60 and bottom[0] > 200 and bottom[2] < 60
    # Limits apply to the uploaded size, not the decoded one.
    big = _encoded(Image.fromarray(np.zeros((300, 3000, 3), np.uint8)), "JPEG")
    assert _reason(big, ImageLimits(max_side=2000)) == "IMAGE_TOO_LARGE_PIXELS"
    with pytest.raises(DomainError):
        decode_image(big, ImageLimits(max_side=2000), reduce_to=500)
