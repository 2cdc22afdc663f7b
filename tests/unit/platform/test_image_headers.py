"""Every claim an image header makes is checked before a pixel is decoded: each file of
the hostile corpus (tests/fuzz/corpus, expected.json) gets its stable reason code, fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from services.core.errors import DomainError
from services.core.images import ImageLimits, decode_image, read_header, set_min_side_floor

CORPUS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gets_its_reason(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    expected = EXPECTED[name]
    started = time.perf_counter()
    if expected == "OK":
        img = decode_image(data, ImageLimits(), "probe.content")
        assert img.width >= 32 and img.bgr.flags["C_CONTIGUOUS"] and img.bgr.shape[2] == 3
        return
    with pytest.raises(DomainError) as err:
        decode_image(data, ImageLimits(), "probe.content")
    assert err.value.reason.value == expected, str(err.value)
    assert [v.field for v in err.value.violations] == ["probe.content"]
    if "bomb" in name or "65500" in name or "16000" in name:
        assert time.perf_counter() - started < 0.5  # refused from the header, nothing decoded


def test_the_jpeg_reader_reports_what_pillow_sees() -> None:
    claims = read_header((CORPUS / "ok_face.jpg").read_bytes(), "image/jpeg")
    assert (claims.width, claims.channels, claims.bits, claims.coding) == (320, 3, 8, "baseline")
    assert read_header((CORPUS / "ok_progressive.jpg").read_bytes(), "image/jpeg").coding == "progressive"
    webp = read_header((CORPUS / "ok_face_lossless.webp").read_bytes(), "image/webp")
    assert webp.width == 320


def test_a_call_can_raise_the_minimum_side() -> None:
    data = (CORPUS / "ok_face.jpg").read_bytes()
    import contextvars

    def strict() -> None:
        set_min_side_floor(400)
        with pytest.raises(DomainError) as err:
            decode_image(data)
        assert err.value.reason.value == "IMAGE_TOO_SMALL" and "400 px" in err.value.message

    contextvars.copy_context().run(strict)
    assert decode_image(data).width == 320  # only that context was affected
