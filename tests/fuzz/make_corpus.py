"""Writes the hostile-image corpus (tests/fuzz/corpus/) and its expected answers.

Run by hand after changing it: `python -m tests.fuzz.make_corpus`. The files are
committed, so the fuzz tests and bench/fuzz.py read the same bytes on every machine;
`expected.json` names the reason code each must get from the image gate ("OK" for the
few that must be accepted).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent / "corpus"
FACE = Path(__file__).resolve().parents[2] / "data" / "faces" / "barack_obama" / "facerec_obama.jpg"


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def _sof_offset(jpeg: bytes) -> int:
    i = 2
    while True:
        marker = jpeg[i + 1]
        (length,) = struct.unpack_from(">H", jpeg, i + 2)
        if marker in (0xC0, 0xC1, 0xC2):
            return i
        i += 2 + length


def _patch_sof(
    jpeg: bytes,
    *,
    width: int | None = None,
    height: int | None = None,
    bits: int | None = None,
    marker: int | None = None,
) -> bytes:
    b = bytearray(jpeg)
    i = _sof_offset(jpeg)
    if marker is not None:
        b[i + 1] = marker
    if bits is not None:
        b[i + 4] = bits
    if height is not None:
        struct.pack_into(">H", b, i + 5, height)
    if width is not None:
        struct.pack_into(">H", b, i + 7, width)
    return bytes(b)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, bits: int = 8, ctype: int = 2, rows: int = 64) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bits, ctype, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * (max(width, 1) * 3)
    body = b"".join(comp.compress(row) for _ in range(rows)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def build() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, expected reason or "OK")."""
    face = Image.open(FACE).convert("RGB")
    face = face.resize((320, round(320 * face.height / face.width)))
    small = _save(_noise(64, 64), "JPEG", quality=90)
    out: dict[str, tuple[bytes, str]] = {
        "ok_face.jpg": (_save(face, "JPEG", quality=90), "OK"),
        "ok_face.png": (_save(face, "PNG"), "OK"),
        "ok_face.webp": (_save(face, "WEBP"), "OK"),
        "ok_face_lossless.webp": (_save(face, "WEBP", lossless=True), "OK"),
        "ok_gray16.png": (_save(Image.fromarray(np.full((64, 64), 40000, dtype=np.uint16)), "PNG"), "OK"),
        "ok_progressive.jpg": (_save(face, "JPEG", progressive=True), "OK"),
        "jpeg_65500_sides.jpg": (_patch_sof(small, width=65500, height=65500), "IMAGE_TOO_LARGE_PIXELS"),
        "jpeg_zero_height.jpg": (_patch_sof(small, height=0), "IMAGE_DIMENSIONS_INVALID"),
        "jpeg_zero_width.jpg": (_patch_sof(small, width=0), "IMAGE_DIMENSIONS_INVALID"),
        "jpeg_header_lies.jpg": (_patch_sof(small, width=7000, height=3000), "IMAGE_TOO_LARGE_PIXELS"),
        "jpeg_strip_32x8192.jpg": (
            _save(Image.new("RGB", (32, 8192), (90, 90, 90)), "JPEG", quality=50),
            "IMAGE_ASPECT_RATIO_UNSUPPORTED",
        ),
        "jpeg_strip_8192x40.jpg": (
            _save(Image.new("RGB", (8192, 40), (90, 90, 90)), "JPEG", quality=50),
            "IMAGE_ASPECT_RATIO_UNSUPPORTED",
        ),
        "jpeg_cmyk.jpg": (_save(_noise(64, 64).convert("CMYK"), "JPEG"), "IMAGE_PIXEL_FORMAT_UNSUPPORTED"),
        "jpeg_12bit.jpg": (_patch_sof(small, bits=12), "IMAGE_PIXEL_FORMAT_UNSUPPORTED"),
        "jpeg_lossless.jpg": (_patch_sof(small, marker=0xC3), "IMAGE_PIXEL_FORMAT_UNSUPPORTED"),
        "jpeg_arithmetic.jpg": (_patch_sof(small, marker=0xC9), "IMAGE_PIXEL_FORMAT_UNSUPPORTED"),
        "jpeg_tiny_16.jpg": (_save(_noise(16, 16), "JPEG"), "IMAGE_TOO_SMALL"),
        "jpeg_truncated.jpg": (FACE.read_bytes()[:3000], "IMAGE_TRUNCATED"),
        "jpeg_header_only.jpg": (small[: _sof_offset(small) + 4], "IMAGE_TRUNCATED"),
        "png_bomb_8192x4880.png": (_png(8192, 4880), "IMAGE_TOO_LARGE_PIXELS"),
        "png_bomb_4000x3000.png": (_png(4000, 3000, rows=3000), "IMAGE_TOO_LARGE_PIXELS"),
        "png_bomb_30000.png": (_png(30000, 30000), "IMAGE_TOO_LARGE_PIXELS"),
        "png_zero_width.png": (_png(0, 64), "IMAGE_DIMENSIONS_INVALID"),
        "png_rgb_4bit.png": (_png(64, 64, bits=4, ctype=2), "IMAGE_PIXEL_FORMAT_UNSUPPORTED"),
        "png_colour_type_5.png": (_png(64, 64, ctype=5), "IMAGE_PIXEL_FORMAT_UNSUPPORTED"),
        "png_strip_40x4000.png": (
            _save(Image.new("RGB", (40, 4000), (90, 90, 90)), "PNG"),
            "IMAGE_ASPECT_RATIO_UNSUPPORTED",
        ),
        "png_animated.png": (
            _save(_noise(64, 64), "PNG", save_all=True, append_images=[_noise(64, 64, 1)]),
            "IMAGE_ANIMATED",
        ),
        "webp_animated.webp": (
            _save(_noise(64, 64), "WEBP", save_all=True, append_images=[_noise(64, 64, 1)]),
            "IMAGE_ANIMATED",
        ),
        "gif.gif": (_save(_noise(64, 64).convert("P"), "GIF"), "IMAGE_FORMAT_UNSUPPORTED"),
        "bmp.bmp": (_save(_noise(64, 64), "BMP"), "IMAGE_FORMAT_UNSUPPORTED"),
        "tiff.tif": (_save(_noise(64, 64), "TIFF"), "IMAGE_FORMAT_UNSUPPORTED"),
        "pdf.pdf": (b"%PDF-1.4\n" + b"0" * 100, "IMAGE_FORMAT_UNSUPPORTED"),
        "riff_not_webp.webp": (b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 20, "IMAGE_CORRUPT"),
        "webp_no_frame.webp": (b"RIFF\x10\x00\x00\x00WEBPJUNK" + b"\x00" * 20, "IMAGE_CORRUPT"),
    }
    # A lossy WebP whose VP8 header claims 16,000 px sides.
    webp = bytearray(_save(_noise(64, 64), "WEBP"))
    if webp[12:16] == b"VP8 ":
        struct.pack_into("<HH", webp, 26, 16000, 16000)
        out["webp_16000_sides.webp"] = (bytes(webp), "IMAGE_TOO_LARGE_PIXELS")
    return out


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, reason) in sorted(build().items()):
        (HERE / name).write_bytes(data)
        expected[name] = reason
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(json.dumps({"files": len(expected), "bytes": sum(len(d) for d, _ in build().values())}))


if __name__ == "__main__":
    main()
