from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.core.errors import DomainError
from services.core.images import ImageLimits, decode_image
from tests import images
from tests.conftest import FACES


def _reason(data: bytes, limits: ImageLimits = ImageLimits()) -> str:  # noqa: B008 - frozen
    with pytest.raises(DomainError) as err:
        decode_image(data, limits, "probe")
    assert err.value.violations[0].field == "probe"
    return err.value.reason.value


def test_real_photo_decodes_to_bgr() -> None:
    data = (FACES / "barack_obama" / "facerec_obama.jpg").read_bytes()
    img = decode_image(data)
    assert img.bgr.dtype == np.uint8 and img.bgr.shape[2] == 3 and img.media_type == "image/jpeg"


def test_decompression_bomb_is_refused_from_its_header() -> None:
    assert _reason(images.png_bomb(30000)) == "IMAGE_TOO_LARGE_PIXELS"


def test_truncated_jpeg() -> None:
    data = (FACES / "barack_obama" / "facerec_obama.jpg").read_bytes()
    assert _reason(images.truncated_jpeg(data)) == "IMAGE_TRUNCATED"


def test_oversized_noise_is_refused_by_size() -> None:
    assert _reason(images.noise(50 * 1024 * 1024)) == "IMAGE_TOO_LARGE_BYTES"


def test_formats_and_empty_input() -> None:
    assert _reason(b"") == "IMAGE_EMPTY"
    assert _reason(images.noise(1000)) == "IMAGE_CORRUPT"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="GIF")
    assert _reason(buf.getvalue()) == "IMAGE_FORMAT_UNSUPPORTED"
    assert _reason(images.jpeg(16, 16)) == "IMAGE_TOO_SMALL"


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (80, 40), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    decoded = decode_image(buf.getvalue())
    assert (decoded.height, decoded.width) == (80, 40)
