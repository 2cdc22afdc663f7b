"""Hostile and ordinary image bytes for tests (built in memory, no files)."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image


def jpeg(width: int = 64, height: int = 64, quality: int = 90) -> bytes:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png_bomb(side: int = 30000) -> bytes:
    """A valid PNG header declaring side x side pixels with a tiny compressed body:
    decoding it would allocate side*side*3 bytes (2.7 GB at 30000)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    # One row of zeros repeated, compressed: a few KB for the whole canvas.
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * (side * 3)
    body = b"".join(comp.compress(row) for _ in range(64)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def truncated_jpeg(data: bytes) -> bytes:
    return data[: len(data) // 2]


def noise(n_bytes: int) -> bytes:
    return os.urandom(n_bytes)
