"""Fuzzing the image gate: mutated corpus files and random bytes either decode to a
sane BGR array or are refused with a DomainError carrying an image reason code; no other
exception escapes (an escape is an INTERNAL on the wire). About 8 s."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services.core.errors import DomainError
from services.core.images import ImageLimits, decode_image
from tests.fuzz.requests import corpus_images

IMAGES = corpus_images()
SECONDS = 8.0


class _TimeUpError(Exception):
    pass


def _mutated(data: bytes, edits: list[tuple[int, int]], cut: int, splice: bytes) -> bytes:
    b = bytearray(data)
    for pos, value in edits:
        b[pos % len(b)] = value
    if cut:
        b = b[: max(1, len(b) - cut)]
    if splice:
        at = edits[0][0] % len(b) if edits else 0
        b[at:at] = splice
    return bytes(b)


def test_the_image_gate_refuses_or_decodes_and_never_raises_anything_else() -> None:
    ends = time.monotonic() + SECONDS
    outcomes: dict[str, int] = {}
    header_bytes = st.integers(0, 600)  # most claims live in the first few hundred bytes

    @settings(
        max_examples=1_000_000,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.one_of(
            st.builds(
                _mutated,
                st.sampled_from(IMAGES),
                st.lists(st.tuples(st.one_of(header_bytes, st.integers(0, 1 << 20)), st.integers(0, 255)), max_size=6),
                st.sampled_from([0, 0, 0, 1, 10, 500]),
                st.one_of(st.just(b""), st.binary(max_size=32)),
            ),
            st.binary(max_size=512).map(lambda b: b"\xff\xd8\xff" + b),
            st.binary(max_size=512).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
            st.binary(max_size=512).map(lambda b: b"RIFF\x00\x00\x00\x00WEBP" + b),
        )
    )
    def one(data: bytes) -> None:
        if time.monotonic() > ends:
            raise _TimeUpError
        try:
            img = decode_image(data, ImageLimits(), "probe.content")
        except DomainError as exc:
            assert exc.reason.value.startswith("IMAGE_"), exc.reason
            assert [v.field for v in exc.violations] == ["probe.content"]
            outcomes[exc.reason.value] = outcomes.get(exc.reason.value, 0) + 1
            return
        assert img.bgr.ndim == 3 and img.bgr.shape[2] == 3 and min(img.bgr.shape[:2]) >= 32
        outcomes["OK"] = outcomes.get("OK", 0) + 1

    with pytest.raises(_TimeUpError):
        one()
    print(f"image gate fuzz: {sum(outcomes.values())} inputs, {outcomes}")
    assert sum(outcomes.values()) >= 100 and outcomes.get("OK", 0) > 0
